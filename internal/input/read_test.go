package input

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadFile: a file of at most max bytes is read whole; a larger one is
// refused naming the limit (never cut short); a missing one is an error a
// caller can tell (fs.ErrNotExist: audit starts afresh, keyring says how
// to make a ring); a directory is refused; "-" is a file's name, not
// standard input.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	if err := os.WriteFile(name, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(name, 5); err != nil || string(b) != "12345" {
		t.Errorf("at the limit: %q %v", b, err)
	}
	if b, err := ReadFile(name, 4); err == nil || !strings.Contains(err.Error(), "larger than 4 bytes") {
		t.Errorf("over the limit: %q %v", b, err)
	}
	_, err := ReadFile(filepath.Join(dir, "missing"), 5)
	if !errors.Is(err, fs.ErrNotExist) || strings.HasPrefix(err.Error(), "open ") {
		t.Errorf("missing: %v, want fs.ErrNotExist named without Go's open prefix", err)
	}
	if _, err := ReadFile(dir, 5); !errors.Is(err, ErrDirectory) {
		t.Errorf("directory: %v", err)
	}
	t.Chdir(dir)
	if _, err := ReadFile("-", 5); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf(`"-": %v, want the file named "-" (missing)`, err)
	}
}
