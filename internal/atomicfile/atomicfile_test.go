package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// reset undoes Interrupt between tests.
func reset(t *testing.T) {
	t.Cleanup(func() {
		pending.Lock()
		pending.interrupted = false
		clear(pending.files)
		pending.Unlock()
	})
}

// entries lists a directory's names.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestCommitReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "out.json")
	if err := os.WriteFile(name, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Create(name, Options{Perm: 0o644})
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("new "))
	if b, _ := os.ReadFile(name); string(b) != "old" {
		t.Fatalf("destination changed before Commit: %q", b)
	}
	f.Write([]byte("contents"))
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // no-op after Commit
	b, _ := os.ReadFile(name)
	fi, _ := os.Stat(name)
	if string(b) != "new contents" || fi.Mode().Perm() != 0o644 {
		t.Fatalf("got %q mode %v", b, fi.Mode().Perm())
	}
	if got := entries(t, dir); len(got) != 1 {
		t.Fatalf("left behind: %v", got)
	}
}

func TestKeepModeAndExactPerm(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "doc.json")
	os.WriteFile(name, []byte("x"), 0o640)
	os.Chmod(name, 0o640)
	if err := WriteFile(name, []byte("y"), Options{KeepMode: true}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(name); fi.Mode().Perm() != 0o640 {
		t.Fatalf("KeepMode: mode %v", fi.Mode().Perm())
	}
	key := filepath.Join(dir, "k.key")
	if err := WriteFile(key, []byte("secret"), Options{Perm: 0o600}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(key); fi.Mode().Perm() != 0o600 {
		t.Fatalf("private file mode %v", fi.Mode().Perm())
	}
}

func TestNoReplace(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "root.json")
	os.WriteFile(name, []byte("signed"), 0o644)
	if err := CheckNew(name); !errors.Is(err, fs.ErrExist) || err.Error() != name+": already exists: file already exists" {
		t.Fatalf("CheckNew: %v", err)
	}
	err := WriteFile(name, []byte("unsigned"), Options{NoReplace: true})
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("NoReplace over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(name); string(b) != "signed" {
		t.Fatalf("replaced: %q", b)
	}
	if got := entries(t, dir); len(got) != 1 {
		t.Fatalf("left behind: %v", got)
	}
	if err := WriteFile(filepath.Join(dir, "new.json"), []byte("n"), Options{NoReplace: true}); err != nil {
		t.Fatal(err)
	}
}

func TestErrorsNameTheDestination(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "nodir", "r.json")
	err := WriteFile(name, []byte("x"), Options{})
	if err == nil || err.Error() != name+": no such file or directory" || strings.Contains(err.Error(), ".tmp") {
		t.Fatalf("error %v", err)
	}
	// A directory in the way of the rename.
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	os.WriteFile(filepath.Join(dir, "d", "f"), nil, 0o644)
	err = WriteFile(filepath.Join(dir, "d"), []byte("x"), Options{})
	if err == nil || strings.Contains(err.Error(), ".tmp") || !strings.HasPrefix(err.Error(), filepath.Join(dir, "d")+": ") {
		t.Fatalf("rename error %v", err)
	}
	if got := entries(t, dir); len(got) != 1 {
		t.Fatalf("left behind: %v", got)
	}
}

func TestInterruptRemovesTemporaryFiles(t *testing.T) {
	reset(t)
	dir := t.TempDir()
	name := filepath.Join(dir, "body")
	f, err := Create(name, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte(strings.Repeat("x", 1<<16)))
	Interrupt()
	if got := entries(t, dir); len(got) != 0 {
		t.Fatalf("after Interrupt: %v", got)
	}
	if _, err := f.Write([]byte("more")); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("Write after Interrupt: %v", err)
	}
	if err := f.Commit(); !errors.Is(err, ErrInterrupted) || err.Error() != name+": interrupted" {
		t.Fatalf("Commit after Interrupt: %v", err)
	}
	if _, err := Create(name, Options{}); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("Create after Interrupt: %v", err)
	}
	if got := entries(t, dir); len(got) != 0 {
		t.Fatalf("after Commit: %v", got)
	}
}

// TestDeviceWrittenInPlace: an output of /dev/null is written to, never
// replaced (a rename over it as root would turn the device into a file
// for every process on the machine), and nothing is left beside it.
func TestDeviceWrittenInPlace(t *testing.T) {
	before, err := os.Stat(os.DevNull)
	if err != nil || before.Mode()&os.ModeCharDevice == 0 {
		t.Skipf("%s is not a character device here (%v)", os.DevNull, err)
	}
	f, err := Create(os.DevNull, Options{Perm: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("discarded\n")); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(os.DevNull)
	if err != nil || after.Mode() != before.Mode() || !os.SameFile(before, after) {
		t.Fatalf("%s changed: %v -> %v (%v)", os.DevNull, before.Mode(), after.Mode(), err)
	}
	if err := WriteFile(os.DevNull, []byte("x"), Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(os.DevNull, Options{NoReplace: true}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("NoReplace over a device: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(os.DevNull), ".null.tmp*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// TestModTime: the new file has the modification time asked for when it
// replaces the destination.
func TestModTime(t *testing.T) {
	name := filepath.Join(t.TempDir(), "doc.json")
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := WriteFile(name, []byte("{}"), Options{ModTime: at}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(name)
	if err != nil || !fi.ModTime().Equal(at) {
		t.Fatalf("mtime %v (%v), want %v", fi.ModTime(), err, at)
	}
}
