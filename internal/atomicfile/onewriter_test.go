package atomicfile

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"pinset.dev/pinset/internal/modsrc"
)

// renameAllowed lists the production files besides this package that may
// replace a file by renaming one over it, each with its reason.
var renameAllowed = map[string]string{
	// The SDK's cache (client.DirStore) runs inside apps, not the CLI:
	// atomicfile's process-wide Interrupt is a CLI concept there; its
	// temporary names carry the cache key, so a Save removes what a killed
	// writer left for that key; a failed directory sync is an error it
	// returns; and its crash test stops a process between fsync and rename.
	"client/cache.go": "the SDK cache's own writer (see above)",
}

// One writer replaces files atomically: any other os.Rename in production
// code is a second writer (one fix would land only once).
func TestOneAtomicWriter(t *testing.T) {
	root, files := modsrc.Files(t)
	fset := token.NewFileSet()
	for _, rel := range files {
		if strings.HasPrefix(rel, "internal/atomicfile/") || renameAllowed[rel] != "" {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(root, rel), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "Rename" {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "os" {
					t.Errorf("%s: os.Rename outside internal/atomicfile: write through atomicfile.Create or WriteFile", fset.Position(sel.Pos()))
				}
			}
			return true
		})
	}
}
