//go:build race

package fleet

// raceEnabled: the race detector is on (it slows the real clients of the
// agreement test several times).
const raceEnabled = true
