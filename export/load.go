package export

import (
	"errors"
	"fmt"
	"time"

	"pinset.dev/pinset/probe"
	"pinset.dev/pinset/trust"
)

// Manifest is a pin manifest read for export.
type Manifest struct {
	*trust.Manifest
	// Verified is true when the manifest's signatures were checked against
	// a trusted root (LoadManifest with a root), false when it was only
	// decoded.
	Verified bool
}

// LoadManifest reads a signed manifest envelope. With a root envelope, the
// root and the manifest are verified exactly as pinset's client SDK
// verifies what it ships with (trust.NewState: signature thresholds, app id,
// root binding; no expiry check, since apps ship documents that will
// expire). Without one, the manifest is only decoded (strictly) and
// Verified is false: say so to the user.
func LoadManifest(manifest, root []byte) (*Manifest, error) {
	if len(root) == 0 {
		m, err := trust.DecodeManifestUnverified(manifest)
		if err != nil {
			return nil, err
		}
		return &Manifest{Manifest: m}, nil
	}
	st, err := trust.NewState(root, manifest)
	if err != nil {
		return nil, err
	}
	return &Manifest{Manifest: st.Manifest(), Verified: true}, nil
}

// Describe returns the Source line for generated files, e.g.
// "pins.json (app com.example.app, manifest version 7, signatures verified)".
func (m *Manifest) Describe(name string) string {
	v := "signatures NOT verified"
	if m.Verified {
		v = "signatures verified"
	}
	return fmt.Sprintf("%s (app %s, manifest version %d, %s)", name, m.AppID, m.Version, v)
}

// ExpiredAt reports whether the manifest has expired at now.
func (m *Manifest) ExpiredAt(now time.Time) bool { return !now.Before(m.Expires) }

// ErrNoVerifiedChain is returned by AddProbe when no result has a chain.
var ErrNoVerifiedChain = errors.New("no certificate chain")

// AddProbe records the chains of live connections made by probe.Probe:
// each verified chain, or, when verification failed, the chain the server
// served (its order is still leaf first). It returns how many results had
// only an unverified chain, so that callers can say so.
func (ps Positions) AddProbe(results []probe.Result) (unverified int, err error) {
	got := 0
	var firstErr error
	for _, r := range results {
		switch {
		case len(r.VerifiedChains) > 0:
			for _, c := range r.VerifiedChains {
				ps.AddChain(c)
			}
			got++
		case len(r.ServedChain) > 0:
			ps.AddChain(r.ServedChain)
			unverified++
			got++
		case r.Err != nil && firstErr == nil:
			firstErr = r.Err
		}
	}
	if got == 0 {
		if firstErr != nil {
			return 0, firstErr
		}
		return 0, ErrNoVerifiedChain
	}
	return unverified, nil
}
