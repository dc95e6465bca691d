package pin

import (
	"strings"
	"testing"
)

// ParseBase64 is the one strict reader of the canonical spelling: exactly
// 44 characters of padded standard base64, 32 bytes, nothing around them.
func TestParseBase64(t *testing.T) {
	p := FromSPKI([]byte("spki"))
	b64 := p.Format(Base64)
	if q, err := ParseBase64(b64); err != nil || q != p {
		t.Fatalf("ParseBase64(%q) = %v, %v", b64, q, err)
	}
	for _, c := range []struct{ in, why string }{
		{p.Format(Hex), "write " + b64},
		{p.Format(HexColons), "write " + b64},
		{p.Format(OkHttp), "write " + b64},
		{p.Format(HPKP), "write " + b64},
		{" " + b64, "write " + b64},
		{b64 + "\n", "write " + b64},
		{strings.TrimSuffix(b64, "="), "without '=' padding"},
		{"c2hvcnQ=", "decodes to 5 bytes"},
		{b64[:20] + "!" + b64[21:], "not valid standard base64"},
		{"LIVE_PIN", "placeholder"},
		{"", "empty"},
		{strings.Repeat("A", 200), "longer than any pin spelling"},
	} {
		_, err := ParseBase64(c.in)
		if err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("ParseBase64(%q) = %v, want an error saying %q", c.in, err, c.why)
		}
		var q Pin
		if uerr := q.UnmarshalText([]byte(c.in)); uerr == nil || uerr.Error() != err.Error() {
			t.Errorf("UnmarshalText(%q) = %v, want the error of ParseBase64 (%v)", c.in, uerr, err)
		}
	}
	// URL-safe base64 of 32 bytes: a different alphabet, refused.
	url := strings.NewReplacer("+", "-", "/", "_").Replace(FromSPKI([]byte{0xfb, 0xff}).Format(Base64))
	if _, err := ParseBase64(url); err == nil {
		t.Errorf("ParseBase64 accepted URL-safe %q", url)
	}
}

// The pin reader on the decoding paths of signed documents does not
// allocate.
func TestParseBase64DoesNotAllocate(t *testing.T) {
	s := FromSPKI([]byte("spki")).Format(Base64)
	b := []byte(s)
	var p Pin
	if n := testing.AllocsPerRun(100, func() { p, _ = ParseBase64(s) }); n != 0 {
		t.Errorf("ParseBase64 allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = p.UnmarshalText(b) }); n != 0 {
		t.Errorf("UnmarshalText allocates %v times", n)
	}
}
