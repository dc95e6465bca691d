package store

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/report"
)

// FuzzRawRoundTrip: whatever body a client sends and report.Parse
// accepts, cutting its certificates out and writing them back gives the
// body byte for byte, and the normalised copy gets its PEMs back.
func FuzzRawRoundTrip(f *testing.F) {
	for _, n := range []string{"trustkit-ios.json", "trustkit-android.json", "hpkp.json", "pinset-go.json"} {
		b, err := os.ReadFile(filepath.Join("..", "report", "testdata", "reports", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add([]byte(strings.ReplaceAll(string(b), "/", `\/`)))
		f.Add([]byte(strings.ReplaceAll(string(b), `\n`, `\r\n`)))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := report.Parse(body, report.Options{Now: func() time.Time { return t0 }})
		if err != nil {
			return
		}
		p, err := prepareReport(r, body)
		if err != nil {
			t.Fatal(err)
		}
		back, err := rebuildRaw(p.template, p.refs, p.certs)
		if err != nil || !bytes.Equal(back, body) {
			t.Fatalf("raw body not rebuilt (%v):\n%q\n%q", err, body, back)
		}
		var n report.Report
		if err := json.Unmarshal([]byte(p.norm), &n); err != nil {
			t.Fatal(err)
		}
		if err := resolveCerts(&n, p.certs); err != nil {
			t.Fatal(err)
		}
		for i := range r.ValidatedChain {
			if n.ValidatedChain[i].PEM != r.ValidatedChain[i].PEM {
				t.Fatal("normalised PEM not restored")
			}
		}
	})
}
