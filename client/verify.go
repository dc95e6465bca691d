package client

import (
	"errors"
	"fmt"
	"time"

	"pinset.dev/pinset/trust"
)

// This file is the client's only contact with the verifier: every root and
// manifest, bundled, cached or fetched, goes through trust.State.

// trustError marks an error of the verifier (as opposed to one of the
// network), so a refresh can tell a rejected document from a failed fetch.
type trustError struct{ err error }

func (e *trustError) Error() string { return e.err.Error() }
func (e *trustError) Unwrap() error { return e.err }

// errNoManifest: a state without a manifest would pin nothing.
var errNoManifest = errors.New("no pin manifest: none bundled and none in the cache; bundle one, or give a pin service URL to fetch one at start")

// bundledState verifies the documents shipped with the app. manifest may be
// nil; the caller then must obtain one before enforcing.
func bundledState(root, manifest []byte, now time.Time) (*snapshot, error) {
	if len(manifest) == 0 {
		manifest = nil
	}
	ts, err := trust.NewState(root, manifest)
	if err != nil {
		return nil, err
	}
	s := &snapshot{ts: ts, source: "bundled", updated: now}
	s.derive()
	return s, nil
}

// derive fills the snapshot's summary fields and pin set from its state.
func (s *snapshot) derive() {
	s.set = s.ts.Policies()
	s.rootVersion = int64(s.ts.Root().Version)
	s.logSize = checkpointSize(s.ts.Checkpoint())
	if m := s.ts.Manifest(); m != nil {
		s.manifestVersion = int64(m.Version)
		s.issuedAt, s.expires = m.IssuedAt, m.Expires
	}
}

// hasManifest reports whether the state pins anything.
func (s *snapshot) hasManifest() bool { return s.ts.Manifest() != nil }

// applyRoot verifies the next root on top of s, in place. A root that is
// not newer than the trusted one (a cache written before the app shipped a
// newer bundled root: trust.State.OlderRoot, or the trusted root itself) is
// skipped and reported as not applied.
func (s *snapshot) applyRoot(b []byte, now time.Time) (applied bool, err error) {
	if errors.Is(s.ts.OlderRoot(b), trust.ErrRollback) {
		return false, nil
	}
	ts, err := s.ts.UpdateRoot(b, now)
	if err != nil {
		return false, &trustError{err}
	}
	if ts == s.ts {
		return false, nil
	}
	s.ts = ts
	s.roots = append(s.roots, b)
	s.derive()
	return true, nil
}

// applyManifest verifies a fetched manifest on top of s, in place,
// recording how many roots preceded it. proof is the Pinset-Log-Proof
// header that came with it (checked when the root names a log).
func (s *snapshot) applyManifest(b []byte, proofHeader string, now time.Time) error {
	proof, err := decodeProof(proofHeader, s.ts)
	if err != nil {
		return err
	}
	ts, err := s.ts.UpdateManifestWithProof(b, proof, now)
	if err != nil {
		return &trustError{err}
	}
	s.ts = ts
	s.manifest = b
	s.manifestAfter = len(s.roots)
	s.derive()
	return nil
}

// restore replays cached documents on top of s, in place, with
// trust.State.Restore: the same checks as fetched documents except expiry,
// since a cache may outlive a manifest that is still the newest known (it
// is then enforced and reported stale). Documents are replayed one at a
// time, in the order they were accepted, so that a bad one costs only
// itself and what depends on it: a root that fails ends the walk (later
// roots and a manifest bound to them cannot verify without it), a manifest
// that fails is dropped and the roots after it are still walked. Roots not
// newer than the trusted one are skipped (the app may ship a newer bundled
// root than its cache). It returns how many documents were applied and an
// error describing each one dropped.
//
// Under a root that names a transparency log the manifest is restored with
// the log proof it was accepted with and the newest checkpoint held.
func (s *snapshot) restore(roots [][]byte, manifest []byte, after int, logProof, logCheckpoint []byte) (applied int, dropped error) {
	ts := s.ts
	var errs []error
	for i := 0; i <= len(roots); i++ {
		if i == after && len(manifest) > 0 {
			next, err := ts.RestoreLogged(nil, manifest, logProof, logCheckpoint)
			switch {
			case err != nil:
				errs = append(errs, err)
			case next != ts:
				ts = next
				s.manifest, s.manifestAfter = manifest, len(s.roots)
				applied++
			}
		}
		if i == len(roots) {
			break
		}
		r := roots[i]
		if errors.Is(ts.OlderRoot(r), trust.ErrRollback) {
			continue
		}
		next, err := ts.Restore([][]byte{r}, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("root #%d of %d: %w", i+1, len(roots), err))
			if after > i && len(manifest) > 0 {
				errs = append(errs, errors.New("cached manifest dropped: it follows that root"))
			}
			break
		}
		if next == ts { // the trusted root itself
			continue
		}
		ts = next
		s.roots = append(s.roots, r)
		applied++
	}
	s.ts = ts
	s.derive()
	return applied, errors.Join(errs...)
}
