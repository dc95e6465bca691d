package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	ct "pinset.dev/pinset/client/clienttest"
	"pinset.dev/pinset/internal/pki"
)

func init() {
	scriptCmds["getworld"] = scriptGetWorld
}

// scriptTB adapts a test script to clienttest.TB.
type scriptTB struct{ ts *testscript.TestScript }

func (s scriptTB) Helper()           {}
func (s scriptTB) Fatal(args ...any) { s.ts.Fatalf("%s", fmt.Sprint(args...)) }
func (s scriptTB) Cleanup(f func())  { s.ts.Defer(f) }

// getWorld is the loopback world of the get scripts: a pin service
// simulator and an HTTPS backend with a CA of their own.
type getWorld struct {
	repo    *ct.Repo
	backend *ct.Backend
	leaves  map[string]*pki.Leaf
}

var getWorlds = map[*testscript.TestScript]*getWorld{}

// scriptGetWorld drives the world of `pinset get` scripts:
//
//	getworld start DIR      writes DIR/root.json, DIR/pins.json (v1: live and backup pins),
//	                        DIR/ca.pem; sets BACKEND (https://127.0.0.1:PORT), PINS_URL,
//	                        LIVE_PIN, BACKUP_PIN, EVIL_PIN
//	getworld leaf NAME      the backend serves the live, backup or evil certificate
//	getworld publish N A B  publishes manifest vN pinning leaves A and B
//	getworld mode MODE      the pin endpoint answers ok, 404, html, garbage or down
//	getworld reports N      waits for N failure reports at the pin service
func scriptGetWorld(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: getworld start|leaf|publish|mode|reports ...")
	}
	w := getWorlds[ts]
	if args[0] != "start" && w == nil {
		ts.Fatalf("getworld start first")
	}
	switch args[0] {
	case "start":
		dir := ts.MkAbs(args[1])
		os.MkdirAll(dir, 0o755)
		tb := scriptTB{ts}
		ca := pki.Must(pki.NewRoot(pki.Template{Rand: pki.NewDeterministicRand("get ca")}))
		inter := pki.Must(ca.NewIntermediate(pki.Template{Rand: pki.NewDeterministicRand("get inter")}))
		w = &getWorld{leaves: map[string]*pki.Leaf{}}
		for _, n := range []string{"live", "backup", "evil"} {
			w.leaves[n] = pki.Must(inter.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1", "api.get.test", "unpinned.get.test"}, Rand: pki.NewDeterministicRand("get " + n)}))
		}
		w.backend = ct.NewBackend(tb, w.leaves["live"])
		w.repo = ct.NewRepo(tb, "com.example.get", "get")
		m1 := w.repo.Publish(1, time.Now().UTC().Add(-time.Hour), 30*24*time.Hour, ct.Pol("127.0.0.1", w.leaves["live"].Pin(), w.leaves["backup"].Pin()),
			ct.Pol("api.get.test", w.leaves["live"].Pin(), w.leaves["backup"].Pin()))
		for name, b := range map[string][]byte{"root.json": w.repo.RootBytes(1), "pins.json": m1, "ca.pem": ca.CertPEM()} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				ts.Fatalf("%v", err)
			}
		}
		ts.Setenv("BACKEND", "https://127.0.0.1:"+strconv.Itoa(w.backend.Port))
		ts.Setenv("PORT", strconv.Itoa(w.backend.Port))
		ts.Setenv("PINS_URL", w.repo.URL())
		ts.Setenv("LIVE_PIN", w.leaves["live"].Pin().String())
		ts.Setenv("BACKUP_PIN", w.leaves["backup"].Pin().String())
		ts.Setenv("EVIL_PIN", w.leaves["evil"].Pin().String())
		getWorlds[ts] = w
		ts.Defer(func() { delete(getWorlds, ts) })
	case "leaf":
		l, ok := w.leaves[args[1]]
		if !ok {
			ts.Fatalf("no leaf %q", args[1])
		}
		w.backend.SetLeaf(l)
	case "publish":
		n, _ := strconv.ParseUint(args[1], 10, 64)
		w.repo.Publish(n, time.Now().UTC().Add(-time.Minute), 30*24*time.Hour, ct.Pol("127.0.0.1", w.leaves[args[2]].Pin(), w.leaves[args[3]].Pin()))
	case "mode":
		m := map[string]int32{"ok": ct.ModeOK, "404": ct.Mode404, "html": ct.ModeHTML, "garbage": ct.ModeGarbage, "down": ct.ModeDown}[args[1]]
		w.repo.Mode.Store(m)
	case "reports":
		n, _ := strconv.Atoi(args[1])
		for range n {
			select {
			case r := <-w.repo.Reports:
				ts.Logf("report at %s: %d bytes", r.Path, len(r.Body))
			case <-time.After(5 * time.Second):
				ts.Fatalf("no failure report reached the pin service")
			}
		}
	default:
		ts.Fatalf("unknown getworld command %q", args[0])
	}
}

// pinnedGet starts a backend on loopback serving a leaf of ca, pinned by
// a manifest (its live and a backup pin) that a root signs, and returns the
// arguments of 'pinset get' for it (--root, --manifest; --cafile is
// caFile). Names seed the deterministic keys.
func pinnedGet(t *testing.T, name string) (ca *pki.CA, backend *ct.Backend, args []string, caFile string) {
	ca = pki.Must(pki.NewRoot(pki.Template{Rand: pki.NewDeterministicRand("get " + name + " ca")}))
	live := pki.Must(ca.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("get " + name + " live")}))
	backup := pki.Must(ca.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("get " + name + " backup")}))
	backend = ct.NewBackend(t, live)
	repo := ct.NewRepo(t, "com.example."+name, name)
	m := repo.Sign(1, time.Now().UTC().Add(-time.Hour), 24*time.Hour, ct.Pol("127.0.0.1", live.Pin(), backup.Pin()))
	dir := t.TempDir()
	for name, b := range map[string][]byte{"root.json": repo.RootBytes(1), "pins.json": m, "ca.pem": ca.CertPEM()} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args = []string{"get", backend.URL("/"), "--root", filepath.Join(dir, "root.json"), "--manifest", filepath.Join(dir, "pins.json")}
	return ca, backend, args, filepath.Join(dir, "ca.pem")
}

// The exit status of pinset get: 0 on success, 3 on a pin failure, 1 on
// other errors.
func TestGetExitStatus(t *testing.T) {
	ca, backend, args, caFile := pinnedGet(t, "status")
	evil := pki.Must(ca.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("get status evil")}))
	args = append(args, "--cafile", caFile, "-o", filepath.Join(t.TempDir(), "body"))
	if code := run(args); code != 0 {
		t.Fatalf("pinned server: exit %d", code)
	}
	backend.SetLeaf(evil)
	if code := run(args); code != 3 {
		t.Fatalf("pin failure: exit %d, want 3", code)
	}
	if code := run(args[:len(args)-4]); code != 1 { // without --cafile: unknown authority
		t.Fatalf("unverified chain: exit %d, want 1", code)
	}
}

// brokenStdout is a standard output that takes nothing (a full disk, a
// closed pipe).
type brokenStdout struct{}

func (brokenStdout) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// A --json summary that cannot be written fails pinset get: exit 0 would
// say the summary is there.
func TestGetJSONNotWritten(t *testing.T) {
	_, _, args, caFile := pinnedGet(t, "json")
	args = append(args, "--cafile", caFile, "--json")
	var out, errb bytes.Buffer
	if code := runWith(args, strings.NewReader(""), &out, &errb); code != 0 || !strings.Contains(out.String(), `"manifest_version": 1`) {
		t.Fatalf("pinned server: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	errb.Reset()
	if code := runWith(args, strings.NewReader(""), brokenStdout{}, &errb); code != 1 || !strings.Contains(errb.String(), "no space left on device") {
		t.Fatalf("summary not written: exit %d, stderr %q; want exit 1 naming the write error", code, errb.String())
	}
}
