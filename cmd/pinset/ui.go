package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Every line pinset prints to a person about a problem goes through these
// helpers, so that messages share one style: "pinset: what happened".

// exitError carries a specific exit status and an optional hint.
type exitError struct {
	code int
	err  error
	hint string
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// errorWithHint returns an error that prints with a hint line after it.
func errorWithHint(err error, hint string) error { return &exitError{code: 1, err: err, hint: hint} }

// exitCode returns an error that makes pinset exit with code, printing err
// unless it is nil.
func exitCode(code int, err error) error { return &exitError{code: code, err: err} }

// reportError prints err and returns the exit status it asks for.
func reportError(w io.Writer, err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(w, "pinset: %v\n", ee.err)
		}
		if ee.hint != "" {
			fmt.Fprintf(w, "pinset: hint: %s\n", ee.hint)
		}
		return ee.code
	}
	fmt.Fprintf(w, "pinset: %v\n", err)
	return 1
}

// warningf prints a warning line to stderr.
func warningf(w io.Writer, format string, args ...any) {
	if w == nil {
		w = os.Stderr
	}
	fmt.Fprintf(w, "pinset: warning: "+format+"\n", args...)
}

// plural spells a count with its noun: "1 signature", "2 signatures". The
// plural is the noun plus "s" unless given ("1 address", "2 addresses").
func plural(n int, noun string, pluralNoun ...string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	if len(pluralNoun) > 0 {
		return fmt.Sprintf("%d %s", n, pluralNoun[0])
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
