package cputime

import (
	"runtime"
	"testing"
	"time"
)

// TestCPUTime: a thread spinning for 20 ms of wall time gains CPU time,
// and one sleeping for 20 ms gains almost none.
func TestCPUTime(t *testing.T) {
	if !Supported() {
		t.Skip("no CPU clocks on " + runtime.GOOS)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := Thread()
	time.Sleep(20 * time.Millisecond)
	slept := Thread() - t0
	t0, p0 := Thread(), Process()
	for end := time.Now().Add(20 * time.Millisecond); time.Now().Before(end); {
	}
	spun, pspun := Thread()-t0, Process()-p0
	if spun <= slept || spun <= 0 || pspun < spun {
		t.Fatalf("spinning %v (process %v), sleeping %v of thread CPU time", spun, pspun, slept)
	}
}
