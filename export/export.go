// Package export writes pins into the configuration formats that Android and
// iOS apps consume: the platforms' own mechanisms and the common pinning
// libraries.
//
// # Input
//
// Every format renders the same [Input]: host policies (from a signed
// manifest or given directly), optional knowledge of where each pin sits in
// a certificate chain ([Positions], needed by iOS App Transport Security),
// an optional pin-set expiration date, and for the Go format the signed root
// and manifest bytes themselves. Host patterns are parsed and normalised by
// package policy; pins are written with [pin.Pin.Format].
//
// # Formats
//
//	android-nsc       res/xml/network_security_config.xml (Android 7.0+)
//	okhttp            Kotlin CertificatePinner.Builder() code
//	trustkit-ios      TrustKit's TSKConfiguration as an Info.plist fragment
//	trustkit-android  the Network Security Config with TrustKit's own tags
//	ios-ats           Info.plist NSAppTransportSecurity / NSPinnedDomains (iOS 14+)
//	alamofire         Swift ServerTrustManager with PublicKeysTrustEvaluator
//	curl              curl --pinnedpubkey 'sha256//...;sha256//...' per host
//	hpkp              Public-Key-Pins-Report-Only header values
//	go                a Go source file bundling the root and manifest for pinset's client SDK
//
// # Warnings
//
// No platform expresses every pinset policy. Where a format cannot say what
// a policy means (a one-label wildcard on iOS, report-only mode on Android,
// OkHttp accepting pins from every matching pattern, no expiry in ATS...),
// [Export] still writes the closest safe configuration and returns a
// [Warning] saying exactly what will behave differently on that platform.
// The formats and every warning are described in docs/export.md.
package export

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

// Input is what every format renders.
type Input struct {
	// Policies are the host policies to export, in the order they are
	// written. They are validated with policy.NewSet; an enforced policy
	// needs a backup pin (policy.Policy.RequireBackup).
	Policies []policy.Policy

	// Positions says, for pins found in certificate chains, whether each is
	// a leaf's key or a CA's key. Only ios-ats and alamofire use it.
	Positions Positions

	// Expiration, when not zero, is the instant until which android-nsc and
	// trustkit pin sets must stay enforced; after it the platforms fail open.
	// The platforms take a date, read as 00:00 in the device's time zone
	// (Android, TrustKit-Android) or in UTC (TrustKit iOS), and stop
	// enforcing at that instant: the date written is the first one that
	// starts no earlier than Expiration in any time zone (UTC+14 first),
	// so devices keep enforcing up to two days longer. See expiry.go.
	Expiration time.Time

	// HPKPMaxAge is the max-age directive of the hpkp format; zero means
	// DefaultHPKPMaxAge.
	HPKPMaxAge time.Duration

	// Root and Manifest are the signed root and manifest documents, bundled
	// byte for byte by the go format.
	Root, Manifest []byte

	// TrustAnchors are the <certificates> of each pinned host's
	// <trust-anchors> in android-nsc and trustkit-android, usually the app's
	// base-config anchors (ReadBaseAnchors). Empty means system only, with
	// a warning. See anchors.go.
	TrustAnchors []TrustAnchor

	// OkHttpVersion is the OkHttp major version the okhttp format writes
	// for: OkHttp4 (the default, for 4.3.0 and later, which read "**.") or
	// OkHttp3 (3.2.0 to 4.2.x, which do not: "**.x" is written as "x" and
	// "*.x", with a warning for the deeper names that are left unpinned).
	OkHttpVersion int

	// GoPackage is the package name of the go format (default "pins").
	GoPackage string

	// Source describes where the policies came from, for the comment at the
	// top of the generated file, e.g. "pins.json (app com.example.app,
	// manifest version 7)". It must not contain the time of day, so that
	// output is reproducible.
	Source string
}

// DefaultHPKPMaxAge is the hpkp format's max-age when none is given: 60 days.
const DefaultHPKPMaxAge = 60 * 24 * time.Hour

// Warning says how a platform will behave differently from the pinset
// policy it was given. Code is stable and meant for scripts and tests;
// Message is a sentence for people.
type Warning struct {
	Code    string // e.g. "one-label-wildcard"; see the Warn... constants
	Pattern string // the policy's pattern, or "" when the warning is about the whole export
	Message string
}

// String returns "pattern: message", or the message alone.
func (w Warning) String() string {
	if w.Pattern == "" {
		return w.Message
	}
	return w.Pattern + ": " + w.Message
}

// Warning codes. docs/export.md lists which formats emit each one.
const (
	WarnOneLabelWildcard = "one-label-wildcard" // *.x widened to x and more, or dropped
	WarnSubdomainDepth   = "subdomain-depth"    // include-subdomains / **. reaches fewer names
	WarnSubdomains       = "no-subdomains"      // the platform pins exact hosts only
	WarnAnyMatch         = "any-match"          // OkHttp accepts pins of every matching pattern
	WarnReportOnly       = "report-only"        // report-only policy not pinned, or enforced
	WarnEnforcedAsReport = "enforced-as-report-only"
	WarnReportURI        = "report-uri"    // the platform sends no reports
	WarnNoReportURI      = "no-report-uri" // a report-only header without a report URI
	WarnNoExpiration     = "no-expiration" // the platform has no pin-set expiry
	WarnDuplicateDomain  = "duplicate-domain"
	WarnPosition         = "chain-position" // ios-ats: where a pin sits is unknown or mixed
	WarnIPLiteral        = "ip-literal"
	WarnRefusedDomain    = "refused-domain" // the library would refuse the name at start-up
	WarnObsolete         = "obsolete"
	WarnBundledKeys      = "bundled-keys"
	WarnTrustAnchors     = "trust-anchors" // pinned hosts trust other CAs than the app's base-config
)

// Result is one generated file and the warnings that go with it.
type Result struct {
	Format   string
	Data     []byte
	Warnings []Warning
}

// Format describes one output format.
type Format struct {
	Name        string // as given to Export and on the command line
	Description string // one line
	// DefaultPath is where the file usually goes in a project, for help
	// text; it is not used to write anything.
	DefaultPath string
	// NeedsSigned is true for formats that bundle the signed documents
	// (Input.Root and Input.Manifest) rather than only the policies.
	NeedsSigned bool

	render func(*prepared) ([]byte, error)
}

var formats = []Format{
	{Name: "android-nsc", Description: "Android Network Security Config: a domain-config and pin-set per host", DefaultPath: "app/src/main/res/xml/network_security_config.xml", render: renderNSC},
	{Name: "okhttp", Description: "Kotlin code building OkHttp's CertificatePinner", DefaultPath: "CertificatePins.kt", render: renderOkHttp},
	{Name: "trustkit-ios", Description: "TrustKit (iOS) configuration as an Info.plist fragment (TSKConfiguration)", DefaultPath: "Info.plist fragment", render: renderTrustKitIOS},
	{Name: "trustkit-android", Description: "TrustKit-Android: the Network Security Config with <trustkit-config> tags", DefaultPath: "app/src/main/res/xml/network_security_config.xml", render: renderTrustKitAndroid},
	{Name: "ios-ats", Description: "iOS App Transport Security NSPinnedDomains as an Info.plist fragment", DefaultPath: "Info.plist fragment", render: renderATS},
	{Name: "alamofire", Description: "Swift code building Alamofire's ServerTrustManager with PublicKeysTrustEvaluator", DefaultPath: "PinsetTrust.swift", render: renderAlamofire},
	{Name: "curl", Description: "curl --pinnedpubkey options, one line per host", DefaultPath: "shell scripts", render: renderCurl},
	{Name: "hpkp", Description: "Public-Key-Pins-Report-Only header values, one per host", DefaultPath: "server configuration", render: renderHPKP},
	{Name: "go", Description: "Go source bundling the signed root and manifest for pinset's client SDK", DefaultPath: "pins/pins.go", NeedsSigned: true, render: renderGo},
}

// Formats returns the formats in the order documentation lists them.
func Formats() []Format { return append([]Format(nil), formats...) }

// FormatNames returns the format names, for help text and errors.
func FormatNames() []string {
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = f.Name
	}
	return names
}

// ErrUnknownFormat is returned by Export for a format it does not know.
var ErrUnknownFormat = errors.New("unknown export format")

// ErrNeedsSigned is returned by the go format when Input.Root or
// Input.Manifest is empty.
var ErrNeedsSigned = errors.New("the go format bundles the signed root and manifest: give both")

// Export renders in as the named format.
func Export(format string, in Input) (*Result, error) {
	var f *Format
	for i := range formats {
		if formats[i].Name == format {
			f = &formats[i]
		}
	}
	if f == nil {
		return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownFormat, format, strings.Join(FormatNames(), ", "))
	}
	p, err := prepare(in)
	if err != nil {
		return nil, err
	}
	p.format = f.Name
	data, err := f.render(p)
	if err != nil {
		return nil, err
	}
	return &Result{Format: f.Name, Data: data, Warnings: p.warnings}, nil
}

// host is one validated policy with its parsed pattern.
type host struct {
	policy.Policy
	pat policy.Pattern
}

// prepared is the validated input that renderers work from.
type prepared struct {
	Input
	format   string
	hosts    []host
	set      *policy.Set
	warnings []Warning
	notes    []string // lines added to the header comment by renderers
}

func prepare(in Input) (*prepared, error) {
	if len(in.Policies) == 0 {
		return nil, errors.New("nothing to export: no host policies")
	}
	set, err := policy.NewSet(in.Policies)
	if err != nil {
		return nil, err
	}
	p := &prepared{Input: in, set: set}
	for _, pol := range set.Policies() {
		if err := pol.RequireBackup(); err != nil {
			return nil, err
		}
		pat, err := policy.ParsePattern(pol.Pattern, pol.IncludeSubdomains)
		if err != nil {
			return nil, err
		}
		p.hosts = append(p.hosts, host{Policy: pol, pat: pat})
	}
	return p, nil
}

// warn records a warning for the current export.
func (p *prepared) warn(code, pattern, format string, args ...any) {
	p.warnings = append(p.warnings, Warning{Code: code, Pattern: pattern, Message: fmt.Sprintf(format, args...)})
}

// header returns the lines that open every generated file (without comment
// markers).
func (p *prepared) header() []string {
	src := p.Source
	if src == "" {
		src = "pins given on the command line"
	}
	return append([]string{
		fmt.Sprintf("Generated by pinset export %s from %s.", p.format, src),
		"Regenerate it with pinset rather than editing it by hand.",
	}, p.notes...)
}

// base returns the name a platform that keys policies by domain name uses
// for h: the pattern's base name.
func (h host) base() string { return h.pat.Base }

// coversBase reports whether the policy itself covers its base name (false
// only for one-label wildcards).
func (h host) coversBase() bool { return h.pat.Wildcard != policy.OneLabel }

// subdomains reports whether the policy reaches names below its base.
func (h host) subdomains() bool { return h.pat.Wildcard != policy.Exact }

// anyDepth reports whether the policy reaches names at any depth below its
// base (**.x, or x with include-subdomains).
func (h host) anyDepth() bool {
	return h.pat.Wildcard == policy.AnyDepth || h.pat.Wildcard == policy.Subdomain
}

// domainKeyed lays the policies out for platforms that key a configuration by
// domain name with an include-subdomains flag (Android NSC, TrustKit, ATS),
// where a name may appear only once. sub names the platform's flag, for
// messages. When several policies share a base name, the one pinset applies
// to the name itself is kept (exact, then any-depth, then one-label) and the
// others are left out with a warning naming what their names fall under
// instead. One-label wildcards are widened to the base name with
// include-subdomains, with a warning. Report-only hosts are included; the
// caller decides what to do with them.
//
// oneLevel says that the platform's flag reaches only names one label below
// (iOS ATS) rather than every depth (Android, TrustKit).
func (p *prepared) domainKeyed(platform, sub string, oneLevel bool) []keyed {
	byBase := map[string][]host{}
	for _, h := range p.hosts {
		byBase[h.base()] = append(byBase[h.base()], h)
	}
	rank := func(h host) int {
		switch h.pat.Wildcard {
		case policy.Exact:
			return 0
		case policy.OneLabel:
			return 2
		default:
			return 1
		}
	}
	keep := map[string]host{}
	for b, hs := range byBase {
		best := hs[0]
		for _, h := range hs[1:] {
			if rank(h) < rank(best) {
				best = h
			}
		}
		keep[b] = best
	}
	var out []keyed
	for _, h := range p.hosts {
		if keep[h.base()].Pattern == h.Pattern {
			out = append(out, keyed{host: h, includeSubdomains: h.subdomains()})
		}
	}
	for _, h := range p.hosts {
		k := keep[h.base()]
		if k.Pattern == h.Pattern {
			switch {
			case h.pat.Wildcard == policy.OneLabel && oneLevel:
				p.warn(WarnOneLabelWildcard, h.Pattern,
					"%s cannot pin names below a domain without the domain itself: written as %s with %s, so %s itself is pinned with these pins too",
					platform, h.base(), sub, h.base())
			case h.pat.Wildcard == policy.OneLabel:
				p.warn(WarnOneLabelWildcard, h.Pattern,
					"%s cannot pin exactly one label below a name: written as %s with %s, so %s itself and deeper names (a.b.%s) are pinned with these pins too",
					platform, h.base(), sub, h.base(), h.base())
			}
			continue
		}
		sample := "a." + h.base()
		fate := "are NOT pinned"
		if c := platformCover(out, sample, oneLevel); c != "" {
			fate = "follow the pins of " + c
		}
		p.warn(WarnDuplicateDomain, h.Pattern,
			"left out: %s allows one entry per domain name and the entry for %s goes to %s; on %s, names below %s (such as %s) %s",
			platform, h.base(), k.Pattern, platform, h.base(), sample, fate)
	}
	return out
}

// platformCover returns the pattern of the most specific entry whose
// platform reach (the name, and every name below it when include-subdomains
// is set) covers name, or "". The reach is computed by package policy.
//
// With oneLevel, include-subdomains reaches one label below the name only.
func platformCover(entries []keyed, name string, oneLevel bool) string {
	best, bestRank := "", 0
	for _, e := range entries {
		var pats []string
		switch {
		case !e.includeSubdomains:
			pats = []string{e.base()}
		case oneLevel:
			pats = []string{e.base(), "*." + e.base()}
		default:
			pats = []string{"**." + e.base()}
		}
		for _, s := range pats {
			pat, err := policy.ParsePattern(s, false)
			if err != nil {
				continue
			}
			if r, ok := pat.Reach(name); ok && r > bestRank {
				best, bestRank = e.Pattern, r
			}
		}
	}
	return best
}

type keyed struct {
	host
	includeSubdomains bool
}

// dropReportOnly removes report-only hosts for platforms that cannot
// express them, warning for each (why says what the platform lacks), and
// says when a broader enforced policy will now apply to the dropped host's
// names instead. With oneLevel, include-subdomains reaches one label only.
func (p *prepared) dropReportOnly(why string, hosts []keyed, oneLevel bool) []keyed {
	var out, kept []keyed
	for _, k := range hosts {
		if !k.ReportOnly {
			kept = append(kept, k)
		}
	}
	for _, k := range hosts {
		if !k.ReportOnly {
			out = append(out, k)
			continue
		}
		name := k.base()
		if !k.coversBase() {
			name = "a." + name
		}
		if broader := platformCover(kept, name, oneLevel); broader != "" {
			p.warn(WarnReportOnly, k.Pattern, "left out: %s; %s, an enforced policy, covers %s there instead, so its pins ARE enforced on it", why, broader, name)
		} else {
			p.warn(WarnReportOnly, k.Pattern, "left out: %s, so this host is not pinned there and no failures are reported", why)
		}
	}
	return out
}

// warnReportURI warns for every kept host with a report URI on a platform
// that sends no reports.
func (p *prepared) warnReportURI(platform string, hosts []keyed) {
	for _, k := range hosts {
		if k.ReportURI != "" {
			p.warn(WarnReportURI, k.Pattern, "%s sends no pin-failure reports: failures are not reported to %s", platform, k.ReportURI)
		}
	}
}

// warnNoExpiration warns once when an expiration date was asked for but the
// platform cannot express it.
func (p *prepared) warnNoExpiration(platform string) {
	if !p.Expiration.IsZero() {
		p.warn(WarnNoExpiration, "", "%s has no pin-set expiration: the pins stay enforced after %s", platform, p.until())
	}
}

// pinStrings writes pins in a spelling.
func pinStrings(pins []pin.Pin, f pin.Format) []string {
	out := make([]string, len(pins))
	for i, q := range pins {
		out[i] = q.Format(f)
	}
	return out
}
