package export

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

// Sources are the inputs of one export as a caller gathered them: files
// already read (size-capped by the caller), specs as typed. Exactly one of
// Manifest and Pins gives the policies.
type Sources struct {
	// Manifest is a signed manifest envelope; ManifestName names it in
	// messages and in the generated Source line (a name alone means a
	// manifest was given, even if empty). Root, when set, verifies
	// it (LoadManifest).
	Manifest     []byte
	ManifestName string
	Root         []byte
	// Pins are host policies as HOST=PIN,PIN[;options] (policy.ParseSpec).
	Pins []string
	// Hosts select part of the policies (Select); none selects all.
	Hosts []string
	// TrustAnchors are <certificates src> values; NSC is an existing
	// network_security_config.xml whose <base-config> anchors are used
	// instead (ReadBaseAnchors). At most one of them.
	TrustAnchors []string
	NSC          []byte
	NSCName      string
	// Certs are certificates, keys and CSRs read for the positions of
	// pins (leaf, intermediate, root) in the output.
	Certs []pin.Item
	// Now is the time manifests are judged expired at.
	Now time.Time
}

// Assembly is an Input built from Sources, and what the caller should say.
type Assembly struct {
	Input Input
	// ManifestVersion and ManifestExpires describe the manifest (zero
	// with Pins).
	ManifestVersion int64
	ManifestExpires time.Time
	// Warnings are for the user: an unverified or expired manifest.
	Warnings []string
}

// Errors of Assemble that callers may want to explain further.
var (
	ErrBadPinSpec   = errors.New("--pin")
	ErrAnchorsTwice = errors.New("give --nsc or --trust-anchor, not both")
	ErrNothingToDo  = errors.New("nothing to export")
	ErrSourcesTwice = errors.New("give --manifest or --pin, not both")
)

// Assemble is the one place an export's input is put together: the
// policies from a manifest (verified when a root is given; an unverified
// or expired one is a warning, not an error) or from pin specs, the host
// selection, the trust anchors and the positions of known certificates.
func Assemble(src Sources) (*Assembly, error) {
	a := &Assembly{Input: Input{Positions: NewPositions()}}
	in := &a.Input
	manifest := src.ManifestName != "" || len(src.Manifest) > 0
	switch {
	case manifest && len(src.Pins) > 0:
		return nil, ErrSourcesTwice
	case !manifest && len(src.Pins) == 0:
		return nil, ErrNothingToDo
	case (src.NSCName != "" || len(src.NSC) > 0) && len(src.TrustAnchors) > 0:
		return nil, ErrAnchorsTwice
	}
	if manifest {
		m, err := LoadManifest(src.Manifest, src.Root)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.ManifestName, err)
		}
		if !m.Verified {
			a.Warnings = append(a.Warnings, fmt.Sprintf("%s: signatures not verified (pass --root root.json to verify them)", src.ManifestName))
		}
		if m.ExpiredAt(src.Now) {
			a.Warnings = append(a.Warnings, fmt.Sprintf("%s: manifest version %d expired on %s; its pins are exported as they are", src.ManifestName, m.Version, m.Expires.UTC().Format(time.DateOnly)))
		}
		in.Policies, in.Source = m.Hosts, m.Describe(filepath.Base(src.ManifestName))
		a.ManifestExpires, a.ManifestVersion = m.Expires, int64(m.Version)
		in.Manifest, in.Root = src.Manifest, src.Root
	}
	for _, s := range src.Pins {
		p, err := policy.ParseSpec(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadPinSpec, err)
		}
		in.Policies = append(in.Policies, p)
	}
	pols, err := Select(in.Policies, src.Hosts)
	if err != nil {
		return nil, err
	}
	in.Policies = pols
	for _, s := range src.TrustAnchors {
		in.TrustAnchors = append(in.TrustAnchors, TrustAnchor{Src: s})
	}
	if src.NSCName != "" || len(src.NSC) > 0 {
		if in.TrustAnchors, err = ReadBaseAnchors(src.NSC); err != nil {
			return nil, fmt.Errorf("--nsc %s: %w", src.NSCName, err)
		}
	}
	in.Positions.AddItems(src.Certs)
	return a, nil
}
