package enforce

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"testing"

	"pinset.dev/pinset/internal/modsrc"
)

// insecureSkipVerifySites lists where src sets InsecureSkipVerify to
// anything but the constant false: a composite literal's key or an
// assignment to the field.
func insecureSkipVerifySites(fset *token.FileSet, f *ast.File) []string {
	var sites []string
	isFalse := func(e ast.Expr) bool {
		id, ok := e.(*ast.Ident)
		return ok && id.Name == "false"
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.KeyValueExpr:
			if k, ok := n.Key.(*ast.Ident); ok && k.Name == "InsecureSkipVerify" && !isFalse(n.Value) {
				sites = append(sites, fset.Position(n.Pos()).String())
			}
		case *ast.AssignStmt:
			for i, l := range n.Lhs {
				sel, ok := l.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "InsecureSkipVerify" {
					continue
				}
				if len(n.Rhs) != len(n.Lhs) || !isFalse(n.Rhs[i]) {
					sites = append(sites, fset.Position(n.Pos()).String())
				}
			}
		}
		return true
	})
	return sites
}

// No production file of the module sets InsecureSkipVerify: pins are only
// checked against verified chains (CheckBase refuses a base that skips
// verification), and nothing else in pinset has a reason to skip it.
// Tests may set it, to prove the refusal.
func TestNoInsecureSkipVerifyOutsideTests(t *testing.T) {
	root, files := modsrc.Files(t)
	fset := token.NewFileSet()
	for _, rel := range files {
		f, err := parser.ParseFile(fset, filepath.Join(root, rel), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range insecureSkipVerifySites(fset, f) {
			t.Errorf("%s sets InsecureSkipVerify outside a test", s)
		}
	}
}

// The detector itself finds every spelling it is meant to.
func TestInsecureSkipVerifyDetector(t *testing.T) {
	src := `package x
import "crypto/tls"
func f(c *tls.Config, yes bool) {
	_ = &tls.Config{InsecureSkipVerify: true}
	_ = &tls.Config{InsecureSkipVerify: yes}
	c.InsecureSkipVerify = true
	c.InsecureSkipVerify, yes = yes, true
	_ = &tls.Config{InsecureSkipVerify: false}
	c.InsecureSkipVerify = false
}`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := insecureSkipVerifySites(fset, f); len(got) != 4 {
		t.Fatalf("found %d sites, want 4: %v", len(got), got)
	}
}
