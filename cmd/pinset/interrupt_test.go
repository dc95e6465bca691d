package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"pinset.dev/pinset/internal/atomicfile"
)

// slowOutputMain is a test program (run as "pinset-slow-output FILE") that
// installs pinset's interrupt handling, as run does, starts writing FILE
// through internal/atomicfile and stalls half-way, like 'get -o' on a slow
// body. It prints "writing" when the temporary file exists.
func slowOutputMain() {
	_, cancel := context.WithCancel(context.Background())
	defer handleInterrupts(os.Stderr, cancel)()
	f, err := atomicfile.Create(os.Args[1], atomicfile.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	f.Write(bytes.Repeat([]byte("x"), 282<<10))
	fmt.Println("writing")
	time.Sleep(time.Minute)
	os.Exit(2)
}

// startUntil starts cmd and waits for a line of its stdout matching want.
func startUntil(t *testing.T, cmd *exec.Cmd, want string) {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.Contains(sc.Text(), want) {
			go func() {
				for sc.Scan() {
				}
			}()
			return
		}
	}
	t.Fatalf("%s never printed %q", cmd.Path, want)
}

// exitStatus waits for cmd and returns its exit status.
func exitStatus(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	err := cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode()
}

// TestInterruptRemovesPartialOutput: Ctrl-C during a write leaves neither
// the output nor the temporary file, says "interrupted" and exits 130.
func TestInterruptRemovesPartialOutput(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("pinset-slow-output", filepath.Join(dir, "body.bin"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	startUntil(t, cmd, "writing")
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Fatalf("while writing: %v, want one temporary file", es)
	}
	cmd.Process.Signal(os.Interrupt)
	if code := exitStatus(t, cmd); code != 130 {
		t.Errorf("exit status %d, want 130", code)
	}
	if stderr.String() != "pinset: interrupted\n" {
		t.Errorf("stderr %q", stderr.String())
	}
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Errorf("left behind after SIGINT: %v", es)
	}
}

// TestDemoInterrupted: Ctrl-C during the demo says "interrupted", exits
// 130 (not 1, "steps did not behave") and removes its directory.
func TestDemoInterrupted(t *testing.T) {
	tmp := t.TempDir()
	cmd := exec.Command("pinset", "demo")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	startUntil(t, cmd, "Step 2.")
	cmd.Process.Signal(syscall.SIGINT)
	if code := exitStatus(t, cmd); code != 130 {
		t.Errorf("exit status %d, want 130; stderr:\n%s", code, stderr.String())
	}
	if !strings.HasSuffix(stderr.String(), "pinset: interrupted\n") {
		t.Errorf("stderr %q", stderr.String())
	}
	if es, _ := os.ReadDir(tmp); len(es) != 0 {
		t.Errorf("left behind after SIGINT: %v", es)
	}
}
