package tlog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Witnesses (docs/trust.md section 12, "Witnesses"): the pin service asks
// each configured witness to cosign a new checkpoint with the C2SP
// tlog-witness add-checkpoint call; a witness cosigns only a checkpoint
// consistent with the last one it cosigned for that log, so a log that
// shows two histories cannot get both cosigned by the same witnesses.

// Limits of the witness protocol.
const (
	// MaxWitnessProof is the most consistency proof lines an
	// add-checkpoint request may carry (C2SP tlog-witness: 63).
	MaxWitnessProof = 63
	// MaxAddCheckpointSize bounds an add-checkpoint request body: the old
	// size line, 63 proof lines, the empty line and a checkpoint.
	MaxAddCheckpointSize = 32 + MaxWitnessProof*45 + 1 + MaxCheckpointSize
	// MaxCosignatureResponse bounds a witness's answer (signature lines).
	MaxCosignatureResponse = 4 << 10
)

// SizeContentType is the media type of a witness's 409 answer: the tree
// size it last cosigned, in decimal, and a newline (C2SP tlog-witness).
const SizeContentType = "text/x.tlog.size"

// A Cosigner is a witness's key: it cosigns checkpoints as C2SP
// tlog-cosignature/v1 (Ed25519, key algorithm 0x04), each cosignature
// timestamped with the time from its clock.
type Cosigner struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
	now  func() time.Time
}

// NewCosigner returns the cosigner named name (a schema-less URL such as
// "witness.example.org/w1") for key, stamping cosignatures with now.
func NewCosigner(name string, key ed25519.PrivateKey, now func() time.Time) (*Cosigner, error) {
	if !validName(name) {
		return nil, fmt.Errorf("witness name %q: use up to %d printable characters without spaces or '+'", name, maxOrigin)
	}
	pub := key.Public().(ed25519.PublicKey)
	return &Cosigner{name: name, hash: keyHash(name, append([]byte{algCosignature}, pub...)), key: key, now: now}, nil
}

func (c *Cosigner) Name() string    { return c.name }
func (c *Cosigner) KeyHash() uint32 { return c.hash }

// Sign returns the cosignature/v1 timestamped signature of a checkpoint
// body: 8 bytes of big-endian Unix time, then Ed25519 over
// "cosignature/v1\ntime T\n" || body.
func (c *Cosigner) Sign(body []byte) ([]byte, error) {
	t := c.now().Unix()
	if t < 0 {
		return nil, fmt.Errorf("cosignature time %d before 1970", t)
	}
	sig := binary.BigEndian.AppendUint64(nil, uint64(t))
	return append(sig, ed25519.Sign(c.key, cosignedMessage(uint64(t), body))...), nil
}

func cosignedMessage(t uint64, body []byte) []byte {
	return fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", t, body)
}

// VerifierKey returns the witness's verifier key, "name+hash+base64(0x04
// || public key)": the value a root lists in log.witnesses.
func (c *Cosigner) VerifierKey() string {
	pub := c.key.Public().(ed25519.PublicKey)
	return fmt.Sprintf("%s+%08x+%s", c.name, c.hash, b64(append([]byte{algCosignature}, pub...)))
}

// Cosign returns the signature lines of c over the checkpoint body of
// signed (a verified checkpoint note): the body of a 200 answer to
// add-checkpoint.
func (c *Cosigner) Cosign(body []byte) ([]byte, error) {
	out, err := note.Sign(&note.Note{Text: string(body)}, c)
	if err != nil {
		return nil, err
	}
	return out[len(body)+1:], nil
}

// ParseWitnessKey parses a witness verifier key (Ed25519 note key 0x01 or
// cosignature/v1 key 0x04), as a root lists it.
func ParseWitnessKey(vkey string) (note.Verifier, error) {
	return parseVerifierKey(vkey, algEd25519, algCosignature)
}

// ParseLogKey parses a log verifier key (Ed25519, 0x01).
func ParseLogKey(vkey string) (note.Verifier, error) { return parseVerifierKey(vkey, algEd25519) }

// AddCheckpoint is the body of a C2SP tlog-witness add-checkpoint request:
//
//	old <size>
//	<base64 hash>            (0 to 63 lines: the consistency proof from old to the checkpoint's size)
//	<empty line>
//	<the signed checkpoint>
type AddCheckpoint struct {
	OldSize    int64
	Proof      []Hash
	Checkpoint []byte // signed note
}

// Marshal encodes a.
func (a *AddCheckpoint) Marshal() []byte {
	b := fmt.Appendf(nil, "old %d\n", a.OldSize)
	for _, h := range a.Proof {
		b = append(b, base64.StdEncoding.EncodeToString(h[:])...)
		b = append(b, '\n')
	}
	b = append(b, '\n')
	return append(b, a.Checkpoint...)
}

// ParseAddCheckpoint decodes an add-checkpoint body strictly (at most
// MaxAddCheckpointSize bytes, the old size in decimal without leading
// zeros, at most 63 proof hashes of 32 bytes in padded standard base64,
// none when old is 0). It verifies nothing. Errors wrap ErrMalformed.
func ParseAddCheckpoint(data []byte) (*AddCheckpoint, error) {
	lines, cp, err := splitHead("add-checkpoint", data, MaxAddCheckpointSize, func(n int) error {
		if n > 1+MaxWitnessProof {
			return malformed("add-checkpoint", "%d proof lines, at most %d", n-1, MaxWitnessProof)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	n := len(lines)
	old, ok := strings.CutPrefix(lines[0], "old ")
	if !ok {
		return nil, malformed("add-checkpoint", "first line %q: expected \"old SIZE\"", lines[0])
	}
	u, err := parseUint("add-checkpoint", old)
	if err != nil {
		return nil, err
	}
	a := &AddCheckpoint{OldSize: int64(u), Checkpoint: cp}
	if a.OldSize == 0 && n > 1 {
		return nil, malformed("add-checkpoint", "a consistency proof from size 0")
	}
	for i, l := range lines[1:] {
		var h Hash
		raw, err := base64.StdEncoding.Strict().DecodeString(l)
		if err != nil || len(raw) != len(h) {
			return nil, malformed("add-checkpoint", "proof line %d is not 32 bytes of standard base64", i+1)
		}
		copy(h[:], raw)
		a.Proof = append(a.Proof, h)
	}
	return a, nil
}

// ProveConsistency returns the consistency proof from tree size old to
// size (old <= size), reading hashes from r; none when old is 0 or equal.
func ProveConsistency(r HashReader, size, old int64) ([]Hash, error) {
	if old == 0 || old == size {
		return nil, nil
	}
	return tlog.ProveTree(size, old, r)
}

// CheckWitnessConsistency is a witness's decision on a checkpoint c
// offered with a, against the latest checkpoint it cosigned for the
// origin (prev; Size 0 and a zero hash: none):
//
//   - a.OldSize above c.Size: ErrMalformed (answer 400);
//   - a.OldSize not prev.Size: ErrConflict (409, with prev.Size);
//   - equal sizes with another root hash: ErrFork (409);
//   - a consistency proof that does not verify: ErrInconsistent (422).
func CheckWitnessConsistency(prev, c Checkpoint, a *AddCheckpoint) error {
	switch {
	case a.OldSize > c.Size:
		return malformed("add-checkpoint", "old size %d above the checkpoint's %d", a.OldSize, c.Size)
	case a.OldSize != prev.Size:
		return fmt.Errorf("old size %d, but the last checkpoint cosigned has size %d: %w", a.OldSize, prev.Size, ErrConflict)
	case prev.Size == c.Size:
		if prev.Hash != c.Hash {
			return fmt.Errorf("tree size %d: cosigned root hash %s, offered %s: %w", c.Size, prev.Hash, c.Hash, ErrFork)
		}
		if len(a.Proof) != 0 {
			return fmt.Errorf("a consistency proof between equal sizes: %w", ErrInconsistent)
		}
		return nil
	case prev.Size == 0:
		return nil // the first checkpoint of this log (ParseAddCheckpoint refused a proof)
	}
	if err := tlog.CheckTree(a.Proof, c.Size, c.Hash, prev.Size, prev.Hash); err != nil {
		return fmt.Errorf("consistency proof from size %d to %d: %v: %w", prev.Size, c.Size, err, ErrInconsistent)
	}
	return nil
}

// AddCosignatures returns the checkpoint note signed with the valid
// cosignatures of witness w found in resp (a witness's 200 answer: note
// signature lines), and how many it added. Lines by other keys are
// ignored; a line by w that does not verify, or an answer that is not
// signature lines, is an error wrapping ErrSignature or ErrMalformed.
func AddCosignatures(signed, resp []byte, w note.Verifier) ([]byte, int, error) {
	if len(resp) > MaxCosignatureResponse {
		return nil, 0, malformed("cosignature", "answer of %d bytes, over the cap of %d", len(resp), MaxCosignatureResponse)
	}
	if len(resp) == 0 || resp[len(resp)-1] != '\n' || !bytes.HasPrefix(resp, []byte("— ")) || bytes.Contains(resp, []byte("\n\n")) {
		return nil, 0, malformed("cosignature", "the answer is not note signature lines")
	}
	n, err := note.Open(append(signed[:len(signed):len(signed)], resp...), note.VerifierList(w))
	if err != nil {
		return nil, 0, fmt.Errorf("cosignature by %s: %v: %w", w.Name(), err, ErrSignature)
	}
	// Keep what the note held before (the log's and other witnesses'
	// signatures, whoever they are) and w's verified line; drop anything
	// else w's answer carried.
	var unv *note.UnverifiedNoteError
	if _, err := note.Open(signed, note.VerifierList()); !errors.As(err, &unv) {
		return nil, 0, malformed("checkpoint", "cannot be read as a signed note: %v", err)
	}
	out := &note.Note{Text: n.Text}
	added := len(n.Sigs)
	for _, s := range unv.Note.UnverifiedSigs {
		if s.Name == w.Name() && s.Hash == w.KeyHash() {
			added = 0 // w's earlier cosignature stays; its new one is not added
		}
		out.Sigs = append(out.Sigs, s)
	}
	if added > 0 {
		out.Sigs = append(out.Sigs, n.Sigs...)
	}
	b, err := note.Sign(out)
	if err != nil {
		return nil, 0, malformed("checkpoint", "%v", err)
	}
	return b, added, nil
}

// ParseSizeLine reads the body of a witness's 409 answer
// (text/x.tlog.size): the tree size it last cosigned, in decimal without
// leading zeros, and a newline. Errors wrap ErrMalformed.
func ParseSizeLine(b []byte) (int64, error) {
	if len(b) > 24 {
		return 0, malformed("witness size", "%d bytes", len(b))
	}
	lines, err := splitLines("witness size", b, 1)
	if err != nil {
		return 0, err
	}
	n, err := parseUint("witness size", lines[0])
	return int64(n), err
}
