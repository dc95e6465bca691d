package export

import (
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strings"

	"golang.org/x/net/publicsuffix"

	"pinset.dev/pinset/pin"
)

// TrustKit (https://github.com/datatheorem/TrustKit and TrustKit-Android).
//
// TrustKit keys its policies by domain name; kTSKIncludeSubdomains (iOS) and
// the NSC's includeSubdomains (Android) reach every depth below the name. It
// refuses an enforced domain with fewer than two pins, has a report-only mode
// (kTSKEnforcePinning NO, enforcePinning="false") and sends failure reports
// to each domain's report URIs. Unless told otherwise it also sends every
// report to a default URI run by TrustKit's authors; the export turns that off
// (kTSKDisableDefaultReportUri, disableDefaultReportUri) so reports go only
// where the policy says.
//
// In an Info.plist the keys are the string VALUES of TrustKit's constants:
// kTSKPinnedDomains is "TSKPinnedDomains", kTSKPublicKeyHashes is
// "TSKPublicKeyHashes", and so on (TSKTrustKitConfig.m). TrustKit reads the
// TSKConfiguration dictionary from Info.plist in a library constructor and
// initialises its shared instance with it, so no code is needed.

// trustKitIOSKey is the Info.plist key TrustKit reads its configuration from
// when the app does not pass one in code.
const trustKitIOSKey = "TSKConfiguration"

func renderTrustKitIOS(p *prepared) ([]byte, error) {
	return writePlist(p, map[string]any{trustKitIOSKey: trustKitIOSConfig(p, true)})
}

// trustKitIOSConfig is TrustKit's configuration dictionary (the value of
// TSKConfiguration in Info.plist, or what TrustKit's initWithConfiguration:
// takes in code). swizzle sets TSKSwizzleNetworkDelegates, which only the
// shared instance may use (TrustKit.m, initWithConfiguration:...
// isSingleton: raises "Cannot use TSKSwizzleNetworkDelegates outside the
// TrustKit sharedInstance").
func trustKitIOSConfig(p *prepared, swizzle bool) map[string]any {
	hosts := p.domainKeyed("TrustKit", "TSKIncludeSubdomains", false)
	domains := map[string]any{}
	e := p.expiration(expiryTrustKitIOS)
	for _, h := range hosts {
		if why := trustKitRefuses(h.base()); why != "" {
			p.warn(WarnRefusedDomain, h.Pattern, "left out: TrustKit raises an exception at start-up (\"invalid domain\") for %s, %s; the host is not pinned by TrustKit", h.base(), why)
			continue
		}
		d := map[string]any{
			"TSKPublicKeyHashes":         pinStrings(h.Pins, pin.Base64),
			"TSKEnforcePinning":          !h.ReportOnly,
			"TSKIncludeSubdomains":       h.includeSubdomains,
			"TSKDisableDefaultReportUri": true,
		}
		if h.ReportURI != "" {
			d["TSKReportUris"] = []string{h.ReportURI}
		}
		if e != "" {
			d["TSKExpirationDate"] = e
		}
		domains[h.base()] = d
	}
	cfg := map[string]any{
		// Swizzling lets TrustKit check the connections of every
		// NSURLSession and NSURLConnection delegate without code changes,
		// which is what a configuration read from Info.plist is for.
		"TSKSwizzleNetworkDelegates": swizzle,
		"TSKPinnedDomains":           domains,
	}
	return cfg
}

func renderTrustKitAndroid(p *prepared) ([]byte, error) {
	const platform = "TrustKit-Android"
	hosts := p.domainKeyed(platform, `includeSubdomains="true"`, false)
	// On Android 7.0 and later the system itself reads this file and enforces
	// every <pin-set>, whatever <trustkit-config enforcePinning> says: a
	// report-only host written here would be enforced there. Leave it out.
	kept := p.dropReportOnly(`on Android 7.0+ the system reads this file and enforces every <pin-set> regardless of enforcePinning="false", so report-only cannot be expressed`, hosts, false)
	var valid []keyed
	for _, h := range kept {
		if why := trustKitAndroidRefuses(h.base()); why != "" {
			p.warn(WarnRefusedDomain, h.Pattern, "left out: TrustKit-Android throws ConfigurationException (\"Tried to pin an invalid domain\") at start-up for %s, %s; the host is not pinned by TrustKit-Android, nor by Android's own reading of this file", h.base(), why)
			continue
		}
		valid = append(valid, h)
	}
	anchors, err := p.nscAnchors(platform)
	if err != nil {
		return nil, err
	}
	return writeNSC(p, valid, anchors, p.expiration(expiryTrustKitAndroid), func(w *xmlWriter, h keyed) {
		if h.ReportURI == "" {
			w.line(2, `<trustkit-config enforcePinning="true" disableDefaultReportUri="true" />`)
			return
		}
		w.line(2, `<trustkit-config enforcePinning="true" disableDefaultReportUri="true">`)
		w.line(3, fmt.Sprintf(`<report-uri>%s</report-uri>`, esc(h.ReportURI)))
		w.line(2, `</trustkit-config>`)
	}), nil
}

// trustKitAndroidLabel and trustKitAndroidName are TrustKit-Android's
// DomainValidator DOMAIN_LABEL_REGEX and DOMAIN_NAME_REGEX (\p{Alnum} and
// \p{Alpha} are ASCII-only in java.util.regex; the atomic groups change
// nothing here because '.' is in neither character class).
const trustKitAndroidLabel = `[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?`

var trustKitAndroidName = regexp.MustCompile(`^(?:` + trustKitAndroidLabel + `\.)+([A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)\.?$`)

// trustKitAndroidRefuses says why TrustKit-Android would refuse a domain
// name, or "". DomainPinningPolicy's constructor throws ConfigurationException
// (a RuntimeException nothing catches: the app stops when TrustKit is
// initialised) unless DomainValidator.getInstance().isValid(hostname), that
// is (DomainValidator.java, isValid with allowLocal false):
//
//   - at most 253 characters (MAX_DOMAIN_LENGTH);
//   - two or more labels matching DOMAIN_NAME_REGEX, the last (TOP_LABEL_REGEX)
//     starting with a letter: so no IP literal, no single label ("localhost");
//   - a last label in the built-in IANA lists (isValidTld: infrastructure,
//     generic "Taken from Version 2016042500", country code), not the Public
//     Suffix List: ".test", ".internal", ".local" and every TLD delegated
//     after April 2016 (".music") are refused.
func trustKitAndroidRefuses(name string) string {
	switch {
	case net.ParseIP(name) != nil:
		return "an IP address (DomainValidator accepts only names whose last label starts with a letter)"
	case len(name) > 253:
		return "longer than 253 characters (DomainValidator MAX_DOMAIN_LENGTH)"
	case !strings.Contains(name, "."):
		return "a single label (DomainValidator needs a top-level domain; local names are not allowed)"
	}
	m := trustKitAndroidName.FindStringSubmatch(name)
	if m == nil {
		return "not a host name DomainValidator's DOMAIN_NAME_REGEX accepts"
	}
	if tld := strings.ToLower(m[1]); !trustKitAndroidTLDs[tld] {
		return fmt.Sprintf("whose top-level domain .%s is not in DomainValidator's built-in list (IANA, April 2016)", tld)
	}
	return ""
}

// trustKitRefuses says why TrustKit (iOS) would refuse a domain name, or
// "". TrustKit checks each domain with a Public Suffix List lookup and
// raises an exception when the name has no registry part: an IP address or
// a name under a top-level domain the list does not know (.test,
// .internal...). The exception stops the app at start-up.
func trustKitRefuses(name string) string {
	if net.ParseIP(name) != nil {
		return "an IP address"
	}
	suffix, icann := publicsuffix.PublicSuffix(name)
	if !icann && !strings.Contains(suffix, ".") {
		return fmt.Sprintf("whose top-level domain .%s is not in the Public Suffix List", suffix)
	}
	return ""
}

// TrustKitJSON renders in as TrustKit's (iOS) configuration dictionary in
// JSON, with the rules and warnings of the trustkit-ios format, for an app
// that builds a TrustKit instance at run time (JSONSerialization, then
// TrustKit(configuration:)). Network delegates are not swizzled: TrustKit
// allows that only for its shared instance, which is configured once per
// process and so cannot follow new pins.
func TrustKitJSON(in Input) ([]byte, []Warning, error) {
	p, err := prepare(in)
	if err != nil {
		return nil, nil, err
	}
	p.format = "trustkit-ios"
	b, err := json.MarshalIndent(trustKitIOSConfig(p, false), "", "  ")
	if err != nil {
		return nil, nil, err
	}
	return append(b, '\n'), p.warnings, nil
}
