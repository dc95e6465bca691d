package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// The commands read their file inputs through these helpers, so every
// input has a size cap and every error names the file.

// maxInputFile caps the files the commands read (envelopes, CA bundles,
// policy files); the parsers apply their own tighter limits.
const maxInputFile = 8 << 20

// readInput reads a file of at most max bytes; "-" is standard input.
func readInput(name string, max int64) ([]byte, error) {
	var r io.Reader = os.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%s: %v", name, pe.Err)
			}
			return nil, err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return nil, fmt.Errorf("%s: is a directory", name)
		}
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, max)
	}
	return b, nil
}

// loadCAs returns the system roots plus the PEM certificates of file, the
// meaning of --cafile in every command. Errors start with setting, the
// flag or configuration key that named the file.
func loadCAs(setting, file string) (*x509.CertPool, error) {
	b, err := readInput(file, maxInputFile)
	if err != nil {
		return nil, fmt.Errorf("%s %w", setting, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s %s: no PEM CERTIFICATE block found", setting, file)
	}
	return pool, nil
}

// parseDays reads a whole number of days ("21d") or a Go duration ("72h").
func parseDays(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err == nil && n >= 0 && n <= 36500 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, nil
	}
	return 0, fmt.Errorf("%q: want a number of days such as 30d, or a duration such as 72h", s)
}
