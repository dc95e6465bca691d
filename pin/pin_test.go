package pin

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// samplePins are deterministic pins covering the base64 alphabet's + and /.
func samplePins() []Pin {
	var out []Pin
	for i := range 16 {
		out = append(out, Pin(sha256.Sum256([]byte{byte(i)})))
	}
	out = append(out, Pin{0xfb, 0xef, 0xff}) // base64 starts with "++//"
	return out
}

func TestEverySpellingRoundTrips(t *testing.T) {
	for _, p := range samplePins() {
		for _, f := range Formats {
			s := p.Format(f)
			got, err := Parse(s)
			if err != nil {
				t.Fatalf("Parse(%q) [%s]: %v", s, f, err)
			}
			if got != p {
				t.Fatalf("Parse(Format(%s)) = %s, want %s", f, got, p)
			}
			// Surrounding white space and upper-case hex are accepted too.
			if got, err := Parse("  " + s + "\n"); err != nil || got != p {
				t.Fatalf("Parse with white space around %q: %v", s, err)
			}
			if f == Hex || f == HexColons {
				if got, err := Parse(strings.ToUpper(s)); err != nil || got != p {
					t.Fatalf("upper-case %s %q: %v", f, s, err)
				}
			}
		}
		if p.Format("unknown") != p.String() {
			t.Fatal("unknown format should print bare base64")
		}
	}
}

func TestSpellings(t *testing.T) {
	p := Pin(sha256.Sum256([]byte("pinset")))
	b64 := base64.StdEncoding.EncodeToString(p[:])
	h := hex.EncodeToString(p[:])
	want := map[Format]string{
		Base64:    b64,
		OkHttp:    "sha256/" + b64,
		HPKP:      `pin-sha256="` + b64 + `"`,
		Hex:       h,
		HexColons: h[0:2] + ":" + h[2:4],
	}
	for f, w := range want {
		if got := p.Format(f); !strings.HasPrefix(got, w) {
			t.Errorf("Format(%s) = %q, want prefix %q", f, got, w)
		}
	}
	if got := p.Format(HexColons); len(got) != 95 || strings.Count(got, ":") != 31 {
		t.Errorf("hex-colons %q", got)
	}
	if len(b64) != 44 || !strings.HasSuffix(b64, "=") {
		t.Errorf("base64 %q is not 44 characters ending in '='", b64)
	}
	// OkHttp's prefix is matched case-insensitively (some configs write SHA256/).
	if got, err := Parse("SHA256/" + b64); err != nil || got != p {
		t.Errorf("SHA256/ prefix: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	p := samplePins()[16]
	b64 := p.String()
	short := base64.StdEncoding.EncodeToString(p[:31])
	long := base64.StdEncoding.EncodeToString(append(p[:], 0))
	urlSafe := base64.URLEncoding.EncodeToString(p[:])
	h := hex.EncodeToString(p[:])
	for _, tc := range []struct {
		in, want string
	}{
		{"", "empty"},
		{"   ", "empty"},
		{short, "decodes to 31 bytes; a SHA-256 pin is exactly 32"},
		{long, "decodes to 33 bytes"},
		{"sha256/" + short, "decodes to 31 bytes"},
		{`pin-sha256="` + long + `"`, "decodes to 33 bytes"},
		{urlSafe, "URL-safe base64"},
		{"sha256/" + urlSafe, "URL-safe base64"},
		{strings.TrimRight(b64, "="), "without '=' padding"},
		{b64[:20] + "!" + b64[21:], "not valid standard base64"},
		{h[:63] + "g", `not valid hex: 'g' is not a hex digit`},
		{h[:62], "62 hex digits; a SHA-256 pin is exactly 64"},
		{h + "00", "66 hex digits"},
		{h[:40], "SHA-1 digest"},
		{p.Format(HexColons)[:92], "31 hex pairs; a SHA-256 pin is exactly 32"},
		{p.Format(HexColons) + ":00", "33 hex pairs"},
		{"ab:cd:e:" + h[6:], "pairs of hex digits"},
		{"ab:cd:zz" + p.Format(HexColons)[8:], "not valid hex: 'z'"},
		{"pin-sha256=" + b64, "quoted value"},
		{`pin-sha256="` + b64, "quoted value"},
		{strings.Repeat("A", 200), "longer than any pin spelling"},
	} {
		_, err := Parse(tc.in)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q): got %v, want a *ParseError", tc.in, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q): %q does not say %q", tc.in, err, tc.want)
		}
		if len(err.Error()) > 300 {
			t.Errorf("Parse(%q): message too long: %d characters", tc.in, len(err.Error()))
		}
	}
}

func TestSHA1Refused(t *testing.T) {
	sha1 := base64.StdEncoding.EncodeToString(make([]byte, 20))
	for _, in := range []string{"sha1/" + sha1, "SHA1/" + sha1, `pin-sha1="` + sha1 + `"`} {
		_, err := Parse(in)
		if !errors.Is(err, ErrSHA1) {
			t.Errorf("Parse(%q) = %v, want ErrSHA1", in, err)
		}
	}
	if !strings.Contains(ErrSHA1.Error(), "SHA-256") {
		t.Error("ErrSHA1 does not say what to do instead")
	}
}

func TestTextMarshalling(t *testing.T) {
	p := samplePins()[3]
	b, err := p.MarshalText()
	if err != nil || string(b) != p.String() {
		t.Fatalf("MarshalText = %q, %v", b, err)
	}
	var q Pin
	if err := q.UnmarshalText(b); err != nil || q != p {
		t.Fatalf("UnmarshalText: %v", err)
	}
	// Documents carry exactly one spelling: bare base64.
	for _, f := range []Format{OkHttp, HPKP, Hex, HexColons} {
		if err := q.UnmarshalText([]byte(p.Format(f))); err == nil {
			t.Errorf("UnmarshalText accepted the %s spelling", f)
		}
	}
}

func TestMustParseAndContains(t *testing.T) {
	ps := samplePins()
	if MustParse(ps[0].String()) != ps[0] {
		t.Fatal("MustParse")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("MustParse of garbage did not panic")
		}
	}()
	if !Contains(ps, ps[5]) || Contains(ps[:5], ps[5]) || (Pin{}).IsZero() == false || ps[0].IsZero() {
		t.Fatal("Contains / IsZero")
	}
	MustParse("garbage")
}

// FuzzParse checks that Parse never panics, that what it accepts is
// exactly 32 bytes, and that every accepted pin round-trips through every
// spelling.
func FuzzParse(f *testing.F) {
	for _, p := range samplePins()[:3] {
		for _, fm := range Formats {
			f.Add(p.Format(fm))
		}
	}
	for _, s := range []string{"", "sha1/AAAA", "pin-sha256=", `pin-sha256=""`, "::::", "sha256/", "0", "=", "a:b", "AAAA-_==", strings.Repeat("ab:", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			if p != (Pin{}) {
				t.Fatalf("error with a non-zero pin for %q", s)
			}
			if len(err.Error()) > 400 {
				t.Fatalf("error message of %d characters", len(err.Error()))
			}
			return
		}
		for _, fm := range Formats {
			q, err := Parse(p.Format(fm))
			if err != nil || q != p {
				t.Fatalf("accepted %q but %s spelling does not round-trip: %v", s, fm, err)
			}
		}
	})
}

// TestDocSpellings parses every example of the spellings table in
// docs/pins.md: they must all be the same pin.
func TestDocSpellings(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "pins.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := Pin(sha256.Sum256([]byte("hello")))
	seen := map[Format]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			continue
		}
		f := Format(strings.Trim(strings.TrimSpace(cells[1]), "`"))
		if !slices.Contains(Formats, f) {
			continue
		}
		ex := strings.Trim(strings.TrimSpace(cells[2]), "`")
		got, err := Parse(ex)
		if err != nil || got != want {
			t.Errorf("docs/pins.md example %s %q: %v", f, ex, err)
		}
		if want.Format(f) != ex {
			t.Errorf("docs/pins.md example %s is %q, Format prints %q", f, ex, want.Format(f))
		}
		seen[f] = true
	}
	if len(seen) != len(Formats) {
		t.Errorf("docs/pins.md shows %d of %d formats", len(seen), len(Formats))
	}
}

// A value an example stands in for a pin gets one message, "looks like a
// placeholder", whatever spelling wraps it, instead of a base64 lecture;
// real pins that happen to be capitals and digits are not caught.
func TestPlaceholder(t *testing.T) {
	for _, in := range []string{"LIVE_PIN", "PIN1", "BACKUP_PIN", "NEXT", "sha256/LIVE_PIN", `pin-sha256="PIN2"`,
		"$LIVE", "${NEXT}", "sha256/$NEXT", "<pin>", "sha256/AAAA...=", " PIN_1 "} {
		_, err := Parse(in)
		if !errors.Is(err, ErrPlaceholder) {
			t.Errorf("Parse(%q) = %v, want ErrPlaceholder", in, err)
			continue
		}
		if !strings.Contains(err.Error(), "looks like a placeholder: compute a pin with 'pinset pin FILE'") || strings.Contains(err.Error(), "base64") {
			t.Errorf("Parse(%q): %v", in, err)
		}
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q): not a *ParseError", in)
		}
	}
	// Bare hex digits keep the hex rules; short base64 keeps its own.
	for in, want := range map[string]string{"DEADBEEF": "8 hex digits", "QUJDZA==": "decodes to 4 bytes"} {
		if _, err := Parse(in); errors.Is(err, ErrPlaceholder) || err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q", in, err, want)
		}
	}
	// A real pin whose base64 is only capitals and digits still parses.
	var p Pin
	for i := range p {
		p[i] = 0x10
	}
	if q, err := Parse(p.String()); err != nil || q != p {
		t.Errorf("Parse(%q) = %v, %v", p.String(), q, err)
	}
}
