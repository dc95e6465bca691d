package android

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"pinset.dev/pinset/pin"
)

// Manifest is the transport-security part of AndroidManifest.xml.
type Manifest struct {
	Package   string
	MinSDK    int // 0 when absent (the platform then assumes 1)
	TargetSDK int // 0 when absent (the platform then uses minSdk)
	// Debuggable is android:debuggable on <application>.
	Debuggable bool
	// UsesCleartextTraffic is nil when the attribute is absent.
	UsesCleartextTraffic *bool
	// NetworkSecurityConfig is the raw android:networkSecurityConfig value
	// (a resource reference), "" when absent.
	NetworkSecurityConfig string
}

// EffectiveTargetSDK is targetSdkVersion, or minSdkVersion when the target
// is absent, as the platform does.
func (m Manifest) EffectiveTargetSDK() int {
	if m.TargetSDK > 0 {
		return m.TargetSDK
	}
	if m.MinSDK > 0 {
		return m.MinSDK
	}
	return 1
}

// ParseManifest reads the manifest tree. Values that are unresolved
// references or codenames leave the SDK fields at 0.
func ParseManifest(root *Element) (*Manifest, error) {
	if root == nil || root.Name != "manifest" {
		return nil, fmt.Errorf("not an Android manifest (root element %q)", nameOf(root))
	}
	m := &Manifest{}
	m.Package, _ = root.Attr("package")
	for _, us := range root.Child("uses-sdk") {
		if v, ok := us.Attr("minSdkVersion"); ok {
			m.MinSDK = atoi(v)
		}
		if v, ok := us.Attr("targetSdkVersion"); ok {
			m.TargetSDK = atoi(v)
		}
	}
	for _, app := range root.Child("application") {
		if v, ok := app.Attr("debuggable"); ok {
			m.Debuggable = isTrue(v)
		}
		if v, ok := app.Attr("usesCleartextTraffic"); ok {
			b := isTrue(v)
			m.UsesCleartextTraffic = &b
		}
		if v, ok := app.Attr("networkSecurityConfig"); ok {
			m.NetworkSecurityConfig = v
		}
	}
	return m, nil
}

func nameOf(e *Element) string {
	if e == nil {
		return ""
	}
	return e.Name
}

func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func isTrue(s string) bool { return strings.EqualFold(strings.TrimSpace(s), "true") }

// NSC is a parsed Network Security Config. Domain configs are flattened:
// nested <domain-config> elements appear in Domains with what they inherit
// from their parents already applied, as the platform does.
type NSC struct {
	Base    *Config // nil when there is no <base-config>
	Domains []*Config
	Debug   *Config // <debug-overrides>, nil when absent
	Path    string  // the file the config was read from
	// Refusals are the reasons Android refuses to parse this config; the
	// rest of the model is what could be read around them.
	Refusals []Refusal
}

// Refusal is one reason Android's XmlConfigSource refuses a config: it
// throws a ParserException, wrapped in a RuntimeException, and the app
// fails when it first loads its network security config.
type Refusal struct {
	Element string // where: "network-security-config/domain-config[2]/pin-set"
	Rule    string // the XmlConfigSource method and condition that throws
	Reason  string // what is wrong
	// DebugOnly is set inside <debug-overrides>, which Android parses
	// (and so refuses) only in debuggable builds.
	DebugOnly bool
}

// Config is one <base-config>, <domain-config> or <debug-overrides>.
type Config struct {
	Element string   // location: "network-security-config/domain-config[2]"
	Domains []Domain // empty for base-config and debug-overrides
	// Cleartext is cleartextTrafficPermitted; nil when neither this element
	// nor a parent domain-config sets it.
	Cleartext *bool
	// Anchors are the trust anchors in effect (nil: inherited from
	// base-config, i.e. not set here nor in a parent); AnchorsElement is
	// where they are declared.
	Anchors        []Anchor
	AnchorsElement string
	PinSet         *PinSet // nil when no pin-set applies
}

// Domain is one <domain> of a domain-config.
type Domain struct {
	Name              string
	IncludeSubdomains bool
}

// Anchor is one <certificates> element of <trust-anchors>.
type Anchor struct {
	Src string // "system", "user", "wfa", or a resource: "@raw/name" or "@0x7f..."
	// OverridePins is the attribute as written; nil when absent.
	OverridePins *bool
	// File is the resolved path of a @raw anchor ("" when not resolved);
	// Certs are what it holds (filled by the container reader).
	File  string
	Certs []pin.Item
	// Err says why a @raw anchor could not be read.
	Err error
}

// IsRaw reports whether the anchor names a bundled resource.
func (a Anchor) IsRaw() bool { return strings.HasPrefix(a.Src, "@") }

// PinSet is a <pin-set>.
type PinSet struct {
	Element string
	// Expiration is the raw expiration attribute; Expires is it read as
	// Android reads it ([ParseExpiration]; zero when absent or refused).
	Expiration string
	Expires    time.Time
	Pins       []PinEntry // the pins Android reads
	Written    int        // the <pin> elements, read or refused
}

// PinEntry is one <pin>.
type PinEntry struct {
	Digest string
	Value  string
	Pin    pin.Pin
}

// configKind is XmlConfigSource's CONFIG_BASE, CONFIG_DOMAIN, CONFIG_DEBUG.
type configKind int

const (
	kindBase configKind = iota
	kindDomain
	kindDebug
)

func (k configKind) String() string {
	return [...]string{"base-config", "domain-config", "debug-overrides"}[k]
}

// nscParser carries what XmlConfigSource carries through one parse.
type nscParser struct {
	n           *NSC
	seenDomains map[string]bool // parseNetworkSecurityConfig's seenDomains
}

func (p *nscParser) refuse(e *Element, kind configKind, rule, format string, args ...any) {
	p.n.Refusals = append(p.n.Refusals, Refusal{Element: e.Path, Rule: rule, Reason: fmt.Sprintf(format, args...), DebugOnly: kind == kindDebug})
}

// ParseNSC reads a Network Security Config tree, recording every refusal
// of XmlConfigSource (in NSC.Refusals) rather than stopping at the first.
// A root element other than <network-security-config> is an error
// (XmlUtils.beginDocument throws; for a bare file it is not an NSC at all).
func ParseNSC(root *Element) (*NSC, error) {
	if root == nil || root.Name != "network-security-config" {
		return nil, fmt.Errorf("%w (root element %q)", ErrNotNSC, nameOf(root))
	}
	p := &nscParser{n: &NSC{}, seenDomains: map[string]bool{}}
	n := p.n
	for _, c := range root.Children {
		switch c.Name {
		case "base-config":
			if n.Base != nil {
				p.refuse(c, kindBase, "parseNetworkSecurityConfig: seenBaseConfig", "only one <base-config> is allowed")
				continue
			}
			n.Base = p.parseConfig(c, nil, kindBase)[0]
		case "debug-overrides":
			// seenDebugOverrides is checked in every build.
			if n.Debug != nil {
				p.refuse(c, kindBase, "parseNetworkSecurityConfig: seenDebugOverrides", "only one <debug-overrides> is allowed")
				continue
			}
			n.Debug = p.parseConfig(c, nil, kindDebug)[0]
		case "domain-config":
			n.Domains = append(n.Domains, p.parseConfig(c, nil, kindDomain)...)
		}
	}
	return n, nil
}

// ErrNotNSC is returned by ParseNSC for a document whose root element is
// not <network-security-config>.
var ErrNotNSC = errors.New("not a network security config: Android refuses it (XmlUtils.beginDocument wants <network-security-config>)")

// parseConfig is XmlConfigSource.parseConfigEntry: e and the domain-configs
// nested in it, with what they inherit from parent applied.
func (p *nscParser) parseConfig(e *Element, parent *Config, kind configKind) []*Config {
	c := &Config{Element: e.Path}
	if parent != nil {
		c.Cleartext = parent.Cleartext
		c.Anchors = parent.Anchors
		c.AnchorsElement = parent.AnchorsElement
		c.PinSet = parent.PinSet
	}
	if v, ok := e.Attr("cleartextTrafficPermitted"); ok {
		b := isTrue(v)
		c.Cleartext = &b
	}
	out := []*Config{c}
	seenPinSet, seenTrustAnchors := false, false
	wroteDomain := false // a refused <domain> is reported once, not also as a missing one
	for _, k := range e.Children {
		switch k.Name {
		case "domain":
			if kind != kindDomain {
				p.refuse(k, kind, "parseConfigEntry: domain && configType != CONFIG_DOMAIN", "<domain> is not allowed in <%s>", kind)
				continue
			}
			wroteDomain = true
			if d, ok := p.parseDomain(k, kind); ok {
				c.Domains = append(c.Domains, d)
			}
		case "trust-anchors":
			if seenTrustAnchors {
				p.refuse(k, kind, "parseConfigEntry: seenTrustAnchors", "more than one <trust-anchors> in <%s>", kind)
				continue
			}
			seenTrustAnchors = true
			c.Anchors = []Anchor{}
			c.AnchorsElement = k.Path
			for _, cert := range k.Child("certificates") {
				if a, ok := p.parseCertificates(cert, kind); ok {
					c.Anchors = append(c.Anchors, a)
				}
			}
		case "pin-set":
			if kind != kindDomain {
				p.refuse(k, kind, "parseConfigEntry: pin-set && configType != CONFIG_DOMAIN", "<pin-set> is not allowed in <%s>", kind)
				continue
			}
			if seenPinSet {
				p.refuse(k, kind, "parseConfigEntry: seenPinSet", "more than one <pin-set> in <domain-config>")
				continue
			}
			seenPinSet = true
			c.PinSet = p.parsePinSet(k, kind)
		case "domain-config":
			if kind != kindDomain {
				p.refuse(k, kind, "parseConfigEntry: domain-config && configType != CONFIG_DOMAIN", "a nested <domain-config> is not allowed in <%s>", kind)
				continue
			}
			out = append(out, p.parseConfig(k, c, kindDomain)...)
		}
	}
	if kind == kindDomain && !wroteDomain {
		p.refuse(e, kind, "parseConfigEntry: configType == CONFIG_DOMAIN && domains.isEmpty()", "<domain-config> without a <domain>")
	}
	return out
}

// parseDomain is XmlConfigSource.parseDomain: the text, trimmed and
// lower-cased (Locale.US), nothing else inside, each name once in the
// whole file whatever includeSubdomains says.
func (p *nscParser) parseDomain(e *Element, kind configKind) (Domain, bool) {
	name := strings.ToLower(e.Text())
	switch {
	case name == "":
		p.refuse(e, kind, "parseDomain: parser.next() != TEXT", "<domain> without a name")
		return Domain{}, false
	case len(e.Children) > 0:
		p.refuse(e, kind, "parseDomain: parser.next() != END_TAG", "<domain> %s contains an element", name)
		return Domain{}, false
	case p.seenDomains[name]:
		p.refuse(e, kind, "parseDomain: !seenDomains.add(domain)", "<domain> %s appears twice (domain names are compared case-insensitively, in the whole file)", name)
		return Domain{}, false
	}
	p.seenDomains[name] = true
	d := Domain{Name: strings.TrimSuffix(name, ".")}
	if v, ok := e.Attr("includeSubdomains"); ok {
		d.IncludeSubdomains = isTrue(v)
	}
	return d, true
}

// parseCertificates is XmlConfigSource.parseCertificatesEntry: src is a
// resource reference, "system", "user" or "wfa" (exactly).
func (p *nscParser) parseCertificates(e *Element, kind configKind) (Anchor, bool) {
	a := Anchor{}
	src, ok := e.Attr("src")
	switch {
	case !ok:
		p.refuse(e, kind, "parseCertificatesEntry: sourceString == null", "<certificates> without src")
		return a, false
	case strings.HasPrefix(src, "@"), src == "system", src == "user", src == "wfa":
	default:
		p.refuse(e, kind, "parseCertificatesEntry: unknown src", `<certificates src=%q>: src must be "system", "user" or a resource (@raw/...)`, src)
		return a, false
	}
	a.Src = src
	if v, ok := e.Attr("overridePins"); ok {
		b := isTrue(v)
		a.OverridePins = &b
	}
	return a, true
}

// parsePinSet is XmlConfigSource.parsePinSet and parsePin.
func (p *nscParser) parsePinSet(e *Element, kind configKind) *PinSet {
	ps := &PinSet{Element: e.Path}
	if v, ok := e.Attr("expiration"); ok {
		ps.Expiration = v
		t, err := ParseExpiration(v)
		if err != nil {
			p.refuse(e, kind, "parsePinSet: SimpleDateFormat(\"yyyy-MM-dd\").parse throws", "expiration %q: %v", v, err)
		} else {
			ps.Expires = t
		}
	}
	for _, pe := range e.Child("pin") {
		ps.Written++
		entry := PinEntry{Value: pe.Text()}
		entry.Digest, _ = pe.Attr("digest")
		switch raw, ok := DecodeBase64(entry.Value); {
		case !strings.EqualFold(entry.Digest, "SHA-256"):
			p.refuse(pe, kind, "parsePin: !Pin.isSupportedDigestAlgorithm(digest)", "<pin digest=%q>: only SHA-256 is supported", entry.Digest)
		case entry.Value == "":
			p.refuse(pe, kind, "parsePin: parser.next() != TEXT", "<pin> without a digest")
		case len(pe.Children) > 0:
			p.refuse(pe, kind, "parsePin: parser.next() != END_TAG", "<pin> contains an element")
		case !ok:
			p.refuse(pe, kind, "parsePin: Base64.decode throws", "<pin> %q is not base64 (bad padding)", entry.Value)
		case len(raw) != 32:
			p.refuse(pe, kind, "parsePin: decodedDigest.length != 32", "<pin> %q decodes to %d bytes, not the 32 of a SHA-256", entry.Value, len(raw))
		default:
			copy(entry.Pin[:], raw)
			ps.Pins = append(ps.Pins, entry)
		}
	}
	return ps
}
