package scan

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/scan/ipa"
)

// IOS decides the findings for an iOS app read by scan/ipa.
func IOS(app *ipa.App, opts Options) *Report {
	r := newReport(app.File, "ios", app.Format)
	info := app.Info
	r.App = App{ID: string(info.BundleID), MinimumOS: string(info.MinimumOS), Plist: app.PlistFormat}
	loc := func(element string) Location {
		return Location{File: app.File, Entry: app.PlistEntry, Element: element}
	}
	var pinned []pinnedDomain
	if ats := info.ATS; ats != nil {
		atsFindings(r, ats, loc)
		pinned = append(pinned, pinnedDomainFindings(r, ats, loc)...)
	}
	if info.TrustKit != nil {
		pinned = append(pinned, trustKitFindings(r, info.TrustKit, opts, loc)...)
	}
	if len(pinned) == 0 && len(firstParty(opts)) == 0 {
		r.add(newFinding("IOS-NO-PINNING", keep, loc("NSAppTransportSecurity"),
			"Info.plist pins no domain (neither NSPinnedDomains nor a TrustKit configuration); pinning done in code cannot be seen here"))
	}
	for _, host := range firstParty(opts) {
		if !coveredIOS(pinned, host) {
			r.add(newFinding("IOS-NO-PINNING", keep, loc("NSAppTransportSecurity/NSPinnedDomains"),
				"first-party domain %s has no NSPinnedDomains (or TrustKit) entry", host))
		}
	}
	if b := app.Binary; b != nil {
		r.App.Encrypted = b.Encrypted
		if b.Encrypted {
			r.add(newFinding("IOS-BINARY-ENCRYPTED", keep, Location{File: app.File, Entry: b.Entry},
				"LC_ENCRYPTION_INFO cryptid is non-zero: the executable's strings are encrypted and were not scanned for URLs"))
		}
	}
	crossCheck(r, opts)
	urlFindings(r, "IOS-HTTP-URL", app.File, app.URLs)
	r.sort()
	return r
}

func atsFindings(r *Report, ats *ipa.ATS, loc func(string) Location) {
	const root = "NSAppTransportSecurity/"
	if ats.AllowsArbitraryLoads.True() {
		var others []string
		for name, f := range map[string]ipa.Flag{
			"NSAllowsArbitraryLoadsForMedia":     ats.AllowsArbitraryLoadsForMedia,
			"NSAllowsArbitraryLoadsInWebContent": ats.AllowsArbitraryLoadsInWebContent,
			"NSAllowsLocalNetworking":            ats.AllowsLocalNetworking,
		} {
			if f.Set {
				others = append(others, name)
			}
		}
		sort.Strings(others)
		if len(others) == 0 {
			r.add(newFinding("IOS-ATS-ARBITRARY-LOADS", keep, loc(root+"NSAllowsArbitraryLoads"),
				"NSAllowsArbitraryLoads is %s: ATS is off for every connection, cleartext HTTP and weak TLS included", ats.AllowsArbitraryLoads.Raw))
		} else {
			r.add(newFinding("IOS-ATS-ARBITRARY-LOADS", Low, loc(root+"NSAllowsArbitraryLoads"),
				"NSAllowsArbitraryLoads is %s but %s is present, so iOS 10 and later ignore it (it still disables ATS on iOS 9)",
				ats.AllowsArbitraryLoads.Raw, strings.Join(others, ", ")))
		}
	}
	if ats.AllowsArbitraryLoadsInWebContent.True() {
		r.add(newFinding("IOS-ATS-WEB-CONTENT", keep, loc(root+"NSAllowsArbitraryLoadsInWebContent"),
			"web views may load any content over cleartext or weak TLS"))
	}
	if ats.AllowsArbitraryLoadsForMedia.True() {
		r.add(newFinding("IOS-ATS-MEDIA", keep, loc(root+"NSAllowsArbitraryLoadsForMedia"),
			"AV Foundation media may load over cleartext or weak TLS"))
	}
	if ats.AllowsLocalNetworking.True() {
		r.add(newFinding("IOS-ATS-LOCAL-NETWORKING", keep, loc(root+"NSAllowsLocalNetworking"),
			"connections to unqualified and .local hosts are exempt from ATS"))
	}
	for _, domain := range sortedKeys(ats.ExceptionDomains) {
		ex := ats.ExceptionDomains[domain]
		el := root + "NSExceptionDomains/" + domain
		sub := ex.IncludesSubdomains.True()
		scope := domain
		if sub {
			scope = domain + " and all its subdomains"
		}
		exceptions := 0
		for key, f := range exceptionKeys("AllowsInsecureHTTPLoads", ex.AllowsInsecureHTTPLoads, ex.TemporaryAllowsInsecureHTTPLoads, ex.ThirdPartyAllowsInsecureHTTPLoads) {
			if f.True() {
				exceptions++
				r.add(newFinding("IOS-ATS-INSECURE-HTTP", keep, loc(el+"/"+key), "%s is %s: cleartext HTTP allowed for %s", key, f.Raw, scope))
			}
		}
		for key, v := range exceptionKeys("MinimumTLSVersion", ex.MinimumTLSVersion, ex.TemporaryMinimumTLSVersion, ex.ThirdPartyMinimumTLSVersion) {
			switch strings.ToLower(strings.TrimSpace(string(v))) {
			case "tlsv1.0", "tlsv1.1":
				exceptions++
				r.add(newFinding("IOS-ATS-TLS-MIN", keep, loc(el+"/"+key), "%s is %s: deprecated TLS accepted for %s", key, v, scope))
			}
		}
		for key, f := range exceptionKeys("RequiresForwardSecrecy", ex.RequiresForwardSecrecy, ex.TemporaryRequiresForwardSecrecy, ex.ThirdPartyRequiresForwardSecrecy) {
			if f.False() {
				exceptions++
				sev := keep
				if sub {
					sev = High // the exception reaches every subdomain
				}
				r.add(newFinding("IOS-ATS-NO-FORWARD-SECRECY", sev, loc(el+"/"+key), "%s is %s: cipher suites without forward secrecy accepted for %s", key, f.Raw, scope))
			}
		}
		if sub {
			r.add(newFinding("IOS-ATS-INCLUDES-SUBDOMAINS", keep, loc(el+"/NSIncludesSubdomains"),
				"the exceptions for %s (%d weakening) apply to every subdomain", domain, exceptions))
		}
	}
}

// exceptionKeys gives an ATS exception-domain setting under each of its
// three keys (NSException…, NSTemporaryException…, NSThirdPartyException…;
// Apple's NSAppTransportSecurity reference), with the value the plist gave.
func exceptionKeys[V any](name string, plain, temporary, thirdParty V) map[string]V {
	return map[string]V{"NSException" + name: plain, "NSTemporaryException" + name: temporary, "NSThirdPartyException" + name: thirdParty}
}

// pinnedDomain is one domain the app pins, and how far the rule reaches.
type pinnedDomain struct {
	Domain string
	// OneLabel is iOS NSPinnedDomains' NSIncludesSubdomains: exactly one
	// extra label; AnyDepth is TrustKit's TSKIncludeSubdomains.
	OneLabel, AnyDepth bool
}

func pinnedDomainFindings(r *Report, ats *ipa.ATS, loc func(string) Location) []pinnedDomain {
	var out []pinnedDomain
	for _, domain := range sortedKeys(ats.PinnedDomains) {
		pd := ats.PinnedDomains[domain]
		el := "NSAppTransportSecurity/NSPinnedDomains/" + domain
		host := strings.ToLower(strings.TrimSuffix(domain, "."))
		if (pd.CAIdentities == nil || len(*pd.CAIdentities) == 0) && (pd.LeafIdentities == nil || len(*pd.LeafIdentities) == 0) {
			r.add(newFinding("IOS-PIN-INVALID", keep, loc(el),
				"%s has neither NSPinnedCAIdentities nor NSPinnedLeafIdentities: the entry pins nothing", domain))
			continue
		}
		ok := true
		for _, set := range []struct {
			key  string
			list *[]map[string]ipa.Text
		}{{"NSPinnedCAIdentities", pd.CAIdentities}, {"NSPinnedLeafIdentities", pd.LeafIdentities}} {
			if set.list == nil {
				continue
			}
			valid := 0
			for i, id := range *set.list {
				iel := fmt.Sprintf("%s/%s[%d]", el, set.key, i)
				v, present := id[ipa.IdentityKey]
				if !present {
					r.add(newFinding("IOS-PIN-INVALID", keep, loc(iel), "identity has no %s key", ipa.IdentityKey))
					ok = false
					continue
				}
				p, err := pin.ParseBase64(strings.TrimSpace(string(v)))
				if err != nil {
					r.add(newFinding("IOS-PIN-INVALID", keep, loc(iel), "%s %q: %v", ipa.IdentityKey, string(v), err))
					ok = false
					continue
				}
				valid++
				r.Pins = appendPin(r.Pins, EmbeddedPin{Host: host, IncludeSubdomains: pd.IncludesSubdomains.True(), Pin: p, Source: "NSPinnedDomains", Location: loc(iel)})
			}
			if valid == 1 {
				r.add(newFinding("IOS-PIN-NO-BACKUP", keep, loc(el+"/"+set.key), "%s of %s has one identity: a key change bricks the connection", set.key, domain))
			}
		}
		if pd.LeafIdentities == nil || len(*pd.LeafIdentities) == 0 {
			r.add(newFinding("IOS-PIN-CA-ONLY", keep, loc(el+"/NSPinnedCAIdentities"),
				"%s is pinned to CA identities only: any certificate those CAs issue for it is accepted", domain))
		}
		if ok {
			out = append(out, pinnedDomain{Domain: host, OneLabel: pd.IncludesSubdomains.True()})
		}
	}
	return out
}

func trustKitFindings(r *Report, tk *ipa.TrustKit, opts Options, loc func(string) Location) []pinnedDomain {
	var out []pinnedDomain
	now := opts.now()
	for _, domain := range sortedKeys(tk.PinnedDomains) {
		d := tk.PinnedDomains[domain]
		el := "TSKConfiguration/TSKPinnedDomains/" + domain
		host := strings.ToLower(strings.TrimSuffix(domain, "."))
		valid := 0
		for i, h := range d.PublicKeyHashes {
			p, err := pin.ParseBase64(strings.TrimSpace(string(h)))
			if err != nil {
				r.add(newFinding("IOS-PIN-INVALID", keep, loc(fmt.Sprintf("%s/TSKPublicKeyHashes[%d]", el, i)), "TrustKit hash %q: %v", string(h), err))
				continue
			}
			valid++
			r.Pins = appendPin(r.Pins, EmbeddedPin{Host: host, IncludeSubdomains: d.IncludeSubdomains.True(), Pin: p, Source: "TrustKit",
				Location: loc(fmt.Sprintf("%s/TSKPublicKeyHashes[%d]", el, i))})
		}
		if valid == 1 {
			r.add(newFinding("IOS-PIN-NO-BACKUP", keep, loc(el+"/TSKPublicKeyHashes"), "TrustKit pins %s with one hash (TrustKit itself refuses this at start-up)", domain))
		}
		expired := false
		if exp := strings.TrimSpace(string(d.ExpirationDate)); exp != "" {
			t, err := time.Parse("2006-01-02", exp)
			switch {
			case err != nil:
				r.add(newFinding("IOS-PIN-INVALID", keep, loc(el+"/TSKExpirationDate"), "TSKExpirationDate %q is not yyyy-MM-dd", exp))
			case !now.Before(t):
				expired = true
				r.add(newFinding("IOS-TRUSTKIT-EXPIRED", keep, loc(el+"/TSKExpirationDate"),
					"TrustKit pins for %s expired on %s: TrustKit no longer enforces them", domain, exp))
			}
		}
		if valid > 0 && !expired && !d.EnforcePinning.False() {
			out = append(out, pinnedDomain{Domain: host, AnyDepth: d.IncludeSubdomains.True()})
		}
	}
	return out
}

// coveredIOS reports whether a pinned domain reaches host, with each
// platform's subdomain rule, using the policy matcher.
func coveredIOS(pinned []pinnedDomain, host string) bool {
	for _, d := range pinned {
		patterns := []string{d.Domain}
		if d.OneLabel {
			patterns = append(patterns, "*."+d.Domain)
		}
		for _, s := range patterns {
			pat, err := policy.ParsePattern(s, d.AnyDepth)
			if err != nil {
				continue
			}
			if _, ok := pat.Reach(host); ok {
				return true
			}
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
