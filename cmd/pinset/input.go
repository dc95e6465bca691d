package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"pinset.dev/pinset/internal/input"
	"pinset.dev/pinset/trust"
)

// The commands read their file inputs through these helpers, so every
// input has a size cap and every error names the file.

// maxInputFile caps the files the commands read (envelopes, CA bundles,
// policy files); the parsers apply their own tighter limits.
const maxInputFile = input.MaxFile

// readInput is input.Read: a file of at most max bytes; "-" is standard input.
func readInput(name string, max int64) ([]byte, error) { return input.Read(name, max) }

// loadCAs is input.LoadCAs: the system roots plus a PEM file, the meaning of --cafile.
func loadCAs(setting, file string) (*x509.CertPool, error) { return input.LoadCAs(setting, file) }

// parseDays is input.ParseDays: days ("21d") or a Go duration ("72h").
func parseDays(s string) (time.Duration, error) { return input.ParseDays(s) }

// verifyBundled verifies a root and, when manifest is not nil, a manifest
// the way an app takes the pair it bundles (trust.NewState: signatures,
// thresholds, app and root binding; not expiry), and names the file at
// fault in every error: the root file when the root is bad, the manifest
// file when only the manifest is. Commands that take --root and
// --manifest load them through it.
func verifyBundled(rootFile string, root []byte, manifestFile string, manifest []byte) (*trust.State, error) {
	st, err := trust.NewState(root, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rootFile, err)
	}
	if manifest == nil {
		return st, nil
	}
	if st, err = trust.NewState(root, manifest); err != nil {
		// The root verified alone: the manifest is at fault. NewState
		// says "bundled manifest: ..."; the file name says which.
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return nil, fmt.Errorf("%s: %w", manifestFile, err)
	}
	return st, nil
}

// decodeYAMLStrict is input.DecodeYAMLStrict: one YAML document, unknown keys refused by name and line.
func decodeYAMLStrict(name string, b []byte, v any) error { return input.DecodeYAMLStrict(name, b, v) }

// durationValue is a duration flag that takes days ("21d") as well as Go
// durations ("72h", "10s"): every duration flag of pinset reads the same.
// With bareDays, a bare whole number is a number of days too (flags that
// took an integer number of days before they took durations).
type durationValue struct {
	d        *time.Duration
	bareDays bool
}

func (v durationValue) String() string {
	if v.d == nil {
		return ""
	}
	return v.d.String()
}

func (v durationValue) Set(s string) error {
	if v.bareDays {
		if n, err := strconv.Atoi(s); err == nil {
			s = strconv.Itoa(n) + "d"
		}
	}
	d, err := parseDays(s)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), fmt.Sprintf("%q: ", s)))
	}
	*v.d = d
	return nil
}

// Type is "duration", so that pflag's GetDuration reads it too.
func (v durationValue) Type() string { return "duration" }

// durationVar defines a duration flag that also takes days.
func durationVar(f *pflag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	f.Var(durationValue{d: p}, name, usage)
}

// daysVar defines a duration flag whose bare whole numbers are days
// ("30" is "30d"), for flags that used to take a number of days.
func daysVar(f *pflag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	f.Var(durationValue{d: p, bareDays: true}, name, usage)
	if value%(24*time.Hour) == 0 {
		// Help shows "(default 30d)"; String stays a Go duration, which
		// GetDuration reads.
		f.Lookup(name).DefValue = fmt.Sprintf("%dd", value/(24*time.Hour))
	}
}
