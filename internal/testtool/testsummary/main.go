// Command testsummary reads `go test -json` on standard input, prints a
// readable log (each package's result line, the output of every failed
// test, the reason of every skipped one, build errors) and ends with one
// line:
//
//	N passed, N failed, N skipped
//
// counting tests and subtests. .ci/run pipes the test run through it; the
// exit status stays go test's own (testsummary exits 0 unless its input
// cannot be read), so read it from PIPESTATUS.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string
}

// counts is the summary of a run.
type counts struct{ passed, failed, skipped int }

func (c counts) String() string {
	return fmt.Sprintf("%d passed, %d failed, %d skipped", c.passed, c.failed, c.skipped)
}

func main() {
	c, err := summarize(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	fmt.Println(c)
}

// summarize copies the readable part of a `go test -json` stream to w and
// returns the counts. Lines that are not JSON events are copied as they are.
func summarize(r io.Reader, w io.Writer) (counts, error) {
	var c counts
	output := map[string][]string{} // package + test -> its output, until it ends
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		var e event
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &e) != nil {
			fmt.Fprintln(w, line)
			continue
		}
		key := e.Package + " " + e.Test
		switch {
		case e.Action == "build-output" || e.Action == "build-fail":
			fmt.Fprint(w, e.Output)
		case e.Test == "" && e.Action == "output":
			// Package-level lines: "ok  \tpkg\t1.2s", "FAIL\tpkg", panics and
			// anything logged outside a test; not the bare "PASS".
			if strings.TrimSpace(e.Output) != "PASS" {
				fmt.Fprint(w, e.Output)
			}
		case e.Action == "output":
			output[key] = append(output[key], e.Output)
		case e.Action == "pass" && e.Test != "":
			c.passed++
			delete(output, key)
		case e.Action == "fail" && e.Test != "":
			c.failed++
			fmt.Fprint(w, strings.Join(output[key], ""))
			delete(output, key)
		case e.Action == "skip" && e.Test != "":
			c.skipped++
			for _, o := range output[key] {
				if t := strings.TrimSpace(o); t != "" && !strings.HasPrefix(t, "=== ") {
					fmt.Fprint(w, o)
				}
			}
			delete(output, key)
		}
	}
	return c, sc.Err()
}
