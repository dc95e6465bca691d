package trust

import (
	"fmt"
	"time"

	"pinset.dev/pinset/policy"
)

// RootDraft is what a new root is made from ('pinset root new'): the
// operator's choices and, for version N+1, the root it follows.
type RootDraft struct {
	// AppID is the app; empty takes Previous's.
	AppID string
	// Version is the root's version: 0 means 1, or Previous's plus one;
	// with Previous it must be Previous's plus one (roots are walked one
	// version at a time).
	Version uint64
	// Previous is the root this one follows, or nil. Its app, its
	// manifest lifetime limit and its log carry over unless set here.
	Previous *Root
	// Lifetime is how long the root is valid from now (more than zero).
	Lifetime time.Duration
	// MaxManifestLifetime, when not nil, replaces Previous's limit (0
	// removes it).
	MaxManifestLifetime *time.Duration
	// Log, when not nil, replaces Previous's log; a zero
	// WitnessThreshold means every witness.
	Log *Log
	// RootKeys and PinsKeys are the two roles' keys (at least one each);
	// a key in both is listed once in Keys.
	RootKeys, PinsKeys []*Key
	// RootThreshold is the root role's threshold: 0 means a majority of
	// RootKeys.
	RootThreshold int
	// PinsThreshold is the pins role's threshold.
	PinsThreshold int
}

// NewRoot assembles the root d describes, expiring d.Lifetime after now,
// and validates it. A Previous of another app is refused with ErrWrongApp,
// a version that does not follow Previous with ErrRootVersionGap, anything
// else the root's rules refuse with ErrInvalidDocument.
func NewRoot(d RootDraft, now time.Time) (*Root, error) {
	r := &Root{AppID: d.AppID, Version: d.Version, Log: d.Log}
	if p := d.Previous; p != nil {
		if r.AppID == "" {
			r.AppID = p.AppID
		} else if r.AppID != p.AppID {
			return nil, fmt.Errorf("app %q differs from the previous root's app %q: %w", r.AppID, p.AppID, ErrWrongApp)
		}
		if r.Version == 0 {
			r.Version = p.Version + 1
		} else if r.Version != p.Version+1 {
			return nil, &VersionError{Document: "root", Got: r.Version, Trusted: p.Version, Err: ErrRootVersionGap}
		}
		r.MaxManifestLifetime = p.MaxManifestLifetime
		if r.Log == nil {
			r.Log = p.Log
		}
	}
	if r.Version == 0 {
		r.Version = 1
	}
	if d.Lifetime <= 0 {
		return nil, fmt.Errorf("a root's lifetime must be longer than zero: %w", ErrInvalidDocument)
	}
	r.Expires = now.UTC().Add(d.Lifetime)
	if d.MaxManifestLifetime != nil {
		r.MaxManifestLifetime = *d.MaxManifestLifetime
	}
	if d.Log != nil && d.Log.WitnessThreshold == 0 {
		l := *d.Log
		l.WitnessThreshold = len(l.Witnesses)
		r.Log = &l
	}
	if len(d.RootKeys) == 0 || len(d.PinsKeys) == 0 {
		return nil, fmt.Errorf("a root needs at least one root key and one pins key: %w", ErrInvalidDocument)
	}
	r.RootRole = Role{KeyIDs: r.addKeys(d.RootKeys), Threshold: d.RootThreshold}
	r.PinsRole = Role{KeyIDs: r.addKeys(d.PinsKeys), Threshold: d.PinsThreshold}
	if r.RootRole.Threshold == 0 {
		r.RootRole.Threshold = len(r.RootRole.KeyIDs)/2 + 1
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// addKeys adds keys to r.Keys (once each) and returns their ids.
func (r *Root) addKeys(keys []*Key) []string {
	var ids []string
	for _, k := range keys {
		if r.Key(k.ID) == nil {
			r.Keys = append(r.Keys, k)
		}
		ids = append(ids, k.ID)
	}
	return ids
}

// NewManifest assembles a manifest of hosts bound to root's app and
// version, issued at now and valid for lifetime, and validates it: an
// enforced host without a backup pin is refused with an error matching
// policy.ErrNoBackupPin (and ErrInvalidDocument). It does not check the
// lifetime against the root's MaxManifestLifetime: verifiers do.
func NewManifest(root *Root, version uint64, hosts []policy.Policy, now time.Time, lifetime time.Duration) (*Manifest, error) {
	if lifetime <= 0 {
		return nil, fmt.Errorf("a manifest's lifetime must be longer than zero: %w", ErrInvalidDocument)
	}
	now = now.UTC()
	m := &Manifest{AppID: root.AppID, Version: version, RootVersion: root.Version, IssuedAt: now, Expires: now.Add(lifetime), Hosts: hosts}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}
