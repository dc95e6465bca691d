package export

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"howett.net/plist"

	"pinset.dev/pinset/policy"
)

// FuzzExport feeds policy sets written as --pin lines (one per line) to
// every format. Whatever the input, Export must not panic, the XML and
// property lists it writes must parse, and every exported host must carry
// pins that re-parse to the policy's.
func FuzzExport(f *testing.F) {
	a, b := fakePin("a").String(), fakePin("b").String()
	f.Add("api.example.com=" + a + "," + b)
	f.Add("*.example.com=" + a + "," + b + "\nexample.com=" + a + "," + b + ";report-only\n**.example.com=" + a + "," + b)
	f.Add("static.example.com=" + a + "," + b + ";include-subdomains;report-uri=https://r.example.com/<&>\"'")
	f.Add("xn--bcher-kva.example.com=" + a + ";report-only\n192.0.2.1=" + a + "," + b + "\n[2001:db8::1]=" + a + "," + b)
	f.Fuzz(func(t *testing.T, lines string) {
		var in Input
		for _, l := range strings.Split(lines, "\n") {
			p, err := policy.ParseSpec(l)
			if err != nil {
				continue
			}
			in.Policies = append(in.Policies, p)
		}
		if len(in.Policies) == 0 || len(in.Policies) > 20 {
			return
		}
		in.Root, in.Manifest = []byte(lines), []byte(lines)
		for _, format := range FormatNames() {
			res, err := Export(format, in)
			if err != nil {
				return // an invalid set (duplicates, missing backup pins) is refused by every format alike
			}
			switch ext[format] {
			case "xml":
				var doc nscDoc
				if err := xml.Unmarshal(res.Data, &doc); err != nil {
					t.Fatalf("%s: XML does not parse: %v\n%s", format, err, res.Data)
				}
			case "plist":
				var v any
				if _, err := plist.Unmarshal(res.Data, &v); err != nil {
					t.Fatalf("%s: plist does not parse: %v\n%s", format, err, res.Data)
				}
			}
			if format == "go" && !bytes.Contains(res.Data, []byte("DO NOT EDIT")) {
				t.Fatalf("go: no generated-code line")
			}
			checkPins(t, format, in, res.Data)
		}
	})
}

// FuzzReadBaseAnchors feeds any bytes as the app's Network Security Config
// (--nsc): no panic, and whatever is returned is safe to write back.
func FuzzReadBaseAnchors(f *testing.F) {
	f.Add([]byte(`<network-security-config><base-config><trust-anchors><certificates src="@raw/my_ca"/><certificates src="system" overridePins="true"/></trust-anchors></base-config></network-security-config>`))
	f.Add([]byte(`<network-security-config><base-config/><domain-config><domain>a.example.com</domain></domain-config></network-security-config>`))
	f.Add([]byte(`<network-security-config><base-config><trust-anchors><certificates src="@raw/a&quot;b"/></trust-anchors></base-config></network-security-config>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		anchors, err := ReadBaseAnchors(data)
		if err != nil {
			return
		}
		for _, a := range anchors {
			if !trustAnchorSrc.MatchString(a.Src) {
				t.Fatalf("anchor %q returned", a.Src)
			}
		}
	})
}
