package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// Passphrases come from a file (--passphrase-file, first line) or, when
// standard input is a terminal, from a prompt on standard error that does
// not echo what is typed. Without a terminal there is no prompt: pinset
// never blocks waiting on a pipe for a secret.

// maxPassphrase bounds a typed passphrase, as trustReadPassphrase bounds
// a file.
const maxPassphrase = 64 << 10

// stdinTerminal returns the file descriptor of in when in is a terminal.
func stdinTerminal(in io.Reader) (int, bool) {
	f, ok := in.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// promptPassphrase prints prompt to w and reads a line from the terminal
// fd without echo.
func promptPassphrase(fd int, w io.Writer, prompt string) ([]byte, error) {
	fmt.Fprint(w, prompt)
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(w)
	if err != nil {
		return nil, fmt.Errorf("reading the passphrase: %w", err)
	}
	if len(b) > maxPassphrase {
		return nil, fmt.Errorf("passphrase longer than %d bytes", maxPassphrase)
	}
	return b, nil
}

// newKeyPassphrase decides how key new protects NAME.key: the passphrase of
// passFile; none with noPass; else, on a terminal, one typed twice; else
// none, with a warning that says how to choose. It returns nil for none.
func newKeyPassphrase(in io.Reader, stderr io.Writer, keyFile, passFile string, noPass bool) ([]byte, error) {
	switch {
	case passFile != "" && noPass:
		return nil, errors.New("--passphrase-file and --no-passphrase: choose one")
	case passFile != "":
		return trustReadPassphrase(passFile)
	case noPass:
		return nil, nil
	}
	fd, ok := stdinTerminal(in)
	if !ok {
		warningf(stderr, "%s is written unencrypted (no terminal to ask a passphrase on): give --passphrase-file FILE to encrypt it, or --no-passphrase", keyFile)
		return nil, nil
	}
	p1, err := promptPassphrase(fd, stderr, "Passphrase for "+keyFile+": ")
	if err != nil {
		return nil, err
	}
	if len(p1) == 0 {
		return nil, errorWithHint(fmt.Errorf("%s: empty passphrase", keyFile), "type one, or give --no-passphrase for an unencrypted key")
	}
	p2, err := promptPassphrase(fd, stderr, "Repeat the passphrase: ")
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(p1, p2) {
		return nil, fmt.Errorf("%s: the passphrases differ; nothing written", keyFile)
	}
	return p1, nil
}
