// Package input reads what pinset's commands and the service's
// configuration take from files: every input has a size cap and every error
// names the file (and, for YAML, the key and line).
package input

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

	"gopkg.in/yaml.v3"
)

// MaxFile caps the files read whole (envelopes, CA bundles, policy
// files); the parsers apply their own tighter limits.
const MaxFile = 8 << 20

// ErrDirectory is the error of Open for a directory.
var ErrDirectory = errors.New("is a directory")

// Open opens a file for reading. Errors name the file without Go's "open"
// prefix and wrap the system's (errors.Is(err, fs.ErrNotExist) holds for a
// missing file); a directory is refused (ErrDirectory).
func Open(name string) (*os.File, error) {
	f, err := os.Open(name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s: %w", name, pe.Err)
		}
		return nil, err
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, ErrDirectory)
	}
	return f, nil
}

// Read reads a file of at most max bytes; "-" is standard input.
func Read(name string, max int64) ([]byte, error) {
	if name == "-" {
		return readAtMost(name, os.Stdin, max)
	}
	return ReadFile(name, max)
}

// ReadFile reads the file name, of at most max bytes, as Open opens it
// (never standard input).
func ReadFile(name string, max int64) ([]byte, error) {
	f, err := Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAtMost(name, f, max)
}

func readAtMost(name string, r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, max)
	}
	return b, nil
}

// LoadCAs returns the system roots plus the PEM certificates of file, the
// meaning of --cafile in every command. Errors start with setting, the
// flag or configuration key that named the file.
func LoadCAs(setting, file string) (*x509.CertPool, error) {
	b, err := Read(file, MaxFile)
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

// ParseDays reads a whole number of days ("21d") or a Go duration ("72h").
func ParseDays(s string) (time.Duration, error) {
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

// DecodeYAMLStrict decodes one YAML document from b into v, refusing
// unknown keys. Errors name the file and, for an unknown key, the key and
// its line instead of the Go type it does not fit ("pins.yaml: line 5:
// unknown key \"enforce\"").
func DecodeYAMLStrict(name string, b []byte, v any) error {
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
	case strings.HasPrefix(goType, "struct"), strings.HasPrefix(goType, "map"), strings.Contains(goType, "."):
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

// ReadPassphrase reads the first line of a passphrase file.
func ReadPassphrase(name string) ([]byte, error) {
	b, err := Read(name, 64<<10)
	if err != nil {
		return nil, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) == 0 {
		return nil, fmt.Errorf("%s: empty passphrase", name)
	}
	return line, nil
}
