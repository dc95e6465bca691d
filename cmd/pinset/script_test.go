package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// Scripts in testdata/script/*.txt run the real pinset binary (this test
// binary, re-executed as "pinset"). Test files of other commands may add
// their own script commands and set-up steps from init functions:
//
//	func init() { scriptCmds["myserver"] = startMyServer }
//
// and conditions, used in scripts as [name] or [!name]:
//
//	func init() { scriptConds["ipv6"] = haveIPv6 }
var (
	scriptCmds   = map[string]func(ts *testscript.TestScript, neg bool, args []string){}
	scriptSetups []func(env *testscript.Env) error
	scriptConds  = map[string]func() bool{}
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"pinset":             func() { os.Exit(run(os.Args[1:])) },
		"pinset-rusage":      rusageMain,
		"pinset-slow-output": slowOutputMain,
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		Cmds:                scriptCmds,
		RequireExplicitExec: true,
		Condition: func(cond string) (bool, error) {
			f, ok := scriptConds[cond]
			if !ok {
				return false, fmt.Errorf("unknown condition %q", cond)
			}
			return f(), nil
		},
		Setup: func(env *testscript.Env) error {
			for _, f := range scriptSetups {
				if err := f(env); err != nil {
					return err
				}
			}
			return nil
		},
	})
}

// runCLI runs pinset in-process with args and empty standard input, and
// returns the exit status, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runWith(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func init() { scriptCmds["status"] = scriptStatus }

// scriptStatus runs a program and checks its exit status, keeping its
// stdout and stderr for the stdout and stderr commands:
//
//	status 3 pinset scan --fail-on high nsc.xml
func scriptStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: status N program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("status %q: not a number", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}
