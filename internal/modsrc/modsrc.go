// Package modsrc lists the module's production Go files for tests that
// check a rule across the whole tree (no InsecureSkipVerify, one atomic
// file writer): every .go file that is not a test, outside testdata,
// vendor and hidden folders.
package modsrc

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Root returns the module's root: the nearest folder above the test's
// working directory that holds go.mod.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the package directory")
		}
		dir = parent
	}
}

// Files returns the module's production Go files, relative to Root with
// forward slashes. It fails the test when it finds suspiciously few, so a
// broken walk cannot pass a check vacuously.
func Files(t testing.TB) (root string, files []string) {
	t.Helper()
	root = Root(t)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			rel, _ := filepath.Rel(root, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 50 {
		t.Fatalf("found only %d Go files under %s: the walk is broken", len(files), root)
	}
	return root, files
}
