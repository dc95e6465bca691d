package policy

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"pinset.dev/pinset/pin"
)

func fakePin(s string) pin.Pin { return pin.Pin(sha256.Sum256([]byte(s))) }

func TestParseSpec(t *testing.T) {
	a, b := fakePin("a"), fakePin("b")
	got, err := ParseSpec("API.example.com=" + a.Format(pin.OkHttp) + "," + b.Format(pin.Hex) + ";include-subdomains;report-only;report-uri=https://r.example.com/x")
	if err != nil {
		t.Fatal(err)
	}
	want := Policy{Pattern: "API.example.com", Pins: []pin.Pin{a, b}, IncludeSubdomains: true, ReportOnly: true, ReportURI: "https://r.example.com/x"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for _, bad := range []string{
		"", "api.example.com", "=" + a.String(), "api.example.com=notapin",
		"api.example.com=" + a.String() + ";bogus", "api.example.com=" + a.String() + ";report-uri=ftp://x",
		"*.com=" + a.String(), "api.example.com=sha1/AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"api.example.com=" + strings.Repeat(a.String()+",", 300),
	} {
		if _, err := ParseSpec(bad); err == nil {
			t.Errorf("ParseSpec(%.60q) accepted", bad)
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	f.Add("api.example.com=" + fakePin("a").String() + "," + fakePin("b").Format(pin.OkHttp) + ";include-subdomains")
	f.Add("*.example.com=" + fakePin("a").Format(pin.HPKP) + ";report-only;report-uri=https://x.example/r")
	f.Add("=;;")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseSpec(s)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted an invalid policy: %v", err)
		}
	})
}
