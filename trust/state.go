package trust

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/tlog"
)

// MaxRootChain caps the roots walked in one UpdateRootChain call.
const MaxRootChain = 32

// MaxClockSkew is how far in the future a manifest's issued-at may lie
// before it is refused: device clocks drift, and a manifest signed seconds
// ago on a server must not be refused for that.
const MaxClockSkew = 10 * time.Minute

// Floors are the lowest versions a State ever accepts: the versions of the
// root and manifest shipped inside the app. A document below them is
// refused with ErrBelowFloor whatever else happens (a wiped cache, a root
// rotation).
type Floors struct {
	RootVersion     uint64
	ManifestVersion uint64
}

// State is what a verifier trusts: one root, at most one manifest signed
// under a root, and the floors. It is immutable: the Update methods return
// a new State, or an error and leave the old one in force (so a failed
// update never leaves a client with fewer pins), or s itself when the
// update changes nothing. A *State is safe for concurrent use.
type State struct {
	root            *Root
	rootEnv         string // the exact envelope bytes
	rootPayload     []byte
	manifest        *Manifest
	manifestEnv     string
	manifestPayload []byte
	set             *policy.Set
	floors          Floors
	// versionReset is set when a root rotation removed a pins key: the
	// trusted manifest (perhaps fast-forwarded by the removed key) keeps
	// being enforced, but its version no longer blocks the next one.
	versionReset bool
	// highWater is the latest issued-at of an accepted manifest: a clock
	// set back before it does not make expired manifests current again.
	highWater time.Time
	// The transparency log (log.go): the newest checkpoint seen and its
	// signed note, the proof the trusted manifest came with, and preLog
	// for the service, which verifies manifests before logging them.
	checkpoint     tlog.Checkpoint
	checkpointNote []byte
	manifestProof  []byte
	preLog         bool
}

// NewState builds the initial state from the root and manifest envelopes
// shipped with the app. The root must carry a threshold of signatures by
// its own root role; the manifest (optional: nil for none) a threshold of
// the root's pins role, for the same app, bound to this root. Neither is
// checked for expiry: what an app ships is trusted as a starting point and
// kept until something newer verifies. Their versions become the floors.
func NewState(root, manifest []byte) (*State, error) {
	env, rootSrc, err := parseTyped(root, PayloadTypeRoot)
	if err != nil {
		return nil, err
	}
	r, err := DecodeRoot(env.Payload)
	if err != nil {
		return nil, err
	}
	if _, err := r.VerifyRole(RoleRoot, env); err != nil {
		return nil, err
	}
	s := &State{root: r, rootEnv: rootSrc, rootPayload: env.Payload, floors: Floors{RootVersion: r.Version}}
	if manifest == nil {
		return s, nil
	}
	// What the app ships is the starting point: no log proof is asked of
	// the bundled manifest.
	next, err := s.updateManifest(manifest, nil, time.Time{}, false, false)
	if err != nil {
		return nil, fmt.Errorf("bundled manifest: %w", err)
	}
	next.floors.ManifestVersion = next.manifest.Version
	return next, nil
}

// VerifyRootChain verifies a sequence of root envelopes: roots[0] is the
// trusted starting point (checked against its own root role, like a
// bundled root), and each later one must be the next version, signed by a
// threshold of the previous root's root role and of its own. The last root
// must not be expired at now; expired roots in between are fine. The pin
// service uses it to check an uploaded root against the published chain.
func VerifyRootChain(roots [][]byte, now time.Time) (*State, error) {
	if len(roots) == 0 {
		return nil, ErrNoRoot
	}
	s, err := NewState(roots[0], nil)
	if err != nil {
		return nil, err
	}
	if len(roots) == 1 {
		if s.RootExpired(now) {
			return nil, &ExpiredError{Document: "root", Version: s.root.Version, Expires: s.root.Expires, Now: now}
		}
		return s, nil
	}
	return s.UpdateRootChain(roots[1:], now)
}

// WithFloors returns a copy of s whose floors are raised to f (floors
// never go down). Use it when an app ships floors above its bundled
// documents.
func (s *State) WithFloors(f Floors) *State {
	n := *s
	n.floors.RootVersion = max(n.floors.RootVersion, f.RootVersion)
	n.floors.ManifestVersion = max(n.floors.ManifestVersion, f.ManifestVersion)
	return &n
}

// Root returns the trusted root. Do not modify it.
func (s *State) Root() *Root { return s.root }

// Manifest returns the trusted manifest, or nil. Do not modify it.
func (s *State) Manifest() *Manifest { return s.manifest }

// RootEnvelope returns the exact bytes of the trusted root envelope.
func (s *State) RootEnvelope() []byte { return []byte(s.rootEnv) }

// ManifestEnvelope returns the exact bytes of the trusted manifest
// envelope, or nil.
func (s *State) ManifestEnvelope() []byte {
	if s.manifestEnv == "" {
		return nil
	}
	return []byte(s.manifestEnv)
}

// Floors returns the floors in force.
func (s *State) Floors() Floors { return s.floors }

// Policies returns the trusted manifest's policies (nil without a
// manifest). With it a *State satisfies enforce.Source.
func (s *State) Policies() *policy.Set { return s.set }

// Stale reports whether the trusted manifest is missing or expired at now
// (or at the latest issue time seen, if the clock reads earlier). A stale
// manifest keeps being enforced: pinset never fails open; the app should
// refresh and tell someone.
func (s *State) Stale(now time.Time) bool {
	return s.manifest == nil || !s.effectiveNow(now).Before(s.manifest.Expires)
}

// RootExpired reports whether the trusted root is expired at now. While it
// is, no manifest update is accepted: fetch the next root first.
func (s *State) RootExpired(now time.Time) bool { return !now.Before(s.root.Expires) }

func (s *State) effectiveNow(now time.Time) time.Time {
	if now.Before(s.highWater) {
		return s.highWater
	}
	return now
}

// UpdateRoot verifies root envelope b as the next root (version N+1 of
// the trusted N) and returns the new state. It is UpdateRootChain with a
// chain of one.
func (s *State) UpdateRoot(b []byte, now time.Time) (*State, error) {
	return s.UpdateRootChain([][]byte{b}, now)
}

// UpdateRootChain walks a sequence of root envelopes, each the next
// version after the one before (N+1, N+2, ...), each signed by a threshold
// of the previous root's root role and of its own. Roots in the middle may
// have expired; the final one must not be. More than MaxRootChain
// envelopes are refused with ErrRootChainTooLong before any is verified.
//
// The trusted root itself is a no-op when offered again (same payload);
// the same version with a different payload is ErrEquivocation. When a
// rotation removes a pins-role key, the trusted manifest stays in force
// but its version stops blocking later manifests, so that a manifest
// fast-forwarded by a stolen pins key can be replaced (see docs/trust.md).
func (s *State) UpdateRootChain(chain [][]byte, now time.Time) (*State, error) {
	return s.updateRootChain(chain, now, true)
}

func (s *State) updateRootChain(chain [][]byte, now time.Time, checkExpiry bool) (*State, error) {
	if len(chain) > MaxRootChain {
		return nil, fmt.Errorf("%d roots offered: %w (at most %d per update)", len(chain), ErrRootChainTooLong, MaxRootChain)
	}
	if len(chain) == 0 {
		return s, nil
	}
	cur := s
	for i, b := range chain {
		next, err := cur.rootStep(b)
		if err != nil {
			return nil, chainError(len(chain), i, err)
		}
		cur = next
	}
	if checkExpiry && cur.RootExpired(now) {
		return nil, chainError(len(chain), len(chain)-1, &ExpiredError{Document: "root", Version: cur.root.Version, Expires: cur.root.Expires, Now: now})
	}
	return cur, nil
}

// chainError says which entry of a chain of several failed.
func chainError(n, i int, err error) error {
	if n == 1 {
		return err
	}
	return &ChainError{Index: i, Err: err}
}

// rootStep verifies one root envelope against s's root.
func (s *State) rootStep(b []byte) (*State, error) {
	env, src, err := parseTyped(b, PayloadTypeRoot)
	if err != nil {
		return nil, err
	}
	// Signatures first, over the exact bytes, by the trusted root's keys.
	if _, err := s.root.VerifyRole(RoleRoot, env); err != nil {
		return nil, err
	}
	r, err := DecodeRoot(env.Payload)
	if err != nil {
		return nil, err
	}
	if r.AppID != s.root.AppID {
		return nil, fmt.Errorf("root for app %q, trusted root is for %q: %w", r.AppID, s.root.AppID, ErrWrongApp)
	}
	if r.Version < s.floors.RootVersion {
		return nil, &VersionError{Document: "root", Got: r.Version, Trusted: s.floors.RootVersion, Err: ErrBelowFloor}
	}
	if held, err := checkHeld("root", r.Version, env.Payload, s.root.Version, s.rootPayload); err != nil {
		return nil, err
	} else if held {
		return s, nil
	}
	if r.Version != s.root.Version+1 {
		return nil, &VersionError{Document: "root", Got: r.Version, Trusted: s.root.Version, Err: ErrRootVersionGap}
	}
	// And a threshold of its own root keys: the new keys accept their role.
	if _, err := r.VerifyRole(RoleRoot, env); err != nil {
		return nil, err
	}
	n := *s
	n.root, n.rootEnv, n.rootPayload = r, src, env.Payload
	for _, id := range s.root.PinsRole.KeyIDs {
		if !slices.Contains(r.PinsRole.KeyIDs, id) {
			n.versionReset = true
		}
	}
	return &n, nil
}

// UpdateManifest verifies manifest envelope b against the trusted root
// and state, and returns the new state. In order it checks: the envelope
// (strict, size cap), the payload type, a threshold of the pins role's
// signatures over the exact bytes, the strict payload and its rules
// (including two pins per enforced host), the app id, the root version
// binding, the version (floor, rollback, same version: no-op for the same
// bytes, ErrEquivocation for others), issued-at not in the future, expiry,
// and that the trusted root itself is not expired. On any error the
// trusted state stays as it was.
//
// Under a root that names a transparency log, UpdateManifest refuses
// every manifest with ErrNotLogged: use UpdateManifestWithProof.
func (s *State) UpdateManifest(b []byte, now time.Time) (*State, error) {
	return s.updateManifest(b, nil, now, true, s.requiresLog())
}

// Restore re-verifies documents a client cached on disk on top of the
// bundled state s: the roots walked since, then the manifest (either may
// be empty). It checks everything UpdateRootChain and UpdateManifest do
// except expiry and issued-at, because a cache may outlive them and an
// expired manifest newer than the bundled one is still the best known
// (it will be reported stale). A corrupted or truncated cache fails here;
// the caller then keeps s.
//
// Under a root that names a transparency log, a manifest needs its proof:
// use RestoreLogged.
func (s *State) Restore(roots [][]byte, manifest []byte) (*State, error) {
	return s.RestoreLogged(roots, manifest, nil, nil)
}

// RestoreLogged is Restore with the log state a client cached: after the
// roots, the newest checkpoint it held (checked against the log keys of
// the trusted root; nil for none), then the manifest with the proof it was
// accepted with, checked against that checkpoint as UpdateManifestWithProof
// checks a fetched one.
func (s *State) RestoreLogged(roots [][]byte, manifest, proof, checkpoint []byte) (*State, error) {
	cur, err := s.updateRootChain(roots, time.Time{}, false)
	if err != nil {
		return nil, fmt.Errorf("cached root: %w", err)
	}
	if cur, err = cur.restoreCheckpoint(checkpoint); err != nil {
		return nil, err
	}
	if len(manifest) == 0 {
		return cur, nil
	}
	next, err := cur.updateManifest(manifest, proof, time.Time{}, false, cur.requiresLog())
	if err != nil {
		return nil, fmt.Errorf("cached manifest: %w", err)
	}
	return next, nil
}

func (s *State) updateManifest(b, proof []byte, now time.Time, checkTime, requireLog bool) (*State, error) {
	env, src, err := parseTyped(b, PayloadTypeManifest)
	if err != nil {
		return nil, err
	}
	if _, err := s.root.VerifyRole(RolePins, env); err != nil {
		return nil, err
	}
	m, set, err := decodeManifest(env.Payload)
	if err != nil {
		return nil, err
	}
	if m.AppID != s.root.AppID {
		return nil, fmt.Errorf("manifest for app %q, trusted root is for %q: %w", m.AppID, s.root.AppID, ErrWrongApp)
	}
	if m.RootVersion != s.root.Version {
		return nil, fmt.Errorf("manifest v%d is bound to root v%d, trusted root is v%d: %w", m.Version, m.RootVersion, s.root.Version, ErrRootMismatch)
	}
	if err := s.root.checkManifestLifetime(m); err != nil {
		return nil, err
	}
	if m.Version < s.floors.ManifestVersion {
		return nil, &VersionError{Document: "manifest", Got: m.Version, Trusted: s.floors.ManifestVersion, Err: ErrBelowFloor}
	}
	if s.manifest != nil && !s.versionReset {
		if held, err := checkHeld("manifest", m.Version, env.Payload, s.manifest.Version, s.manifestPayload); err != nil {
			return nil, err
		} else if held {
			return s, nil
		}
	}
	if checkTime {
		if m.IssuedAt.After(now.Add(MaxClockSkew)) {
			return nil, fmt.Errorf("manifest v%d issued at %s, after now (%s): %w", m.Version, formatTime(m.IssuedAt), formatTime(now), ErrIssuedInFuture)
		}
		if eff := s.effectiveNow(now); !eff.Before(m.Expires) {
			return nil, &ExpiredError{Document: "manifest", Version: m.Version, Expires: m.Expires, Now: eff}
		}
		if s.RootExpired(now) {
			return nil, fmt.Errorf("cannot accept manifests under an expired root: %w", &ExpiredError{Document: "root", Version: s.root.Version, Expires: s.root.Expires, Now: now})
		}
	}
	var cp tlog.Checkpoint
	var cpNote []byte
	if requireLog {
		// Last: only a manifest that passed every other check costs a
		// proof verification, and the verdict names the real mistake.
		if cp, cpNote, err = s.checkLog(b, proof, m.Version); err != nil {
			return nil, err
		}
	}
	n := *s
	n.manifest, n.manifestEnv, n.manifestPayload, n.set = m, src, env.Payload, set
	n.versionReset = false
	n.manifestProof = nil
	if requireLog {
		n.checkpoint, n.checkpointNote, n.manifestProof = cp, cpNote, append([]byte(nil), proof...)
	}
	if m.IssuedAt.After(n.highWater) {
		n.highWater = m.IssuedAt
	}
	return &n, nil
}

// parseTyped parses an envelope and checks its payload type. It also
// returns the envelope's bytes as a string: a copy of b made once by the
// parser, which the State keeps (so a caller changing b later changes
// nothing trusted).
func parseTyped(b []byte, payloadType string) (*Envelope, string, error) {
	env, src, err := parseEnvelope(b)
	if err != nil {
		return nil, "", err
	}
	if env.PayloadType != payloadType {
		return nil, "", fmt.Errorf("payload type %q, expected %q: %w", env.PayloadType, payloadType, ErrPayloadType)
	}
	return env, src, nil
}

// checkHeld compares an accepted document's version and payload with the
// one held: an older version is a rollback (ErrRollback), the same version
// with other bytes an equivocation (ErrEquivocation), and the same bytes
// are the held document again (held: nothing changes). A newer version is
// neither; what else it must satisfy is the caller's.
func checkHeld(doc string, version uint64, payload []byte, heldVersion uint64, heldPayload []byte) (held bool, err error) {
	switch {
	case version < heldVersion:
		return false, &VersionError{Document: doc, Got: version, Trusted: heldVersion, Err: ErrRollback}
	case version == heldVersion && !bytes.Equal(payload, heldPayload):
		return false, &VersionError{Document: doc, Got: version, Trusted: heldVersion, Err: ErrEquivocation}
	}
	return version == heldVersion, nil
}
