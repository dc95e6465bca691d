package export

import (
	"strings"
	"testing"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/scan/android"
	"pinset.dev/pinset/scan/ipa"
)

// TestScannerReadsExport reads the exported Android and ATS files with the
// readers of 'pinset scan', an implementation written separately from the
// writers: every exported host must come back with its pins, reach and
// settings.
func TestScannerReadsExport(t *testing.T) {
	in := fullInput(t)
	set, err := policy.NewSet(in.Policies)
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"android-nsc", "trustkit-android"} {
		res, err := Export(format, in)
		if err != nil {
			t.Fatal(err)
		}
		root, err := android.ParseXML(res.Data)
		if err != nil {
			t.Fatalf("%s: scanner cannot read the XML: %v", format, err)
		}
		nsc, err := android.ParseNSC(root)
		if err != nil {
			t.Fatalf("%s: scanner cannot read the NSC: %v", format, err)
		}
		if len(nsc.Domains) == 0 {
			t.Fatalf("%s: scanner found no domain-config", format)
		}
		for _, r := range nsc.Refusals {
			t.Errorf("%s: Android would refuse the exported file: %s: %s (%s)", format, r.Element, r.Reason, r.Rule)
		}
		for _, c := range nsc.Domains {
			if c.Cleartext == nil || *c.Cleartext {
				t.Errorf("%s: %s: cleartext not refused", format, c.Element)
			}
			var srcs []string
			for _, a := range c.Anchors {
				srcs = append(srcs, a.Src)
				if a.OverridePins != nil {
					t.Errorf("%s: %s: overridePins written for %s", format, c.Element, a.Src)
				}
			}
			if strings.Join(srcs, ",") != "system,@raw/backend_ca,user" {
				t.Errorf("%s: %s: anchors %v, want the input's", format, c.Element, srcs)
			}
			if c.PinSet == nil || c.PinSet.Expires.IsZero() || c.PinSet.Expires.Format("2006-01-02") != "2027-07-01" {
				t.Errorf("%s: %s: pin-set %+v", format, c.Element, c.PinSet)
				continue
			}
			for _, d := range c.Domains {
				var got []pin.Pin
				for _, e := range c.PinSet.Pins {
					got = append(got, e.Pin)
				}
				// The policy pinset applies to the domain name itself, or for
				// a widened one-label wildcard, to a name one label below.
				want, ok := set.Match(d.Name)
				if !ok || !sameSet(want.Pins, got) {
					want, ok = set.Match("a." + d.Name)
				}
				if !ok || !sameSet(want.Pins, got) {
					t.Errorf("%s: %s: pins %v match no policy for that name", format, d.Name, got)
				}
			}
		}
	}

	res, err := Export("ios-ats", in)
	if err != nil {
		t.Fatal(err)
	}
	info, _, err := ipa.ParseInfo(res.Data)
	if err != nil {
		t.Fatalf("scanner cannot read the ATS plist: %v", err)
	}
	if info.ATS == nil || len(info.ATS.PinnedDomains) == 0 {
		t.Fatalf("scanner found no NSPinnedDomains: %+v", info.ATS)
	}
	for host, d := range info.ATS.PinnedDomains {
		var got []pin.Pin
		for _, list := range []*[]map[string]ipa.Text{d.LeafIdentities, d.CAIdentities} {
			if list == nil {
				continue
			}
			for _, id := range *list {
				q, err := pin.Parse(string(id[atsPinKey]))
				if err != nil {
					t.Errorf("ios-ats: %s: %v", host, err)
				}
				got = append(got, q)
			}
		}
		want, ok := set.Match(host)
		if !ok || !sameSet(want.Pins, got) {
			want, ok = set.Match("a." + host)
		}
		if !ok || !sameSet(want.Pins, got) {
			t.Errorf("ios-ats: %s: pins %v match no policy for that name", host, got)
		}
		if sub := d.IncludesSubdomains.Set && d.IncludesSubdomains.Value; sub != (want.IncludeSubdomains || want.Pattern[0] == '*') {
			t.Errorf("ios-ats: %s: NSIncludesSubdomains %v for %s", host, sub, want.Pattern)
		}
	}
}
