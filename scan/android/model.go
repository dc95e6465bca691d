package android

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/scan/internal/platformpin"
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
	Src string // "system", "user", or a resource: "@raw/name" or "@0x7f..."
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
func (a Anchor) IsRaw() bool { return a.Src != "system" && a.Src != "user" }

// PinSet is a <pin-set>.
type PinSet struct {
	Element string
	// Expiration is the raw expiration attribute; Expires is it parsed
	// (zero when absent or invalid, see ExpirationErr).
	Expiration    string
	Expires       time.Time
	ExpirationErr error
	Pins          []PinEntry
}

// PinEntry is one <pin>.
type PinEntry struct {
	Digest string
	Value  string
	Pin    pin.Pin // valid when Err is nil
	Err    error
}

// ParseNSC reads a Network Security Config tree.
func ParseNSC(root *Element) (*NSC, error) {
	if root == nil || root.Name != "network-security-config" {
		return nil, fmt.Errorf("not a network security config (root element %q)", nameOf(root))
	}
	n := &NSC{}
	for _, c := range root.Children {
		switch c.Name {
		case "base-config":
			if n.Base != nil {
				return nil, fmt.Errorf("%s: more than one <base-config>", c.Path)
			}
			n.Base = parseConfig(c, nil)
		case "debug-overrides":
			if n.Debug != nil {
				return nil, fmt.Errorf("%s: more than one <debug-overrides>", c.Path)
			}
			n.Debug = parseConfig(c, nil)
		case "domain-config":
			n.Domains = append(n.Domains, flatten(c, nil)...)
		}
	}
	return n, nil
}

func flatten(e *Element, parent *Config) []*Config {
	c := parseConfig(e, parent)
	out := []*Config{c}
	for _, k := range e.Child("domain-config") {
		out = append(out, flatten(k, c)...)
	}
	return out
}

func parseConfig(e *Element, parent *Config) *Config {
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
	for _, d := range e.Child("domain") {
		dom := Domain{Name: strings.ToLower(strings.TrimSuffix(d.Text(), "."))}
		if v, ok := d.Attr("includeSubdomains"); ok {
			dom.IncludeSubdomains = isTrue(v)
		}
		c.Domains = append(c.Domains, dom)
	}
	for _, ta := range e.Child("trust-anchors") {
		c.Anchors = []Anchor{}
		c.AnchorsElement = ta.Path
		for _, cert := range ta.Child("certificates") {
			a := Anchor{}
			a.Src, _ = cert.Attr("src")
			if v, ok := cert.Attr("overridePins"); ok {
				b := isTrue(v)
				a.OverridePins = &b
			}
			c.Anchors = append(c.Anchors, a)
		}
	}
	for _, ps := range e.Child("pin-set") {
		p := &PinSet{Element: ps.Path}
		if v, ok := ps.Attr("expiration"); ok {
			p.Expiration = v
			t, err := time.Parse("2006-01-02", strings.TrimSpace(v))
			if err != nil {
				p.ExpirationErr = fmt.Errorf("expiration %q is not yyyy-MM-dd", v)
			} else {
				p.Expires = t
			}
		}
		for _, pe := range ps.Child("pin") {
			entry := PinEntry{Value: pe.Text()}
			entry.Digest, _ = pe.Attr("digest")
			if !strings.EqualFold(entry.Digest, "SHA-256") {
				entry.Err = fmt.Errorf("digest %q is not SHA-256", entry.Digest)
			} else if pp, err := platformpin.Parse(entry.Value); err != nil {
				entry.Err = err
			} else {
				entry.Pin = pp
			}
			p.Pins = append(p.Pins, entry)
		}
		c.PinSet = p
	}
	return c
}
