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

// longFuncs are the functions still over maxFuncLines, each with what is
// left to move out of it. The list only shrinks: TestFunctionLength fails
// for a function over the limit that is not here, and for one listed here
// that is no longer over it (take it off the list).
var longFuncs = map[string]string{
	"manifest.go newManifestNewCmd": "builds the manifest from --host specs; move the assembly into trust/policy",
}

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
		if longFuncs[fn] == "" {
			t.Errorf("%s has %d lines (at most %d): move what is not flag wiring into its package", fn, n, maxFuncLines)
		}
	}
	for fn := range longFuncs {
		if _, ok := over[fn]; !ok {
			t.Errorf("%s is no longer over %d lines: take it off longFuncs", fn, maxFuncLines)
		}
	}
	t.Logf("%d functions over %d lines remain on the allow-list", len(longFuncs), maxFuncLines)
}
