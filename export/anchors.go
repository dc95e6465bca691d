package export

import (
	"errors"
	"fmt"
	"regexp"
	"slices"

	"pinset.dev/pinset/scan/android"
)

// Trust anchors of the pinned hosts in android-nsc and trustkit-android.
//
// A <domain-config> with its own <trust-anchors> trusts exactly those
// anchors: it does not inherit the <base-config>'s (AOSP XmlConfigSource:
// the builder's certificate entries replace the parent's; only a
// domain-config WITHOUT trust-anchors inherits them). pinset writes
// trust-anchors for every pinned host, so that user-installed CAs are not
// trusted there by default; but an app that bundles its own CA in the
// base-config (<certificates src="@raw/my_ca"/>) would then stop trusting
// it for the pinned hosts, and its connections to a backend behind that CA
// would fail. Input.TrustAnchors names the anchors to write instead, usually
// the app's base-config anchors (ReadBaseAnchors).

// TrustAnchor is one <certificates> element.
type TrustAnchor struct {
	// Src is "system", "user" or a raw resource, "@raw/name".
	Src string
	// OverridePins is read from an existing configuration only to warn: a
	// chain ending at an anchor with overridePins="true" skips pinning
	// (NetworkSecurityTrustManager.isPinningEnforced), so pinset never
	// writes it.
	OverridePins bool
}

// trustAnchorSrc is what a src may be: AOSP's parseCertificatesEntry takes
// "system", "user", "wfa" or a resource reference; pinset writes system,
// user and raw resources ("@raw/name", or "@package:raw/name").
var trustAnchorSrc = regexp.MustCompile(`^(?:system|user|@(?:[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*:)?raw/[a-z0-9_]+)$`)

// ErrTrustAnchor is returned for a trust anchor pinset will not write.
var ErrTrustAnchor = errors.New("unsupported trust anchor")

// ErrNoBaseAnchors is returned by ReadBaseAnchors when the configuration has
// no <base-config> with <trust-anchors>.
var ErrNoBaseAnchors = errors.New("no <base-config> <trust-anchors>")

// ReadBaseAnchors reads an app's Network Security Config (plain XML, as in
// res/xml; read with the scanner's parser and its size and depth limits)
// and returns the trust anchors of its <base-config>.
func ReadBaseAnchors(data []byte) ([]TrustAnchor, error) {
	root, err := android.ParseXML(data)
	if err != nil {
		return nil, err
	}
	nsc, err := android.ParseNSC(root)
	if err != nil {
		return nil, err
	}
	if nsc.Base == nil || nsc.Base.AnchorsElement == "" {
		return nil, fmt.Errorf("%w: the app trusts the platform default (system CAs, and user CAs when targeting API 23 or lower)", ErrNoBaseAnchors)
	}
	var out []TrustAnchor
	for _, a := range nsc.Base.Anchors {
		if !trustAnchorSrc.MatchString(a.Src) {
			return nil, fmt.Errorf("%w: <certificates src=%q> in %s", ErrTrustAnchor, a.Src, nsc.Base.AnchorsElement)
		}
		out = append(out, TrustAnchor{Src: a.Src, OverridePins: a.OverridePins != nil && *a.OverridePins})
	}
	return out, nil
}

// nscAnchors returns the sources to write in each pinned domain-config, and
// warns about what they leave out.
func (p *prepared) nscAnchors(platform string) ([]string, error) {
	if len(p.TrustAnchors) == 0 {
		p.warn(WarnTrustAnchors, "", "%s: pinned hosts trust the system CAs only (<certificates src=\"system\"/>): a domain-config's trust-anchors replace the base-config's, so a CA the app bundles there (@raw/...) or user-installed CAs are NOT trusted for these hosts; name the app's anchors with --trust-anchor or --nsc (its current network_security_config.xml)", platform)
		return []string{"system"}, nil
	}
	var out []string
	for _, a := range p.TrustAnchors {
		if !trustAnchorSrc.MatchString(a.Src) {
			return nil, fmt.Errorf("%w %q: want system, user or @raw/name", ErrTrustAnchor, a.Src)
		}
		if a.OverridePins {
			p.warn(WarnTrustAnchors, "", "%s: %s is written without overridePins=\"true\": with it, chains ending at that anchor would skip pinning", platform, a.Src)
		}
		if !slices.Contains(out, a.Src) {
			out = append(out, a.Src)
		}
	}
	return out, nil
}
