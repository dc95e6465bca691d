package tlog

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Limits of checkpoints and keys.
const (
	// MaxCheckpointSize bounds a signed checkpoint (body and signatures).
	MaxCheckpointSize = 8 << 10
	// MaxWitnesses bounds the witness keys a root may name.
	MaxWitnesses = 16
	// MaxKeyLen bounds a verifier key string.
	MaxKeyLen = 512
	// maxOrigin bounds the origin line.
	maxOrigin = 256
)

// Signature algorithm bytes of note keys (C2SP signed-note).
const (
	algEd25519     = 0x01 // a plain Ed25519 note signature
	algCosignature = 0x04 // C2SP tlog-cosignature/v1 (timestamped, by witnesses)
)

// Checkpoint is the body of a C2SP tlog-checkpoint: the log's origin, the
// tree size and the root hash of the tree of that size.
type Checkpoint struct {
	Origin string
	Size   int64
	Hash   Hash
}

// Body encodes c as a checkpoint body: three lines, no extension lines.
func (c Checkpoint) Body() []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Hash[:]))
}

// ParseCheckpoint decodes a checkpoint body strictly: an origin line of
// printable ASCII without spaces or '+', the size in decimal without
// leading zeros, the root hash in padded standard base64 (32 bytes), and
// nothing else (pinset's logs write no extension lines, so a checkpoint
// with one is refused rather than half read).
func ParseCheckpoint(body []byte) (Checkpoint, error) {
	var c Checkpoint
	lines, err := splitLines("checkpoint", body, 3)
	if err != nil {
		return c, err
	}
	if len(lines[0]) > maxOrigin || strings.ContainsAny(lines[0], " +") {
		return c, malformed("checkpoint", "origin %q", lines[0])
	}
	c.Origin = lines[0]
	n, err := parseUint("checkpoint", lines[1])
	if err != nil {
		return c, err
	}
	c.Size = int64(n)
	h, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(h) != len(c.Hash) {
		return c, malformed("checkpoint", "root hash %q: expected 32 bytes of standard base64", lines[2])
	}
	copy(c.Hash[:], h)
	return c, nil
}

// A Signer signs checkpoints of one log with an Ed25519 key, as a note
// signer (C2SP signed-note, algorithm 0x01).
type Signer struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
}

// NewSigner returns a signer named origin (the key name is the log's
// origin) for key.
func NewSigner(origin string, key ed25519.PrivateKey) (*Signer, error) {
	if !validName(origin) {
		return nil, fmt.Errorf("log origin %q: use up to %d printable characters without spaces or '+'", origin, maxOrigin)
	}
	pub := key.Public().(ed25519.PublicKey)
	return &Signer{name: origin, hash: keyHash(origin, append([]byte{algEd25519}, pub...)), key: key}, nil
}

func (s *Signer) Name() string                    { return s.name }
func (s *Signer) KeyHash() uint32                 { return s.hash }
func (s *Signer) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

// VerifierKey returns the note verifier key string of s
// ("origin+hash+base64"), the value a root names as its log key.
func (s *Signer) VerifierKey() string {
	k, _ := note.NewEd25519VerifierKey(s.name, s.key.Public().(ed25519.PublicKey))
	return k
}

// SignCheckpoint returns c signed by s as a note. Ed25519 signatures are
// deterministic, so the same checkpoint signed twice gives the same bytes:
// several service processes serve identical checkpoints.
func (s *Signer) SignCheckpoint(c Checkpoint) ([]byte, error) {
	if c.Origin != s.name {
		return nil, fmt.Errorf("checkpoint origin %q is not the signer's %q", c.Origin, s.name)
	}
	return note.Sign(&note.Note{Text: string(c.Body())}, s)
}

// keyHash is the signed-note key hash: the first four bytes of
// SHA-256(name || "\n" || alg || key), big-endian.
func keyHash(name string, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func validName(name string) bool {
	if name == "" || len(name) > maxOrigin {
		return false
	}
	for _, c := range []byte(name) {
		if c <= ' ' || c > '~' || c == '+' {
			return false
		}
	}
	return true
}

// parseVerifierKey parses a note verifier key "name+hash+base64(alg||key)"
// with one of the allowed algorithms.
func parseVerifierKey(vkey string, allowed ...byte) (note.Verifier, error) {
	if len(vkey) > MaxKeyLen {
		return nil, fmt.Errorf("verifier key of %d bytes, over the cap of %d: %w", len(vkey), MaxKeyLen, ErrMalformed)
	}
	name, rest, _ := strings.Cut(vkey, "+")
	hash16, key64, _ := strings.Cut(rest, "+")
	hash, err1 := strconv.ParseUint(hash16, 16, 32)
	key, err2 := base64.StdEncoding.Strict().DecodeString(key64)
	if len(hash16) != 8 || err1 != nil || err2 != nil || !validName(name) || len(key) != 1+ed25519.PublicKeySize {
		return nil, fmt.Errorf("verifier key %q: expected name+hash+base64 of an Ed25519 key: %w", vkey, ErrMalformed)
	}
	if uint32(hash) != keyHash(name, key) {
		return nil, fmt.Errorf("verifier key %q: the hash does not match the name and key: %w", vkey, ErrMalformed)
	}
	if !bytes.Contains(allowed, key[:1]) {
		return nil, fmt.Errorf("verifier key %q: algorithm 0x%02x not allowed here: %w", vkey, key[0], ErrMalformed)
	}
	pub := ed25519.PublicKey(key[1:])
	switch key[0] {
	case algEd25519:
		return note.NewVerifier(vkey)
	default:
		return &cosigVerifier{name: name, hash: uint32(hash), pub: pub}, nil
	}
}

// cosigVerifier verifies C2SP tlog-cosignature/v1 signatures: 8 bytes of
// big-endian Unix time, then Ed25519 over
// "cosignature/v1\ntime <T>\n" || checkpoint body.
type cosigVerifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

func (v *cosigVerifier) Name() string    { return v.name }
func (v *cosigVerifier) KeyHash() uint32 { return v.hash }
func (v *cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	return ed25519.Verify(v.pub, cosignedMessage(t, msg), sig[8:])
}

// Verifiers are the keys a root names for its log: the log's own key and
// optional witnesses, of which Threshold must cosign each checkpoint.
type Verifiers struct {
	Log       note.Verifier
	Witnesses []note.Verifier
	Threshold int

	// opened caches the checkpoints Open accepted, by the SHA-256 of the
	// signed note: the same bytes under the same keys give the same
	// answer, so a client restoring its cached checkpoint and then the
	// manifest proof that carries the same note verifies its signatures
	// once. Bounded (maxOpened, oldest out first); refusals are not kept.
	mu     sync.Mutex
	opened map[[32]byte]Checkpoint
	order  [][32]byte
}

// maxOpened bounds Verifiers' cache of accepted checkpoints.
const maxOpened = 4

// NewVerifiers parses the log key (algorithm Ed25519) and the witness keys
// (Ed25519 note keys or C2SP cosignature/v1 keys), none twice, at most
// MaxWitnesses, with 0 <= threshold <= len(witnesses) (a threshold of 0
// with witnesses is refused: name them only to require them).
func NewVerifiers(logKey string, witnesses []string, threshold int) (*Verifiers, error) {
	lv, err := parseVerifierKey(logKey, algEd25519)
	if err != nil {
		return nil, fmt.Errorf("log key: %w", err)
	}
	if len(witnesses) > MaxWitnesses {
		return nil, fmt.Errorf("%d witness keys, at most %d: %w", len(witnesses), MaxWitnesses, ErrMalformed)
	}
	if threshold < 0 || threshold > len(witnesses) || (len(witnesses) > 0 && threshold == 0) {
		return nil, fmt.Errorf("witness threshold %d out of range 1 to %d: %w", threshold, len(witnesses), ErrMalformed)
	}
	v := &Verifiers{Log: lv, Threshold: threshold}
	seen := map[string]bool{lv.Name() + "+" + strconv.FormatUint(uint64(lv.KeyHash()), 16): true}
	for i, w := range witnesses {
		wv, err := parseVerifierKey(w, algEd25519, algCosignature)
		if err != nil {
			return nil, fmt.Errorf("witness key %d: %w", i+1, err)
		}
		id := wv.Name() + "+" + strconv.FormatUint(uint64(wv.KeyHash()), 16)
		if seen[id] {
			return nil, fmt.Errorf("witness key %d (%s) listed twice or equal to the log key: %w", i+1, wv.Name(), ErrMalformed)
		}
		seen[id] = true
		v.Witnesses = append(v.Witnesses, wv)
	}
	return v, nil
}

// Origin is the log's origin: its key's name, which every checkpoint's
// origin line must equal.
func (v *Verifiers) Origin() string { return v.Log.Name() }

// Open verifies a signed checkpoint: at most MaxCheckpointSize bytes, a
// valid signature by the log key, at least Threshold valid cosignatures by
// distinct witnesses, the origin line equal to the log key's name. Any
// signature by a named key that does not verify refuses the checkpoint;
// signatures by other keys are ignored. Errors wrap ErrMalformed or
// ErrSignature.
func (v *Verifiers) Open(signed []byte) (Checkpoint, error) {
	if len(signed) > MaxCheckpointSize {
		return Checkpoint{}, malformed("checkpoint", "%d bytes, over the cap of %d", len(signed), MaxCheckpointSize)
	}
	id := sha256.Sum256(signed)
	v.mu.Lock()
	c, ok := v.opened[id]
	v.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := v.open(signed)
	if err != nil {
		return c, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.opened == nil {
		v.opened = map[[32]byte]Checkpoint{}
	}
	if _, ok := v.opened[id]; !ok {
		if len(v.order) == maxOpened {
			delete(v.opened, v.order[0])
			v.order = v.order[1:]
		}
		v.opened[id] = c
		v.order = append(v.order, id)
	}
	return c, nil
}

// open is Open without the cache.
func (v *Verifiers) open(signed []byte) (Checkpoint, error) {
	list := append([]note.Verifier{v.Log}, v.Witnesses...)
	n, err := note.Open(signed, note.VerifierList(list...))
	if err != nil {
		var unv *note.UnverifiedNoteError
		var inv *note.InvalidSignatureError
		switch {
		case errors.As(err, &unv):
			return Checkpoint{}, fmt.Errorf("checkpoint not signed by the log key %s: %w", v.Log.Name(), ErrSignature)
		case errors.As(err, &inv):
			return Checkpoint{}, fmt.Errorf("checkpoint: %v: %w", err, ErrSignature)
		default:
			return Checkpoint{}, malformed("checkpoint", "%v", err)
		}
	}
	logSigned, witnessed := false, 0
	for _, s := range n.Sigs {
		if s.Name == v.Log.Name() && s.Hash == v.Log.KeyHash() {
			logSigned = true
			continue
		}
		witnessed++
	}
	if !logSigned {
		return Checkpoint{}, fmt.Errorf("checkpoint not signed by the log key %s (only by witnesses): %w", v.Log.Name(), ErrSignature)
	}
	if witnessed < v.Threshold {
		return Checkpoint{}, fmt.Errorf("checkpoint cosigned by %d of the %d witnesses required: %w", witnessed, v.Threshold, ErrSignature)
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Log.Name() {
		return Checkpoint{}, fmt.Errorf("checkpoint origin %q is not the log key's name %q: %w", c.Origin, v.Log.Name(), ErrSignature)
	}
	return c, nil
}

// TreeHash is the root hash of the tree of size n, read from r.
func TreeHash(n int64, r tlog.HashReader) (Hash, error) { return tlog.TreeHash(n, r) }

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
