package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// maxFuncLines is the most lines a function of cmd/pinset may have: the
// command only wires flags to packages (docs/architecture.md).
const maxFuncLines = 60

func TestFunctionLength(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	over := map[string]int{}
	files := 0
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files++
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			if n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1; n > maxFuncLines {
				over[name+" "+fd.Name.Name] = n
			}
		}
	}
	if files < 20 {
		t.Fatalf("read only %d files of cmd/pinset", files)
	}
	for fn, n := range over {
		t.Errorf("%s has %d lines (at most %d): move what is not flag wiring into its package", fn, n, maxFuncLines)
	}
}
