package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	ct "pinset.dev/pinset/client/clienttest"
	"pinset.dev/pinset/internal/pki"
)

// cachedStates returns two valid cache files of w's app: manifest v2 and
// manifest v3 (with a root rotation in between), as DirStore would hold
// them.
func cachedStates(t *testing.T, w *world) (v2, v3 []byte) {
	t.Helper()
	store := &MemStore{}
	c := w.newClient(store)
	w.repo.Publish(2, ct.T0, 30*24*time.Hour, ct.Pol("127.0.0.1", w.live.Pin(), w.backup.Pin()))
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	v2, _ = store.Load(cacheKey)
	w.repo.RotateRoot(false)
	w.repo.Publish(3, ct.T0, 30*24*time.Hour, ct.Pol("127.0.0.1", w.backup.Pin(), w.live.Pin()))
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	v3, _ = store.Load(cacheKey)
	if len(v2) == 0 || len(v3) == 0 || bytes.Equal(v2, v3) {
		t.Fatal("no cache written")
	}
	return v2, v3
}

func TestDirStoreRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	s := NewDirStore(dir)
	if _, err := s.Load(cacheKey); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("empty store: %v", err)
	}
	for _, v := range []string{"one", "two, longer", "3"} {
		if err := s.Save(cacheKey, []byte(v)); err != nil {
			t.Fatal(err)
		}
		got, err := s.Load(cacheKey)
		if err != nil || string(got) != v {
			t.Fatalf("Load = %q, %v; want %q", got, err, v)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, cacheKey))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("leftover files: %v", entries)
	}
	for _, bad := range []string{"", "../x", "a/b", ".tmp-x", ".."} {
		if err := s.Save(bad, nil); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
}

// A cache truncated or with a flipped bit between runs is detected (it is
// re-verified on load), reported, and the bundled state is used. No flip
// can produce a state other than a valid one, and nothing panics.
func TestCorruptCacheFallsBackToBundled(t *testing.T) {
	w := newWorld(t)
	v2, _ := cachedStates(t, w)
	dir := t.TempDir()
	store := NewDirStore(dir)
	path := filepath.Join(dir, cacheKey)

	load := func(t *testing.T, content []byte) (State, []Event) {
		t.Helper()
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		w.mu.Lock()
		w.events = nil
		w.mu.Unlock()
		c := w.newClient(store)
		c.Close()
		return c.State(), w.eventsOf(EventRejected)
	}

	st, rej := load(t, v2)
	if st.ManifestVersion != 2 || st.Source != "cache" || len(rej) != 0 {
		t.Fatalf("valid cache: state %+v, rejected %v", st, rej)
	}

	// Cut inside the documents: nothing verifies, the bundled state is
	// used and the cache is rejected. Cut after them (in manifest_after,
	// which without roots is not needed, or in the ETag, written last):
	// the documents are salvaged, verified and kept, and the loss is an
	// EventDiscarded.
	docsEnd := bytes.Index(v2, []byte(`,"manifest_after"`))
	for _, n := range []int{0, 1, len(v2) / 3, len(v2) / 2, docsEnd - 1, docsEnd, docsEnd + 5, len(v2) - 2, len(v2) - 1} {
		t.Run(fmt.Sprintf("truncated-%d", n), func(t *testing.T) {
			st, rej := load(t, v2[:n])
			disc := w.eventsOf(EventDiscarded)
			if n < docsEnd {
				if st.ManifestVersion != 1 || st.Source != "bundled" || len(rej) != 1 || rej[0].Source != "cache" {
					t.Fatalf("state %+v, rejected events %v", st, rej)
				}
				return
			}
			if st.ManifestVersion != 2 || st.Source != "cache" || len(rej) != 0 || len(disc) != 1 || disc[0].Source != "cache" {
				t.Fatalf("state %+v, rejected %v, discarded %v", st, rej, disc)
			}
		})
	}

	// Flip one bit at many positions. Flips inside the documents must be
	// detected; a flip elsewhere (the ETag, JSON whitespace) may leave a
	// valid v2. Either way the client ends with a verified state.
	mStart := bytes.Index(v2, []byte(`"manifest":"`)) + len(`"manifest":"`)
	mEnd := mStart + bytes.IndexByte(v2[mStart:], '"')
	detected := 0
	for pos := 0; pos < len(v2); pos += 7 {
		flipped := bytes.Clone(v2)
		flipped[pos] ^= 0x04
		st, rej := load(t, flipped)
		switch {
		case st.ManifestVersion == 1 && st.Source == "bundled" && len(rej) == 1:
			detected++
		case st.ManifestVersion == 2 && st.Source == "cache" && len(rej) == 0:
			if pos >= mStart && pos < mEnd-2 { // the last base64 characters may carry padding bits
				t.Errorf("flip at %d inside the manifest was not detected", pos)
			}
		default:
			t.Fatalf("flip at %d: state %+v, rejected %v", pos, st, rej)
		}
	}
	if detected == 0 {
		t.Fatal("no flip detected")
	}
	t.Logf("%d of %d flips detected", detected, (len(v2)+6)/7)

	// A cache signed by other keys (another repository for the same app
	// id) is refused as well.
	other := ct.NewRepo(t, "com.example.app", "impostor")
	other.Publish(5, ct.T0, time.Hour, ct.Pol("127.0.0.1", w.live.Pin(), w.backup.Pin()))
	b, _ := encodeCache(nil, other.Manifests[5], 0, "", time.Time{}, nil, nil)
	st, rej = load(t, b)
	if st.ManifestVersion != 1 || len(rej) != 1 {
		t.Fatalf("foreign manifest in cache: state %+v, rejected %v", st, rej)
	}
}

// A cache older than the bundled manifest (an app update shipped newer
// pins) is not used: the newer of the two wins.
func TestNewerBundledBeatsOlderCache(t *testing.T) {
	w := newWorld(t)
	v2, _ := cachedStates(t, w)
	store := &MemStore{}
	store.Save(cacheKey, v2)
	cfg := w.config(store)
	cfg.BundledRoot = w.repo.RootBytes(2)
	cfg.BundledManifest = w.repo.Manifests[3]
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if st := c.State(); st.ManifestVersion != 3 || st.RootVersion != 2 {
		t.Fatalf("state %+v", st)
	}
}

// The helper process for TestKilledDuringCacheWrite. It writes cache files
// in a loop, or once with a pause between fsync and rename, and is killed
// by the parent with SIGKILL.
func TestHelperCacheWriter(t *testing.T) {
	dir := os.Getenv("PINSET_TEST_CACHE_DIR")
	if dir == "" {
		t.Skip("helper process for TestKilledDuringCacheWrite")
	}
	a, err := os.ReadFile(os.Getenv("PINSET_TEST_CACHE_A"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(os.Getenv("PINSET_TEST_CACHE_B"))
	if err != nil {
		t.Fatal(err)
	}
	s := NewDirStore(dir)
	if os.Getenv("PINSET_TEST_CACHE_MODE") == "pause" {
		s.beforeRename = func(tmp string) {
			fmt.Println("paused", tmp)
			os.Stdout.Sync()
			time.Sleep(time.Hour)
		}
		s.Save(cacheKey, b)
		return
	}
	fmt.Println("looping")
	for i := 0; ; i++ {
		v := a
		if i%2 == 1 {
			v = b
		}
		if err := s.Save(cacheKey, v); err != nil {
			t.Fatal(err)
		}
	}
}

// A process killed in the middle of a cache write leaves a valid cache:
// the previous file, or the new one, never a mixture.
func TestKilledDuringCacheWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts helper processes")
	}
	w := newWorld(t)
	v2, v3 := cachedStates(t, w)
	files := t.TempDir()
	fa, fb := filepath.Join(files, "a"), filepath.Join(files, "b")
	os.WriteFile(fa, v2, 0o600)
	os.WriteFile(fb, v3, 0o600)

	run := func(t *testing.T, dir, mode string, killAfter time.Duration) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCacheWriter$", "-test.v")
		cmd.Env = append(os.Environ(), "PINSET_TEST_CACHE_DIR="+dir, "PINSET_TEST_CACHE_A="+fa, "PINSET_TEST_CACHE_B="+fb, "PINSET_TEST_CACHE_MODE="+mode)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		want := "looping"
		if mode == "pause" {
			want = "paused"
		}
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), want) {
				break
			}
		}
		time.Sleep(killAfter)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("helper was not killed by SIGKILL: %v", err)
		}
	}

	check := func(t *testing.T, dir string, want ...int64) {
		t.Helper()
		w.mu.Lock()
		w.events = nil
		w.mu.Unlock()
		c := w.newClient(NewDirStore(dir))
		c.Close()
		st := c.State()
		if len(w.eventsOf(EventRejected)) != 0 {
			t.Fatalf("cache rejected after the kill: %v", w.eventsOf(EventRejected))
		}
		for _, v := range want {
			if st.ManifestVersion == v {
				return
			}
		}
		t.Fatalf("manifest v%d after the kill, want one of %v", st.ManifestVersion, want)
	}

	t.Run("between-fsync-and-rename", func(t *testing.T) {
		dir := t.TempDir()
		if err := NewDirStore(dir).Save(cacheKey, v2); err != nil {
			t.Fatal(err)
		}
		run(t, dir, "pause", 0)
		// The new file was written and synced but not renamed: the old
		// one is in force.
		check(t, dir, 2)
		// And the next write cleans the leftover temporary file.
		if err := NewDirStore(dir).Save(cacheKey, v3); err != nil {
			t.Fatal(err)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Errorf("leftover files after the next write: %d", len(entries))
		}
		check(t, dir, 3)
	})
	for i, d := range []time.Duration{0, time.Millisecond, 3 * time.Millisecond, 7 * time.Millisecond, 20 * time.Millisecond} {
		t.Run(fmt.Sprintf("loop-%d", i), func(t *testing.T) {
			dir := t.TempDir()
			if err := NewDirStore(dir).Save(cacheKey, v2); err != nil {
				t.Fatal(err)
			}
			run(t, dir, "loop", d)
			check(t, dir, 2, 3)
		})
	}
}

func FuzzDecodeCache(f *testing.F) {
	f.Add([]byte(`{"format":"pinset-client-cache-v1","roots":[],"manifest":"","manifest_after":0,"etag":""}`))
	f.Add([]byte(`{"format":"pinset-client-cache-v1","roots":["AAAA"],"manifest":"e30=","manifest_after":1,"etag":"\"x\""}`))
	f.Add([]byte(`{"format":"pinset-client-cache-v1","roots":[],"manifest":"e30=","manifest_after":3}`))
	f.Add([]byte(`{"format":"x"} trailing`))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Salvage never panics, and what it returns is consistent.
		if sc, err := salvageCache(b); err == nil {
			if sc.after < 0 || sc.after > len(sc.roots) || sc.etag != "" {
				t.Fatalf("salvaged manifest_after %d with %d roots, etag %q", sc.after, len(sc.roots), sc.etag)
			}
		}
		cc, err := decodeCache(b)
		if err != nil {
			return
		}
		roots, m, after, etag := cc.roots, cc.manifest, cc.after, cc.etag
		if after < 0 || after > len(roots) {
			t.Fatalf("manifest_after %d with %d roots accepted", after, len(roots))
		}
		// what decodes re-encodes to something that decodes the same
		b2, err := encodeCache(roots, m, after, etag, cc.refreshed, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := decodeCache(b2)
		if err != nil || len(c2.roots) != len(roots) || !bytes.Equal(c2.manifest, m) || c2.after != after || c2.etag != etag || !c2.refreshed.Equal(cc.refreshed) {
			t.Fatalf("round trip differs: %v", err)
		}
		// A strictly valid cache salvages to the same documents.
		if len(roots) > 0 || len(m) > 0 {
			sc, err := salvageCache(b2)
			if err != nil || len(sc.roots) != len(roots) || !bytes.Equal(sc.manifest, m) || sc.after != after {
				t.Fatalf("salvage of a valid cache differs: %v", err)
			}
		}
	})
}

var _ = pki.Must[int]
