package export

import (
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// goConstants type-checks a generated Go file and returns the values of its
// root and manifest constants, as the compiler sees them.
func goConstants(t *testing.T, src []byte) (root, manifest string) {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "pins.go", src, parser.ParseComments)
	if err != nil {
		t.Fatalf("generated Go does not parse: %v", err)
	}
	if !ast.IsGenerated(f) {
		t.Error("generated Go lacks the 'Code generated ... DO NOT EDIT.' line")
	}
	info := &types.Info{Defs: map[*ast.Ident]types.Object{}}
	conf := types.Config{Importer: importer.Default()}
	pkg, err := conf.Check(f.Name.Name, fset, []*ast.File{f}, info)
	if err != nil {
		t.Fatalf("generated Go does not type-check: %v", err)
	}
	get := func(name string) string {
		c, ok := pkg.Scope().Lookup(name).(*types.Const)
		if !ok {
			t.Fatalf("no constant %s", name)
		}
		return constant.StringVal(c.Val())
	}
	return get("root"), get("manifest")
}

// goModule writes a module in a temporary directory that requires this
// repository through a replace directive (with this repository's
// requirements and sums, so nothing is downloaded), with the generated file
// as package NAME and the given main program.
func goModule(t *testing.T, pkgName string, generated []byte, mainSrc string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a module with the go command")
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		t.Skipf("no go command at %s", goBin)
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(repo, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	gosum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mod := strings.Replace(string(gomod), "module pinset.dev/pinset", "module example.test/app", 1)
	mod += "\nrequire pinset.dev/pinset v0.0.0\n\nreplace pinset.dev/pinset => " + repo + "\n"
	write := func(name string, data []byte) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", []byte(mod))
	write("go.sum", gosum)
	write(filepath.Join(pkgName, pkgName+".go"), generated)
	write("main.go", []byte(mainSrc))
	return dir
}

// runGo runs the go command in dir, offline.
func runGo(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestGoCompiles builds and vets the generated file in a module of its own
// and runs a program that checks the embedded bytes.
func TestGoCompiles(t *testing.T) {
	in := fullInput(t)
	res, err := Export("go", in)
	if err != nil {
		t.Fatal(err)
	}
	main := `package main

import (
	"bytes"
	"fmt"
	"os"

	"example.test/app/bundled"
)

func main() {
	want, _ := os.ReadFile(os.Args[1])
	if !bytes.Equal(bundled.Root(), want) {
		fmt.Println("root differs")
		os.Exit(1)
	}
	r := bundled.Root()
	r[0] ^= 1 // callers get their own copy
	if !bytes.Equal(bundled.Root(), want) {
		fmt.Println("Root shares its bytes")
		os.Exit(1)
	}
	fmt.Println("ok", len(bundled.Manifest()))
}
`
	dir := goModule(t, "bundled", res.Data, main)
	if err := os.WriteFile(filepath.Join(dir, "root.bin"), in.Root, 0o644); err != nil {
		t.Fatal(err)
	}
	runGo(t, dir, "build", "./...")
	runGo(t, dir, "vet", "./...")
	out := runGo(t, dir, "run", ".", "root.bin")
	if want := "ok 520\n"; out != want {
		t.Errorf("program printed %q, want %q", out, want)
	}
}
