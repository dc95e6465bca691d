package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"pinset.dev/pinset/internal/testtool"
)

func TestSummarize(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"start","Package":"p"}`,
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"pass","Package":"p","Test":"TestA"}`,
		`{"Action":"run","Package":"p","Test":"TestB"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:9: broken\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestB"}`,
		`{"Action":"run","Package":"p","Test":"TestC/sub"}`,
		`{"Action":"output","Package":"p","Test":"TestC/sub","Output":"    c_test.go:3: no IPv6 here\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestC/sub"}`,
		`{"Action":"pass","Package":"p","Test":"TestC"}`,
		`{"Action":"output","Package":"p","Output":"PASS\n"}`,
		`{"Action":"output","Package":"p","Output":"FAIL\tp\t0.1s\n"}`,
		`{"Action":"fail","Package":"p"}`,
		`not json: a build error`,
	}, "\n")
	var out bytes.Buffer
	c, err := summarize(strings.NewReader(in), &out)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.String(); got != "2 passed, 1 failed, 1 skipped" {
		t.Errorf("counts %q", got)
	}
	for _, want := range []string{"b_test.go:9: broken", "no IPv6 here", "FAIL\tp\t0.1s", "not json: a build error"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, not := range []string{"=== RUN", "PASS\n"} {
		if strings.Contains(out.String(), not) {
			t.Errorf("output holds %q:\n%s", not, out.String())
		}
	}
}

// TestRealRun pipes a real `go test -json` of a tiny module through it.
func TestRealRun(t *testing.T) {
	goBin := testtool.Need(t, "go", "put the go command on PATH")
	dir := t.TempDir()
	write := func(name, s string) {
		if err := exec.Command("sh", "-c", "cat > "+filepath.Join(dir, name)+" <<'EOF'\n"+s+"\nEOF").Run(); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/m\n\ngo 1.21")
	write("m_test.go", `package m
import "testing"
func TestOK(t *testing.T) {}
func TestBad(t *testing.T) { t.Error("boom") }
func TestSkip(t *testing.T) { t.Skip("not here") }`)
	cmd := exec.Command(goBin, "test", "-json", "-count=1", ".")
	cmd.Dir = dir
	raw, _ := cmd.Output() // fails: TestBad
	var out bytes.Buffer
	c, err := summarize(bytes.NewReader(raw), &out)
	if err != nil {
		t.Fatal(err)
	}
	if c.String() != "1 passed, 1 failed, 1 skipped" || !strings.Contains(out.String(), "boom") || !strings.Contains(out.String(), "not here") {
		t.Errorf("%v\n%s", c, out.String())
	}
}
