// Package testtool decides, in one place, what a test does when something
// it needs from outside Go is missing: a program (openssl, plistutil,
// promtool, javac, curl), a library (the OkHttp jars) or a service (a
// PostgreSQL database).
//
// Locally the test is skipped with a message that says how to install what
// is missing. When the environment variable CI is set (.ci/run sets it), the
// test FAILS instead: CI installs every tool the tests use, so a skip there
// would report a test as passed that never ran.
package testtool

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// InCI reports whether the tests run in CI (the environment variable CI is
// set to anything but the empty string).
func InCI() bool { return os.Getenv("CI") != "" }

// Need returns the path of the program name. When it is not on PATH the
// test is skipped, or, in CI, fails; install says how to get it (for
// example "apt-get install -y openssl").
func Need(t testing.TB, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name+" not found", install)
	}
	return path
}

// NeedFile returns path when it exists, and otherwise skips the test (or
// fails it in CI) saying what is missing and how to install it.
func NeedFile(t testing.TB, path, install string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(t, path+" not found", install)
	}
	return path
}

// NeedEnv returns the value of the environment variable name. When it is
// empty the test is skipped, or, in CI, fails; how says how to set it.
func NeedEnv(t testing.TB, name, how string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		Missing(t, name+" is not set", how)
	}
	return v
}

// Missing stops the test because what is missing: t.Skip locally, t.Fatal
// in CI. The message names what is missing and how to fix it.
func Missing(t testing.TB, what, fix string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s, and CI must run every test (CI=%q): %s", what, os.Getenv("CI"), fix)
	}
	t.Skipf("%s; skipped (install it to run this test: %s)", what, fix)
}

// Optional is Need for a check that is one part of a larger test: it
// returns the path and true, or, when the program is missing, logs that
// the check was not run and returns false locally (the test goes on), and
// fails the test in CI.
func Optional(t testing.TB, name, install string) (string, bool) {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path, true
	}
	if InCI() {
		t.Fatalf("%s not found, and CI must run every check (CI=%q): %s", name, os.Getenv("CI"), install)
	}
	t.Logf("%s not found; this check was NOT run (install it to run it: %s)", name, install)
	return "", false
}

// CPUTime is the CPU time (user and system) this process used so far, for
// benchmarks that report CPU per operation: it moves much less with other
// load on the machine than wall time does.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
