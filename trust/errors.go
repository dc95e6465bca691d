package trust

import (
	"errors"
	"fmt"
	"time"
)

// The errors of the trust layer. Every error the verifier returns wraps
// exactly one of these sentinels, so callers branch with [errors.Is]; the
// structured ones ([*DecodeError], [*ThresholdError], [*VersionError],
// [*ExpiredError], [*LifetimeError]) carry the details for [errors.As].
var (
	// ErrMalformed: the bytes are not a well-formed envelope or document
	// under the strict decoding rules (duplicate or case-variant keys,
	// unknown fields, floats, invalid UTF-8, trailing data, bad base64...).
	ErrMalformed = errors.New("malformed")

	// ErrTooLarge: the input is over the size cap.
	ErrTooLarge = errors.New("document too large")

	// ErrPayloadType: the envelope's payloadType is not the one expected.
	ErrPayloadType = errors.New("wrong payload type")

	// ErrThreshold: fewer valid signatures by distinct keys of the role than
	// its threshold. Unknown keys, invalid signatures and repeated key ids
	// count for nothing.
	ErrThreshold = errors.New("threshold not met")

	// ErrAlgorithm: a key whose algorithm is not allowed, or whose key type
	// does not match its declared algorithm.
	ErrAlgorithm = errors.New("disallowed algorithm or key type mismatch")

	// ErrInvalidDocument: the document decodes but breaks a rule (bad app
	// id, roles, key ids, host policies, fewer than two pins on an enforced
	// host...).
	ErrInvalidDocument = errors.New("invalid document")

	// ErrWrongApp: the document is for another app.
	ErrWrongApp = errors.New("document is for another app")

	// ErrRollback: the version is lower than the trusted one.
	ErrRollback = errors.New("rollback")

	// ErrBelowFloor: the version is below the floor shipped with the app.
	// It also matches ErrRollback.
	ErrBelowFloor = fmt.Errorf("below the floor shipped with the app: %w", ErrRollback)

	// ErrEquivocation: the same version with different signed bytes. Two
	// validly signed documents claim the same version: an alarm, since it
	// means a signing key was misused or compromised.
	ErrEquivocation = errors.New("same version, different contents")

	// ErrRootVersionGap: a root whose version is not the trusted version
	// plus one (root N+2 offered when N+1 is expected).
	ErrRootVersionGap = errors.New("root version is not the next one")

	// ErrRootChainTooLong: more root rotations than MaxRootChain in one walk.
	ErrRootChainTooLong = errors.New("root chain longer than the cap")

	// ErrRootMismatch: the manifest is bound to another root version than
	// the trusted root (mix-and-match).
	ErrRootMismatch = errors.New("manifest is bound to another root version")

	// ErrExpired: the document's expiry has passed.
	ErrExpired = errors.New("expired")

	// ErrIssuedInFuture: a manifest issued after now (plus MaxClockSkew).
	ErrIssuedInFuture = errors.New("issued in the future")

	// ErrExpiresBeforeIssued: a manifest whose expiry is not after its
	// issue time.
	ErrExpiresBeforeIssued = errors.New("expires before it is issued")

	// ErrManifestLifetime: a manifest valid for longer (expires minus
	// issued_at) than its root's max_manifest_lifetime.
	ErrManifestLifetime = errors.New("manifest lifetime over the root's maximum")

	// ErrNoRoot: an operation needs a trusted root and none is set.
	ErrNoRoot = errors.New("no trusted root")

	// ErrNotLogged: the root names a transparency log and the manifest
	// came without a proof that it is in it, or with one that does not
	// show these exact bytes at that place in the log.
	ErrNotLogged = errors.New("manifest not shown to be in the transparency log")

	// ErrLogCheckpoint: the log checkpoint is not signed by the root's
	// log key, lacks the witness threshold, or names another log.
	ErrLogCheckpoint = errors.New("log checkpoint not signed as the root requires")

	// ErrLogInconsistent: the offered checkpoint is not shown consistent
	// with the newest one held (no consistency proof, or one that fails).
	ErrLogInconsistent = errors.New("log checkpoint not shown consistent with the newest one held")

	// ErrLogFork: the log signed two checkpoints of the same size with
	// different root hashes: it shows different histories to different
	// clients. An alarm.
	ErrLogFork = errors.New("ALARM: transparency log fork")
)

// DecodeError reports where strict decoding failed. It wraps ErrMalformed
// (or ErrTooLarge for the size cap).
type DecodeError struct {
	What   string // "envelope", "root", "manifest"
	Path   string // JSON path of the offending value, e.g. "hosts[2].pins[0]"
	Offset int    // byte offset in the input, -1 when unknown
	Reason string
	Err    error // ErrMalformed or ErrTooLarge
}

func (e *DecodeError) Error() string {
	s := e.What
	if s == "" {
		s = "document"
	}
	if e.Path != "" {
		s += " " + e.Path
	}
	if e.Offset >= 0 {
		s += fmt.Sprintf(" (byte %d)", e.Offset)
	}
	return s + ": " + e.Reason
}

func (e *DecodeError) Unwrap() error { return e.Err }

// ThresholdError reports a signature threshold that was not met. It wraps
// ErrThreshold.
type ThresholdError struct {
	Role      string // "root" or "pins"
	Version   uint64 // version of the root whose role was used
	Valid     int    // valid signatures by distinct keys of the role
	Threshold int
	Unknown   int // signatures by key ids not in the role
	Invalid   int // signatures by role keys that do not verify
	Repeated  int // further signatures by a key already counted
}

func (e *ThresholdError) Error() string {
	s := fmt.Sprintf("threshold not met: %d of %d %s signatures (root v%d)", e.Valid, e.Threshold, e.Role, e.Version)
	var extra []string
	if e.Unknown > 0 {
		extra = append(extra, fmt.Sprintf("%d by unknown keys", e.Unknown))
	}
	if e.Invalid > 0 {
		extra = append(extra, fmt.Sprintf("%d invalid", e.Invalid))
	}
	if e.Repeated > 0 {
		extra = append(extra, fmt.Sprintf("%d repeated", e.Repeated))
	}
	for i, x := range extra {
		if i == 0 {
			s += "; "
		} else {
			s += ", "
		}
		s += x
	}
	return s
}

func (e *ThresholdError) Unwrap() error { return ErrThreshold }

// VersionError reports a refused version. Err is ErrRollback,
// ErrBelowFloor, ErrEquivocation or ErrRootVersionGap.
type VersionError struct {
	Document string // "root" or "manifest"
	Got      uint64
	Trusted  uint64 // the trusted version (or the floor for ErrBelowFloor)
	Err      error
}

func (e *VersionError) Error() string {
	switch e.Err {
	case ErrBelowFloor:
		return fmt.Sprintf("%s version %d is below the floor %d shipped with the app", e.Document, e.Got, e.Trusted)
	case ErrEquivocation:
		return fmt.Sprintf("ALARM: %s version %d has different contents from the trusted %s version %d: two documents were signed with one version", e.Document, e.Got, e.Document, e.Trusted)
	case ErrRootVersionGap:
		return fmt.Sprintf("root version %d is not the next one: expected %d (fetch every root in between)", e.Got, e.Trusted+1)
	default:
		return fmt.Sprintf("rollback: %s version %d is lower than the trusted version %d", e.Document, e.Got, e.Trusted)
	}
}

func (e *VersionError) Unwrap() error { return e.Err }

// ChainError says which root of a chain given to UpdateRootChain failed.
type ChainError struct {
	Index int // 0-based position in the chain
	Err   error
}

func (e *ChainError) Error() string { return fmt.Sprintf("root chain entry %d: %v", e.Index+1, e.Err) }

func (e *ChainError) Unwrap() error { return e.Err }

// ExpiredError reports an expired document. It wraps ErrExpired.
type ExpiredError struct {
	Document string // "root" or "manifest"
	Version  uint64
	Expires  time.Time
	Now      time.Time
}

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("%s v%d expired at %s (now %s)", e.Document, e.Version, e.Expires.UTC().Format(time.RFC3339), e.Now.UTC().Format(time.RFC3339))
}

func (e *ExpiredError) Unwrap() error { return ErrExpired }

// LifetimeError reports a manifest valid for longer than its root allows.
// It wraps ErrManifestLifetime.
type LifetimeError struct {
	Version     uint64        // the manifest's version
	RootVersion uint64        // the root that sets the maximum
	Lifetime    time.Duration // expires - issued_at
	Max         time.Duration // the root's max_manifest_lifetime
}

func (e *LifetimeError) Error() string {
	return fmt.Sprintf("manifest v%d is valid for %s (expires - issued_at), longer than the %s root v%d allows (max_manifest_lifetime)",
		e.Version, e.Lifetime, e.Max, e.RootVersion)
}

func (e *LifetimeError) Unwrap() error { return ErrManifestLifetime }

// docError is an error with its own message that matches several
// sentinels (always ErrInvalidDocument, sometimes a cause such as
// policy.ErrNoBackupPin).
type docError struct {
	msg  string
	errs []error
}

func (e *docError) Error() string   { return e.msg }
func (e *docError) Unwrap() []error { return e.errs }

// invalid returns an ErrInvalidDocument error with a reason.
func invalid(what, format string, args ...any) error {
	return &docError{msg: what + ": " + fmt.Sprintf(format, args...), errs: []error{ErrInvalidDocument}}
}

// invalidWrap returns an ErrInvalidDocument error that also wraps cause.
func invalidWrap(what string, cause error) error {
	return &docError{msg: what + ": " + cause.Error(), errs: []error{ErrInvalidDocument, cause}}
}
