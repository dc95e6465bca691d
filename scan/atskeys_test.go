package scan

import (
	"strings"
	"testing"

	"howett.net/plist"
)

// TestATSExceptionKeys: each of the three spellings Apple gives an
// exception-domain setting (NSException…, NSTemporaryException…,
// NSThirdPartyException…) is read, and its finding points at that key.
func TestATSExceptionKeys(t *testing.T) {
	for _, prefix := range []string{"NSException", "NSTemporaryException", "NSThirdPartyException"} {
		ex := map[string]any{
			prefix + "AllowsInsecureHTTPLoads": true,
			prefix + "MinimumTLSVersion":       "TLSv1.0",
			prefix + "RequiresForwardSecrecy":  false,
		}
		info := map[string]any{"NSAppTransportSecurity": map[string]any{"NSExceptionDomains": map[string]any{"old.example.com": ex}}}
		r, err := Bytes("Info.plist", plistBytes(t, info, plist.BinaryFormat), Options{Now: fixed})
		if err != nil {
			t.Fatal(err)
		}
		for rule, key := range map[string]string{
			"IOS-ATS-INSECURE-HTTP":      prefix + "AllowsInsecureHTTPLoads",
			"IOS-ATS-TLS-MIN":            prefix + "MinimumTLSVersion",
			"IOS-ATS-NO-FORWARD-SECRECY": prefix + "RequiresForwardSecrecy",
		} {
			found := false
			for _, f := range r.Findings {
				if f.RuleID == rule && strings.HasSuffix(f.Location.Element, "/old.example.com/"+key) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no %s at %s in %+v", prefix, rule, key, r.Findings)
			}
		}
	}
}
