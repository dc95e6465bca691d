package main

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"pinset.dev/pinset/trust"
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

// decodeYAMLStrict decodes one YAML document from b into v, refusing
// unknown keys. Errors name the file and, for an unknown key, the key and
// its line instead of the Go type it does not fit ("pins.yaml: line 5:
// unknown key \"enforce\"").
func decodeYAMLStrict(name string, b []byte, v any) error {
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true)
	err := d.Decode(v)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		if sub := yamlUnknownField.FindStringSubmatch(m); sub != nil {
			m = fmt.Sprintf("%sunknown key %q", sub[1], sub[2])
		} else if sub := yamlCannotUnmarshal.FindStringSubmatch(m); sub != nil {
			m = fmt.Sprintf("%s%s is not %s", sub[1], sub[2], yamlKind(sub[3]))
		}
		msgs[i] = m
	}
	return fmt.Errorf("%s: %s", name, strings.Join(msgs, "; "))
}

var (
	yamlUnknownField    = regexp.MustCompile(`^(line \d+: )?field (\S+) not found in type `)
	yamlCannotUnmarshal = regexp.MustCompile(`^(line \d+: )?cannot unmarshal (!!\w+ .*?) into (.+)$`)
)

// yamlKind says in words what a Go type the YAML did not fit expects.
func yamlKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "struct"), strings.HasPrefix(goType, "map"), strings.HasPrefix(goType, "main."):
		return "a mapping"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string":
		return "a string"
	}
	return "of the expected kind"
}

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
