package trust

import (
	"errors"
	"fmt"
	"time"

	"pinset.dev/pinset/tlog"
)

// Log names the transparency log a root requires manifests to be in
// (docs/trust.md section 12): the log's note verifier key and optional
// witness keys, of which WitnessThreshold must cosign every checkpoint.
// A root without a Log keeps manifests unlogged.
type Log struct {
	// Key is the log's note verifier key, "origin+hash+base64" (an
	// Ed25519 key; the name is the log's origin).
	Key string `json:"key"`
	// Witnesses are note verifier keys (Ed25519 or C2SP
	// cosignature/v1), at most tlog.MaxWitnesses.
	Witnesses []string `json:"witnesses,omitempty"`
	// WitnessThreshold is how many witnesses must cosign (1 to
	// len(Witnesses); 0 without witnesses).
	WitnessThreshold int `json:"witness_threshold,omitempty"`

	v *tlog.Verifiers
}

// verifiers parses the keys (once; Validate calls it).
func (l *Log) verifiers() (*tlog.Verifiers, error) {
	if l.v == nil {
		v, err := tlog.NewVerifiers(l.Key, l.Witnesses, l.WitnessThreshold)
		if err != nil {
			return nil, invalid("root", "log: %v", err)
		}
		l.v = v
	}
	return l.v, nil
}

type logJSON struct {
	Key              string   `json:"key"`
	Witnesses        []string `json:"witnesses,omitempty"`
	WitnessThreshold int      `json:"witness_threshold,omitempty"`
}

// decodeLog reads a root's "log" member strictly.
func decodeLog(d dec, v *jvalue) (*Log, error) {
	p := top.dot("log")
	f, err := d.object(v, p, []string{"key"}, []string{"witnesses", "witness_threshold"})
	if err != nil {
		return nil, err
	}
	l := &Log{}
	if l.Key, err = d.str(f.get("key"), p.dot("key")); err != nil {
		return nil, err
	}
	if w := f.get("witnesses"); w != nil {
		ws, err := d.array(w, p.dot("witnesses"), tlog.MaxWitnesses)
		if err != nil {
			return nil, err
		}
		for i, e := range ws {
			s, err := d.str(e.val, p.dot("witnesses").at(i))
			if err != nil {
				return nil, err
			}
			l.Witnesses = append(l.Witnesses, s)
		}
	}
	if t := f.get("witness_threshold"); t != nil {
		n, err := d.uint(t, p.dot("witness_threshold"))
		if err != nil {
			return nil, err
		}
		l.WitnessThreshold = int(min(n, tlog.MaxWitnesses+1))
		if n == 0 {
			return nil, invalid("root", "log.witness_threshold 0: leave it out when there are no witnesses")
		}
	}
	return l, nil
}

// logError maps a tlog verification error to the trust sentinels.
func logError(err error) error {
	switch {
	case errors.Is(err, tlog.ErrFork):
		return fmt.Errorf("%w: %w", ErrLogFork, err)
	case errors.Is(err, tlog.ErrInconsistent):
		return fmt.Errorf("%w: %w", ErrLogInconsistent, err)
	case errors.Is(err, tlog.ErrSignature):
		return fmt.Errorf("%w: %w", ErrLogCheckpoint, err)
	default: // tlog.ErrInclusion, tlog.ErrMalformed
		return fmt.Errorf("%w: %w", ErrNotLogged, err)
	}
}

// requiresLog reports whether s accepts manifests only with a log proof.
func (s *State) requiresLog() bool { return s.root.Log != nil && !s.preLog }

// checkLog verifies proof for manifest envelope b (version v) under the
// trusted root's log keys, against the newest checkpoint s holds, and
// returns the checkpoint to keep (the larger) and its note. It is the one
// place that decides whether a manifest is logged.
func (s *State) checkLog(b, proof []byte, version uint64) (tlog.Checkpoint, []byte, error) {
	v, err := s.root.Log.verifiers()
	if err != nil {
		return tlog.Checkpoint{}, nil, err
	}
	if len(proof) == 0 {
		return tlog.Checkpoint{}, nil, fmt.Errorf("manifest v%d: root v%d requires a proof that it is in the transparency log %s, and none came with it: %w",
			version, s.root.Version, v.Origin(), ErrNotLogged)
	}
	prev := s.checkpoint
	if prev.Origin != "" && prev.Origin != v.Origin() {
		prev = tlog.Checkpoint{} // a root that moved to another log starts afresh
	}
	got, err := tlog.VerifyBundle(v, proof, s.root.AppID, tlog.KindManifest, version, b, prev)
	if err != nil {
		return tlog.Checkpoint{}, nil, fmt.Errorf("manifest v%d: %w", version, logError(err))
	}
	if got.Checkpoint.Size < prev.Size {
		return prev, s.checkpointNote, nil
	}
	return got.Checkpoint, got.Signed, nil
}

// UpdateManifestWithProof is UpdateManifest for a root that names a
// transparency log: proof (a tlog.Bundle, as the pin service sends it in
// the Pinset-Log-Proof header) must show that the exact envelope b is in
// the log, under a checkpoint signed by the log key and the root's witness
// threshold, consistent with the newest checkpoint s holds (ErrNotLogged,
// ErrLogCheckpoint, ErrLogInconsistent, ErrLogFork). The newer of the two
// checkpoints is kept. Under a root without a log, proof is ignored.
func (s *State) UpdateManifestWithProof(b, proof []byte, now time.Time) (*State, error) {
	return s.updateManifest(b, proof, now, true, s.requiresLog())
}

// Checkpoint returns the newest log checkpoint s holds (a signed note), or
// nil.
func (s *State) Checkpoint() []byte { return s.checkpointNote }

// ManifestProof returns the log proof the trusted manifest was accepted
// with, or nil (a bundled manifest, or a root without a log).
func (s *State) ManifestProof() []byte { return s.manifestProof }

// PreLog returns a copy of s that accepts manifests without a log proof.
// It is for the pin service alone, which verifies a manifest exactly as
// a client would before appending it to the log; never use it on a
// client.
func (s *State) PreLog() *State {
	n := *s
	n.preLog = true
	return &n
}

// restoreCheckpoint verifies a cached checkpoint under the trusted root's
// log keys and makes it the newest held.
func (s *State) restoreCheckpoint(note []byte) (*State, error) {
	if s.root.Log == nil || len(note) == 0 {
		return s, nil
	}
	v, err := s.root.Log.verifiers()
	if err != nil {
		return nil, err
	}
	c, err := v.Open(note)
	if err != nil {
		return nil, fmt.Errorf("cached checkpoint: %w", logError(err))
	}
	n := *s
	n.checkpoint, n.checkpointNote = c, append([]byte(nil), note...)
	return &n, nil
}
