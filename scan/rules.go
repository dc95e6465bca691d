package scan

// Rule is one kind of finding. IDs are stable: CI configurations and SARIF
// baselines refer to them.
type Rule struct {
	ID       string
	Platform string // "android", "ios" or "" for both
	Title    string
	Severity Severity // the usual severity; a finding may differ (see docs/scan.md)
	MASVS    string   // MASVS v2 control
	MASTG    string   // MASTG v2 test id, "" when none applies
	Fix      string   // one line
}

// Rules lists every finding pinset scan can emit, in report order.
var Rules = []Rule{
	// Android
	{"AND-CLEARTEXT-BASE", "android", "Cleartext traffic permitted in base-config", High, "MASVS-NETWORK-1", "MASTG-TEST-0235",
		`Set cleartextTrafficPermitted="false" on <base-config> (or remove the attribute when targeting API 28+).`},
	{"AND-CLEARTEXT-DOMAIN", "android", "Cleartext traffic permitted for a domain", High, "MASVS-NETWORK-1", "MASTG-TEST-0235",
		`Remove cleartextTrafficPermitted="true" from the <domain-config>; serve the domain over HTTPS.`},
	{"AND-CLEARTEXT-MANIFEST", "android", "usesCleartextTraffic=\"true\" without a Network Security Config", High, "MASVS-NETWORK-1", "MASTG-TEST-0235",
		`Remove android:usesCleartextTraffic="true" from <application>, or replace it with a Network Security Config that permits cleartext only where needed.`},
	{"AND-CLEARTEXT-DEFAULT", "android", "Cleartext traffic permitted by default (targetSdk 27 or lower)", High, "MASVS-NETWORK-1", "MASTG-TEST-0235",
		`Target API 28 or higher, or set android:usesCleartextTraffic="false" (or cleartextTrafficPermitted="false" in <base-config>).`},
	{"AND-USER-CA", "android", "User-installed CAs trusted outside debug-overrides", High, "MASVS-NETWORK-1", "MASTG-TEST-0286",
		`Remove <certificates src="user"/> from <trust-anchors>, or move it into <debug-overrides>.`},
	{"AND-USER-CA-DEFAULT", "android", "User-installed CAs trusted by default (targetSdk 23 or lower)", High, "MASVS-NETWORK-1", "MASTG-TEST-0285",
		`Target API 24 or higher, or declare <trust-anchors> with only <certificates src="system"/> in <base-config>.`},
	{"AND-MINSDK-USER-CA", "android", "Supports Android versions that trust user CAs (minSdk below 24)", Medium, "MASVS-NETWORK-1", "MASTG-TEST-0285",
		`Raise minSdkVersion to 24, or pin the app's own domains so that user CAs cannot intercept them on older devices.`},
	{"AND-OVERRIDE-PINS", "android", "overridePins=\"true\" outside debug-overrides", High, "MASVS-NETWORK-2", "MASTG-TEST-0242",
		`Remove overridePins="true" from the <certificates> element (keep it only inside <debug-overrides>).`},
	{"AND-DEBUG-OVERRIDES", "android", "debug-overrides present", Info, "MASVS-NETWORK-1", "",
		`Ship release builds with android:debuggable="false" (the default for release); debug-overrides then have no effect.`},
	{"AND-RAW-ANCHOR", "android", "Bundled certificate trusted as an anchor", Info, "MASVS-NETWORK-1", "",
		`Check that the bundled CA is still needed and valid; replace an expired certificate before release.`},
	{"AND-NO-PINNING", "android", "No pin-set covers a first-party domain", Medium, "MASVS-NETWORK-2", "MASTG-TEST-0242",
		`Add a <domain-config> with a <pin-set> of at least two SPKI pins (e.g. from "pinset export android-nsc --manifest pins.json") for the domain.`},
	{"AND-PIN-EXPIRED", "android", "Pin-set expired: pinning is off", High, "MASVS-NETWORK-2", "MASTG-TEST-0243",
		`Ship fresh pins with a new expiration date, or deliver pins dynamically with pinset so they never go stale.`},
	{"AND-PIN-EXPIRING", "android", "Pin-set expires soon", Low, "MASVS-NETWORK-2", "MASTG-TEST-0243",
		`Release an update with refreshed pins and a later expiration before the date passes.`},
	{"AND-PIN-NO-BACKUP", "android", "Pin-set with a single pin (no backup)", Low, "MASVS-NETWORK-2", "",
		`Add a backup pin: the SPKI of a key held offline or of a second CA.`},
	{"AND-PIN-INVALID", "android", "Pin-set that pins nothing", High, "MASVS-NETWORK-2", "",
		`Add at least two <pin digest="SHA-256"> entries ("pinset pin cert.pem" prints them) to the <pin-set>.`},
	{"AND-NSC-INVALID", "android", "Network Security Config Android refuses to parse", High, "MASVS-NETWORK-1", "",
		`Fix the element named: Android's parser (XmlConfigSource) throws on it, and the app fails when it loads the config.`},
	{"AND-NSC-UNRESOLVED", "android", "Network Security Config referenced but unresolvable or unparsable", Medium, "MASVS-NETWORK-1", "",
		`Fix the android:networkSecurityConfig reference and the XML it names; the platform falls back to defaults otherwise.`},
	{"AND-HTTP-URL", "android", "Hard-coded http:// URL", Low, "MASVS-NETWORK-1", "MASTG-TEST-0233",
		`Use https:// for the endpoint, or remove the unused URL.`},
	// iOS
	{"IOS-ATS-ARBITRARY-LOADS", "ios", "NSAllowsArbitraryLoads disables ATS", High, "MASVS-NETWORK-1", "MASTG-TEST-0322",
		`Remove NSAllowsArbitraryLoads; add NSExceptionDomains entries only for the hosts that need them.`},
	{"IOS-ATS-WEB-CONTENT", "ios", "NSAllowsArbitraryLoadsInWebContent", Medium, "MASVS-NETWORK-1", "MASTG-TEST-0322",
		`Remove NSAllowsArbitraryLoadsInWebContent unless the app is a browser.`},
	{"IOS-ATS-MEDIA", "ios", "NSAllowsArbitraryLoadsForMedia", Medium, "MASVS-NETWORK-1", "MASTG-TEST-0322",
		`Remove NSAllowsArbitraryLoadsForMedia and serve media over HTTPS.`},
	{"IOS-ATS-LOCAL-NETWORKING", "ios", "NSAllowsLocalNetworking", Low, "MASVS-NETWORK-1", "MASTG-TEST-0322",
		`Keep NSAllowsLocalNetworking only if the app must reach unqualified or .local hosts.`},
	{"IOS-ATS-INSECURE-HTTP", "ios", "Exception domain allows insecure HTTP loads", High, "MASVS-NETWORK-1", "MASTG-TEST-0322",
		`Remove NS…AllowsInsecureHTTPLoads from the exception domain and serve it over HTTPS.`},
	{"IOS-ATS-TLS-MIN", "ios", "Exception domain accepts TLS 1.0 or 1.1", High, "MASVS-NETWORK-1", "MASTG-TEST-0342",
		`Remove NS…MinimumTLSVersion (the default is TLS 1.2) or set it to TLSv1.2 or TLSv1.3.`},
	{"IOS-ATS-NO-FORWARD-SECRECY", "ios", "Exception domain turns forward secrecy off", Medium, "MASVS-NETWORK-1", "MASTG-TEST-0342",
		`Remove NS…RequiresForwardSecrecy=false and enable ECDHE cipher suites on the server.`},
	{"IOS-ATS-INCLUDES-SUBDOMAINS", "ios", "Exception domain extends to all subdomains", Info, "MASVS-NETWORK-1", "MASTG-TEST-0322",
		`Drop NSIncludesSubdomains unless every subdomain needs the same exception.`},
	{"IOS-NO-PINNING", "ios", "No NSPinnedDomains entry for a first-party domain", Medium, "MASVS-NETWORK-2", "MASTG-TEST-0385",
		`Add the domain to NSPinnedDomains with at least two SPKI-SHA256-BASE64 identities (e.g. from "pinset export ios-ats --manifest pins.json").`},
	{"IOS-PIN-INVALID", "ios", "Pinned domain the system cannot use", High, "MASVS-NETWORK-2", "MASTG-TEST-0385",
		`Give the entry NSPinnedCAIdentities or NSPinnedLeafIdentities with SPKI-SHA256-BASE64 values of 32 bytes in standard base64.`},
	{"IOS-PIN-CA-ONLY", "ios", "Pinned to CA identities only", Info, "MASVS-NETWORK-2", "MASTG-TEST-0385",
		`Acceptable; know that every certificate the CA issues for the domain is accepted.`},
	{"IOS-PIN-NO-BACKUP", "ios", "Pinned domain with a single pin (no backup)", Low, "MASVS-NETWORK-2", "",
		`Add a backup identity: the SPKI of a key held offline or of a second CA.`},
	{"IOS-TRUSTKIT-EXPIRED", "ios", "TrustKit pins expired: pinning is off", High, "MASVS-NETWORK-2", "",
		`Ship fresh pins with a later TSKExpirationDate, or deliver pins dynamically with pinset.`},
	{"IOS-BINARY-ENCRYPTED", "ios", "Executable is FairPlay-encrypted: its strings were not scanned", Info, "MASVS-NETWORK-1", "MASTG-TEST-0321",
		`Scan the build before App Store encryption (the .ipa exported from Xcode) to check its URLs.`},
	{"IOS-HTTP-URL", "ios", "Hard-coded http:// URL", Low, "MASVS-NETWORK-1", "MASTG-TEST-0321",
		`Use https:// for the endpoint, or remove the unused URL.`},
	// Both platforms
	{"PIN-UNMATCHED", "", "Embedded pin matches neither the pin manifest nor the live chain", High, "MASVS-NETWORK-2", "",
		`Replace the pin with one from the signed manifest ("pinset export FORMAT --manifest pins.json"), or remove it; a pin that matches nothing only risks an outage.`},
	{"PIN-UNCHECKED", "", "Embedded pin could not be cross-checked", Info, "MASVS-NETWORK-2", "",
		`Make the host reachable for --connect, or add it to the pin manifest.`},
}

var rulesByID = func() map[string]Rule {
	m := make(map[string]Rule, len(Rules))
	for _, r := range Rules {
		m[r.ID] = r
	}
	return m
}()

// RuleByID returns the rule with id; ok is false for an unknown id.
func RuleByID(id string) (Rule, bool) {
	r, ok := rulesByID[id]
	return r, ok
}
