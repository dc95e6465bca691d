package telemetry

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const id = "0123456789abcdef0123456789abcdef"

func TestParse(t *testing.T) {
	good := "v=1;id=" + id + ";root=2;manifest=7;sdk=pinset-go/1"
	for _, c := range []struct {
		name  string
		lines []string
		ok    bool
	}{
		{"good", []string{good}, true},
		{"max versions", []string{"v=1;id=" + id + ";root=9007199254740991;manifest=1;sdk=a"}, true},
		{"no header", nil, false},
		{"two lines", []string{good, good}, false},
		{"too long", []string{good + strings.Repeat("x", MaxLen)}, false},
		{"version 2", []string{strings.Replace(good, "v=1", "v=2", 1)}, false},
		{"upper-case id", []string{strings.Replace(good, id, strings.ToUpper(id), 1)}, false},
		{"short id", []string{strings.Replace(good, id, id[:30], 1)}, false},
		{"leading zero", []string{strings.Replace(good, "root=2", "root=02", 1)}, false},
		{"root zero", []string{strings.Replace(good, "root=2", "root=0", 1)}, false},
		{"manifest zero (none yet)", []string{strings.Replace(good, "manifest=7", "manifest=0", 1)}, true},
		{"manifest 00", []string{strings.Replace(good, "manifest=7", "manifest=00", 1)}, false},
		{"negative", []string{strings.Replace(good, "manifest=7", "manifest=-7", 1)}, false},
		{"above max", []string{strings.Replace(good, "root=2", "root=9007199254740992", 1)}, false},
		{"plus sign", []string{strings.Replace(good, "root=2", "root=+2", 1)}, false},
		{"fields swapped", []string{"v=1;id=" + id + ";manifest=7;root=2;sdk=x"}, false},
		{"extra field", []string{good + ";x=1"}, false},
		{"missing field", []string{"v=1;id=" + id + ";root=2;manifest=7"}, false},
		{"space", []string{"v=1; id=" + id + ";root=2;manifest=7;sdk=x"}, false},
		{"sdk with space", []string{strings.Replace(good, "pinset-go/1", "pinset go", 1)}, false},
		{"empty sdk", []string{strings.Replace(good, "pinset-go/1", "", 1)}, false},
		{"sdk too long", []string{strings.Replace(good, "pinset-go/1", strings.Repeat("a", MaxSDKLen+1), 1)}, false},
		{"trailing semicolon", []string{good + ";"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			info, err := Parse(c.lines)
			if c.ok != (err == nil) {
				t.Fatalf("Parse(%q) = %+v, %v; want ok=%v", c.lines, info, err, c.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if err == nil && info.String() != c.lines[0] {
				t.Fatalf("String() = %q, want %q", info.String(), c.lines[0])
			}
		})
	}
}

func TestNewID(t *testing.T) {
	got, err := NewID(bytes.NewReader(bytes.Repeat([]byte{0xab}, 16)))
	if err != nil || got != strings.Repeat("ab", 16) || !ValidID(got) {
		t.Fatalf("NewID = %q, %v", got, err)
	}
	if _, err := NewID(bytes.NewReader(make([]byte, 15))); err == nil {
		t.Fatal("NewID accepted a short read")
	}
}

// FuzzParse holds Parse to its contract on any input: no panic, and
// whatever it accepts is formatted back to the same bytes and is within
// the limits.
func FuzzParse(f *testing.F) {
	f.Add("v=1;id=" + id + ";root=2;manifest=7;sdk=pinset-go/1")
	f.Add("v=1;id=" + id + ";root=02;manifest=7;sdk=x")
	f.Add("v=1;id=;root=;manifest=;sdk=")
	f.Add(";;;;")
	f.Fuzz(func(t *testing.T, s string) {
		info, err := Parse([]string{s})
		if err != nil {
			return
		}
		if info.String() != s || len(s) > MaxLen || !ValidID(info.ID) ||
			info.RootVersion < 1 || info.RootVersion > MaxVersion || info.ManifestVersion > MaxVersion {
			t.Fatalf("accepted %q as %+v", s, info)
		}
	})
}
