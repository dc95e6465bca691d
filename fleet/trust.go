package fleet

import (
	"fmt"
	"time"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/trust"
	"pinset.dev/pinset/trust/trusttest"
)

// Host is the simulated API host whose key rotates.
const Host = "api.example.com"

// The keys of the rotation, as bits of a pin set.
const (
	keyLive      = iota // A: served at the start
	keyBackup           // X: the backup pin of the starting manifest
	keyNext             // B: the key the plan moves to
	keyFollowing        // C: announced when the old key retires
	numKeys
)

var keyNames = [numKeys]string{"live", "backup", "next", "following"}

func keyPin(k int) pin.Pin { return trusttest.Pin("fleet-key-" + keyNames[k]) }

// trustTable holds the real signed manifests of a simulation and the
// decisions trust.State makes about them. A State's decision about a
// manifest depends only on the documents it holds and the one offered
// (and on time, through expiry and issue time: every manifest here is
// valid for the whole simulation and issued when published), so each
// pair is decided once, by trust itself, and remembered: signature checks
// for a million installs would otherwise dominate the run.
type trustTable struct {
	repo *trusttest.Repo
	envs [][]byte // envs[v-1] is manifest version v
	pins []uint8  // pin set (bits of keys) of Host in each version
	// accept[held][offered]: 1 accepted, 2 refused (0: not decided yet).
	accept [][]uint8
	// keep[bundled][cached]: the version an install enforces after an app
	// update bundling `bundled` with `cached` in its cache.
	keep [][]uint8
}

func newTrustTable(seed uint64, start time.Time, lifetime time.Duration) *trustTable {
	r := trusttest.New("dev.pinset.fleet", seed)
	r.Now = start
	r.ManifestLifetime = lifetime
	t := &trustTable{repo: r, accept: [][]uint8{{0}}, keep: [][]uint8{{0}}}
	t.repo.Manifests = nil
	t.repo.ManifestVersion = 0
	t.publish(start, 1<<keyLive|1<<keyBackup)
	return t
}

// publish signs the next manifest version pinning keys for Host.
func (t *trustTable) publish(at time.Time, keys uint8) int {
	var pins []pin.Pin
	for k := range numKeys {
		if keys&(1<<k) != 0 {
			pins = append(pins, keyPin(k))
		}
	}
	t.repo.Now = at
	t.repo.Hosts = []policy.Policy{{Pattern: Host, Pins: pins}}
	t.envs = append(t.envs, t.repo.PublishManifest(nil))
	v := len(t.envs)
	// The pin set as trust decodes it, not as it was meant.
	st, err := trust.NewState(t.repo.Root(), t.envs[v-1])
	if err != nil {
		panic(fmt.Sprintf("fleet: manifest v%d does not verify: %v", v, err))
	}
	var bits uint8
	if p, ok := st.Policies().Match(Host); ok {
		for k := range numKeys {
			for _, q := range p.Pins {
				if q == keyPin(k) {
					bits |= 1 << k
				}
			}
		}
	}
	t.pins = append(t.pins, bits)
	for i := range t.accept {
		t.accept[i] = append(t.accept[i], 0)
		t.keep[i] = append(t.keep[i], 0)
	}
	t.accept = append(t.accept, make([]uint8, v+1))
	t.keep = append(t.keep, make([]uint8, v+1))
	return v
}

// accepts reports whether an install enforcing version held accepts
// version offered fetched at now (trust.State.UpdateManifest).
func (t *trustTable) accepts(held, offered int, now time.Time) bool {
	if held == offered {
		return false // the same bytes: nothing changes
	}
	a := &t.accept[held][offered]
	if *a == 0 {
		*a = 2
		st, err := trust.NewState(t.repo.Root(), t.envs[held-1])
		if err == nil {
			if _, err := st.UpdateManifest(t.envs[offered-1], now); err == nil {
				*a = 1
			}
		}
	}
	return *a == 1
}

// afterUpdate returns the version an install enforces when an app
// bundling version bundled starts with version cached in its cache: the
// cache replayed on top of the bundled state (trust.State.Restore), kept
// if it verifies and is newer, else the bundled one.
func (t *trustTable) afterUpdate(bundled, cached int) int {
	if bundled == cached {
		return bundled
	}
	k := &t.keep[bundled][cached]
	if *k == 0 {
		*k = uint8(bundled)
		st, err := trust.NewState(t.repo.Root(), t.envs[bundled-1])
		if err == nil {
			if next, err := st.Restore(nil, t.envs[cached-1]); err == nil && next != st {
				*k = uint8(cached)
			}
		}
	}
	return int(*k)
}
