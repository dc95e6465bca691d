package trust

import (
	"encoding/base64"
	"fmt"
	"slices"
	"time"

	"pinset.dev/pinset/tlog"
)

// Role names. The root role signs roots (its keys stay offline); the pins
// role signs manifests.
const (
	RoleRoot = "root"
	RolePins = "pins"
)

// Limits of documents.
const (
	// MaxVersion is the largest version number: 2^53-1, exact in every
	// language's double-precision numbers.
	MaxVersion = 1<<53 - 1
	// MaxKeys bounds the keys of a root and the key ids of a role.
	MaxKeys = 32
	// MaxAppIDLen bounds an app id.
	MaxAppIDLen = tlog.MaxAppIDLen
	// MinManifestLifetimeLimit and MaxManifestLifetimeLimit bound a root's
	// max_manifest_lifetime (a minute to 366 days).
	MinManifestLifetimeLimit = time.Minute
	MaxManifestLifetimeLimit = 366 * 24 * time.Hour
)

// Role is a set of keys and how many of them must sign.
type Role struct {
	KeyIDs    []string
	Threshold int
}

// Root is the root document: which keys may sign roots and manifests for
// one app, and how many of them must. Root N+1 is trusted only when signed
// by a threshold of root N's root role and a threshold of its own.
type Root struct {
	AppID   string
	Version uint64
	Expires time.Time
	// MaxManifestLifetime, when not zero, is the longest a manifest signed
	// under this root may be valid for (its expires minus its issued_at):
	// a longer one is refused with ErrManifestLifetime. It bounds how long
	// a client can be held on one validly signed manifest by someone who
	// blocks its refreshes (a freeze). Whole seconds, between
	// MinManifestLifetimeLimit and MaxManifestLifetimeLimit.
	MaxManifestLifetime time.Duration
	Keys                []*Key
	RootRole            Role
	PinsRole            Role
	// Log, when set, names the transparency log every manifest under this
	// root must be in (docs/trust.md section 12).
	Log *Log
}

// Key returns the key with the given id, or nil.
func (r *Root) Key(id string) *Key {
	for _, k := range r.Keys {
		if k.ID == id {
			return k
		}
	}
	return nil
}

// Role returns the named role ("root" or "pins").
func (r *Root) Role(name string) (Role, bool) {
	switch name {
	case RoleRoot:
		return r.RootRole, true
	case RolePins:
		return r.PinsRole, true
	}
	return Role{}, false
}

// ValidAppID reports whether s is a valid app id: 1 to 128 characters of
// A-Z a-z 0-9 . _ - (it appears in URL paths of the pin service).
// Documents are decoded with it and the service routes with it; the one
// check is tlog.ValidAppID (log records carry app ids, and trust imports
// tlog), which this is.
func ValidAppID(s string) bool { return tlog.ValidAppID(s) }

// Validate checks the root's rules: app id, version, keys (allowed
// algorithm, key id = SHA-256 of the SPKI, no key twice), and both roles
// (known key ids, none twice, 1 <= threshold <= number of keys).
func (r *Root) Validate() error {
	if !ValidAppID(r.AppID) {
		return invalid("root", "app id %q: use 1 to %d characters of A-Z a-z 0-9 . _ -", r.AppID, MaxAppIDLen)
	}
	if r.Version < 1 || r.Version > MaxVersion {
		return invalid("root", "version %d out of range 1 to %d", r.Version, uint64(MaxVersion))
	}
	if r.Expires.IsZero() {
		return invalid("root", "no expiry")
	}
	if l := r.MaxManifestLifetime; l != 0 && (l < MinManifestLifetimeLimit || l > MaxManifestLifetimeLimit || l%time.Second != 0) {
		return invalid("root", "max_manifest_lifetime %v: use whole seconds from %d to %d, or leave it out for no limit",
			l, int64(MinManifestLifetimeLimit/time.Second), int64(MaxManifestLifetimeLimit/time.Second))
	}
	if len(r.Keys) == 0 || len(r.Keys) > MaxKeys {
		return invalid("root", "%d keys (expected 1 to %d)", len(r.Keys), MaxKeys)
	}
	seen := map[string]bool{}
	for _, k := range r.Keys {
		if seen[k.ID] {
			return invalid("root", "key %s listed twice", k.ID)
		}
		seen[k.ID] = true
		pk, err := parseKey(k.ID, k.Alg, k.SPKI)
		if err != nil {
			return err
		}
		k.pub = pk.pub
	}
	for _, name := range []string{RoleRoot, RolePins} {
		role, _ := r.Role(name)
		if len(role.KeyIDs) == 0 || len(role.KeyIDs) > MaxKeys {
			return invalid("root", "role %s has %d keys (expected 1 to %d)", name, len(role.KeyIDs), MaxKeys)
		}
		ids := map[string]bool{}
		for _, id := range role.KeyIDs {
			if ids[id] {
				return invalid("root", "role %s lists key %s twice", name, id)
			}
			ids[id] = true
			if !seen[id] {
				return invalid("root", "role %s names key %s, which is not in keys", name, id)
			}
		}
		if role.Threshold < 1 || role.Threshold > len(role.KeyIDs) {
			return invalid("root", "role %s threshold %d out of range 1 to %d", name, role.Threshold, len(role.KeyIDs))
		}
	}
	if r.Log != nil {
		if _, err := r.Log.verifiers(); err != nil {
			return err
		}
	}
	return nil
}

// VerifyRole counts the valid signatures of env by distinct keys of the
// named role of r, and returns a *ThresholdError when they are fewer than
// the role's threshold. Signatures by other keys are ignored, a key counts
// once however often it signs, and each key verifies with its own
// algorithm. It returns how many valid signatures it counted.
func (r *Root) VerifyRole(name string, env *Envelope) (int, error) {
	role, _ := r.Role(name)
	msg := signedMessage{payloadType: env.PayloadType, payload: env.Payload}
	te := &ThresholdError{Role: name, Version: r.Version, Threshold: role.Threshold}
	// At most MaxKeys ids: a slice is cheaper than a map.
	counted := make([]string, 0, 4)
	for _, s := range env.Signatures {
		if !slices.Contains(role.KeyIDs, s.KeyID) {
			te.Unknown++
			continue
		}
		if slices.Contains(counted, s.KeyID) {
			te.Repeated++
			continue
		}
		k := r.Key(s.KeyID)
		if k == nil || k.verifyMessage(&msg, s.Sig) != nil {
			te.Invalid++
			continue
		}
		counted = append(counted, s.KeyID)
		te.Valid++
	}
	if te.Valid < te.Threshold {
		return te.Valid, te
	}
	return te.Valid, nil
}

// checkManifestLifetime refuses a manifest whose validity (expires minus
// issued_at) is longer than r's MaxManifestLifetime. Manifests always
// carry both times, so the rule needs no clock: it holds for bundled,
// cached and fetched manifests alike.
func (r *Root) checkManifestLifetime(m *Manifest) error {
	if r.MaxManifestLifetime == 0 {
		return nil
	}
	if l := m.Expires.Sub(m.IssuedAt); l > r.MaxManifestLifetime {
		return &LifetimeError{Version: m.Version, RootVersion: r.Version, Lifetime: l, Max: r.MaxManifestLifetime}
	}
	return nil
}

type rootJSON struct {
	AppID               string              `json:"app_id"`
	Version             uint64              `json:"version"`
	Expires             string              `json:"expires"`
	MaxManifestLifetime int64               `json:"max_manifest_lifetime,omitempty"` // seconds
	Keys                []keyJSON           `json:"keys"`
	Roles               map[string]roleJSON `json:"roles"`
	Log                 *logJSON            `json:"log,omitempty"`
}

type keyJSON struct {
	KeyID string `json:"keyid"`
	Alg   string `json:"alg"`
	SPKI  string `json:"spki"`
}

type roleJSON struct {
	KeyIDs    []string `json:"keyids"`
	Threshold int      `json:"threshold"`
}

// Marshal validates the root and encodes it as the payload of a root
// envelope (indented JSON, fields in a fixed order, final newline).
func (r *Root) Marshal() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	j := rootJSON{AppID: r.AppID, Version: r.Version, Expires: formatTime(r.Expires), MaxManifestLifetime: int64(r.MaxManifestLifetime / time.Second), Roles: map[string]roleJSON{
		RoleRoot: {KeyIDs: r.RootRole.KeyIDs, Threshold: r.RootRole.Threshold},
		RolePins: {KeyIDs: r.PinsRole.KeyIDs, Threshold: r.PinsRole.Threshold},
	}}
	if r.Log != nil {
		j.Log = &logJSON{Key: r.Log.Key, Witnesses: r.Log.Witnesses, WitnessThreshold: r.Log.WitnessThreshold}
	}
	for _, k := range r.Keys {
		j.Keys = append(j.Keys, keyJSON{KeyID: k.ID, Alg: string(k.Alg), SPKI: base64.StdEncoding.EncodeToString(k.SPKI)})
	}
	return marshalIndent(j)
}

// Envelope returns an unsigned envelope around the root's payload.
func (r *Root) Envelope() (*Envelope, error) {
	b, err := r.Marshal()
	return unsigned(PayloadTypeRoot, b, err)
}

// DecodeRoot strictly decodes and validates a root payload (the bytes
// inside the envelope). It checks no signature.
func DecodeRoot(payload []byte) (*Root, error) {
	const what = "root"
	v, err := parseStrict(what, payload, MaxPayloadSize)
	if err != nil {
		return nil, err
	}
	d := dec{what}
	f, err := d.object(v, top, []string{"app_id", "version", "expires", "keys", "roles"}, []string{"max_manifest_lifetime", "log"})
	if err != nil {
		return nil, err
	}
	r := &Root{}
	if r.AppID, err = d.str(f.get("app_id"), top.dot("app_id")); err != nil {
		return nil, err
	}
	if r.Version, err = d.uint(f.get("version"), top.dot("version")); err != nil {
		return nil, err
	}
	if r.Expires, err = d.time(f.get("expires"), top.dot("expires")); err != nil {
		return nil, err
	}
	if x := f.get("max_manifest_lifetime"); x != nil {
		secs, err := d.uint(x, top.dot("max_manifest_lifetime"))
		if err != nil {
			return nil, err
		}
		if secs == 0 || secs > uint64(MaxManifestLifetimeLimit/time.Second) {
			return nil, invalid("root", "max_manifest_lifetime %d: use %d to %d seconds, or leave it out for no limit",
				secs, int64(MinManifestLifetimeLimit/time.Second), int64(MaxManifestLifetimeLimit/time.Second))
		}
		r.MaxManifestLifetime = time.Duration(secs) * time.Second
	}
	keys, err := d.array(f.get("keys"), top.dot("keys"), MaxKeys)
	if err != nil {
		return nil, err
	}
	for i, ke := range keys {
		p := top.dot("keys").at(i)
		kf, err := d.object(ke.val, p, []string{"keyid", "alg", "spki"}, nil)
		if err != nil {
			return nil, err
		}
		k := &Key{}
		if k.ID, err = d.str(kf.get("keyid"), p.dot("keyid")); err != nil {
			return nil, err
		}
		alg, err := d.str(kf.get("alg"), p.dot("alg"))
		if err != nil {
			return nil, err
		}
		k.Alg = Algorithm(alg)
		if k.SPKI, err = d.b64(kf.get("spki"), p.dot("spki")); err != nil {
			return nil, err
		}
		r.Keys = append(r.Keys, k)
	}
	rf, err := d.object(f.get("roles"), top.dot("roles"), []string{RoleRoot, RolePins}, nil)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{RoleRoot, RolePins} {
		p := top.dot("roles").dot(name)
		of, err := d.object(rf.get(name), p, []string{"keyids", "threshold"}, nil)
		if err != nil {
			return nil, err
		}
		ids, err := d.array(of.get("keyids"), p.dot("keyids"), MaxKeys)
		if err != nil {
			return nil, err
		}
		var role Role
		for i, ie := range ids {
			id, err := d.str(ie.val, p.dot("keyids").at(i))
			if err != nil {
				return nil, err
			}
			role.KeyIDs = append(role.KeyIDs, id)
		}
		t, err := d.uint(of.get("threshold"), p.dot("threshold"))
		if err != nil {
			return nil, err
		}
		role.Threshold = int(min(t, MaxKeys+1))
		if name == RoleRoot {
			r.RootRole = role
		} else {
			r.PinsRole = role
		}
	}
	if x := f.get("log"); x != nil {
		if r.Log, err = decodeLog(d, x); err != nil {
			return nil, err
		}
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// DecodeRootUnverified decodes a root envelope strictly WITHOUT checking
// any signature, for tools that display or edit documents (inspect,
// manifest new, sign). Never use its result to decide what to trust.
func DecodeRootUnverified(envelope []byte) (*Root, *Envelope, error) {
	env, err := ParseEnvelope(envelope)
	if err != nil {
		return nil, nil, err
	}
	if env.PayloadType != PayloadTypeRoot {
		return nil, nil, fmt.Errorf("payload type %q, expected %q: %w", env.PayloadType, PayloadTypeRoot, ErrPayloadType)
	}
	r, err := DecodeRoot(env.Payload)
	if err != nil {
		return nil, nil, err
	}
	return r, env, nil
}
