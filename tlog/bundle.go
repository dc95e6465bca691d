package tlog

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// Limits of a proof bundle.
const (
	// MaxBundleSize bounds an encoded bundle (a tree of 2^40 entries needs
	// about 4 KiB).
	MaxBundleSize = 16 << 10
	// maxProofHashes bounds an inclusion proof (63 levels) and a
	// consistency proof (at most two per level).
	maxInclusion   = 63
	maxConsistency = 126
)

const bundleHeader = "pinset-log-proof/v1"

// Bundle is what the pin service delivers with a manifest (the
// Pinset-Log-Proof response header, base64 of the encoding below): a
// checkpoint signed by the log, the manifest's record, its index and its
// inclusion proof in the checkpoint's tree, and, when the client said
// which checkpoint it holds (the Pinset-Log-Size request header), a
// consistency proof between the two tree sizes (the smaller is OldSize).
//
// Encoded, a bundle is text:
//
//	pinset-log-proof/v1
//	index 5
//	record <base64 of the record bytes>
//	inclusion <base64 hash> ...      (0 to 63 hashes, one space apart)
//	consistency <size> <base64 hash> ... (optional line: the other size, then 0 to 126 hashes)
//	<empty line>
//	<the signed checkpoint note>
type Bundle struct {
	Index          int64
	Record         []byte
	Inclusion      []Hash
	OldSize        int64 // with Consistency: the other tree size (0: no consistency line)
	Consistency    []Hash
	HasConsistency bool
	Checkpoint     []byte // signed note
}

// Marshal encodes b.
func (b *Bundle) Marshal() []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%s\nindex %d\nrecord %s\ninclusion", bundleHeader, b.Index, base64.StdEncoding.EncodeToString(b.Record))
	for _, h := range b.Inclusion {
		buf.WriteByte(' ')
		buf.WriteString(base64.StdEncoding.EncodeToString(h[:]))
	}
	buf.WriteByte('\n')
	if b.HasConsistency {
		fmt.Fprintf(&buf, "consistency %d", b.OldSize)
		for _, h := range b.Consistency {
			buf.WriteByte(' ')
			buf.WriteString(base64.StdEncoding.EncodeToString(h[:]))
		}
		buf.WriteByte('\n')
	}
	buf.WriteByte('\n')
	buf.Write(b.Checkpoint)
	return buf.Bytes()
}

// ParseBundle decodes a bundle strictly (the layout above, at most
// MaxBundleSize bytes, bounded proofs, the record parsed by ParseRecord).
// It verifies nothing; see VerifyBundle. Errors wrap ErrMalformed.
func ParseBundle(data []byte) (*Bundle, error) {
	lines, cp, err := splitHead("log proof", data, MaxBundleSize, func(n int) error {
		if n != 4 && n != 5 {
			return malformed("log proof", "%d header lines, expected 4 or 5", n)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	n := len(lines)
	if lines[0] != bundleHeader {
		return nil, malformed("log proof", "first line %q, expected %q", lines[0], bundleHeader)
	}
	b := &Bundle{Checkpoint: cp}
	idx, err := field("log proof", lines[1], "index")
	if err != nil {
		return nil, err
	}
	u, err := parseUint("log proof", idx)
	if err != nil {
		return nil, err
	}
	b.Index = int64(u)
	rec, err := field("log proof", lines[2], "record")
	if err != nil {
		return nil, err
	}
	if b.Record, err = base64.StdEncoding.Strict().DecodeString(rec); err != nil {
		return nil, malformed("log proof", "record is not standard base64")
	}
	if _, err := ParseRecord(b.Record); err != nil {
		return nil, fmt.Errorf("log proof: %w", err)
	}
	if b.Inclusion, err = hashList(lines[3], "inclusion", maxInclusion); err != nil {
		return nil, err
	}
	if n == 5 {
		rest, ok := strings.CutPrefix(lines[4], "consistency ")
		if !ok {
			return nil, malformed("log proof", "line 5 %q: expected \"consistency SIZE HASH...\"", lines[4])
		}
		size, hashes, more := strings.Cut(rest, " ")
		if more && hashes == "" {
			return nil, malformed("log proof", "line 5 %q ends with a space", lines[4])
		}
		u, err := parseUint("log proof", size)
		if err != nil {
			return nil, err
		}
		b.OldSize, b.HasConsistency = int64(u), true
		if hashes != "" {
			if b.Consistency, err = hashList("consistency "+hashes, "consistency", maxConsistency); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

// hashList parses "name h1 h2 ..." (zero or more hashes).
func hashList(line, name string, max int) ([]Hash, error) {
	if line == name {
		return nil, nil
	}
	rest, ok := strings.CutPrefix(line, name+" ")
	if !ok {
		return nil, malformed("log proof", "line %q: expected %q", line, name)
	}
	parts := strings.Split(rest, " ")
	if len(parts) > max {
		return nil, malformed("log proof", "%d %s hashes, at most %d", len(parts), name, max)
	}
	out := make([]Hash, len(parts))
	for i, p := range parts {
		h, err := base64.StdEncoding.Strict().DecodeString(p)
		if err != nil || len(h) != len(out[i]) {
			return nil, malformed("log proof", "%s hash %d is not 32 bytes of standard base64", name, i+1)
		}
		copy(out[i][:], h)
	}
	return out, nil
}

// Verified is what VerifyBundle established.
type Verified struct {
	Record     Record
	Checkpoint Checkpoint // the bundle's checkpoint
	Signed     []byte     // its signed note
}

// VerifyBundle checks a bundle for the document envelope (app, kind,
// version) under the log keys v, against the newest checkpoint the caller
// already holds (prev, with prevSigned its note; prev.Size 0 for none):
//
//  1. the checkpoint is signed by the log and the witness threshold (Open);
//  2. the record describes this envelope (app, kind, version, SHA-256);
//  3. the inclusion proof leads from the record at Index to the
//     checkpoint's root hash;
//  4. with a previous checkpoint: the same size must have the same hash
//     (else ErrFork), otherwise the consistency proof between the two sizes
//     must verify (else ErrInconsistent).
//
// It returns the bundle's checkpoint; the caller keeps the larger of the
// two as its newest.
func VerifyBundle(v *Verifiers, data []byte, app, kind string, version uint64, envelope []byte, prev Checkpoint) (*Verified, error) {
	b, err := ParseBundle(data)
	if err != nil {
		return nil, err
	}
	c, err := v.Open(b.Checkpoint)
	if err != nil {
		return nil, err
	}
	rec, _ := ParseRecord(b.Record) // parsed by ParseBundle
	if !rec.Matches(app, kind, version, envelope) {
		return nil, fmt.Errorf("the log record (%s %s v%d) does not describe this %s v%d or its bytes: %w", rec.App, rec.Kind, rec.Version, kind, version, ErrInclusion)
	}
	if b.Index >= c.Size {
		return nil, fmt.Errorf("record index %d is outside the checkpoint's tree of size %d: %w", b.Index, c.Size, ErrInclusion)
	}
	if err := tlog.CheckRecord(b.Inclusion, c.Size, c.Hash, b.Index, RecordHash(b.Record)); err != nil {
		return nil, fmt.Errorf("inclusion proof of entry %d in the tree of size %d: %v: %w", b.Index, c.Size, err, ErrInclusion)
	}
	if err := CheckConsistency(prev, c, b); err != nil {
		return nil, err
	}
	return &Verified{Record: rec, Checkpoint: c, Signed: b.Checkpoint}, nil
}

// CheckConsistency checks checkpoint c of a bundle against prev, the
// newest checkpoint held (Size 0: none): equal sizes need equal hashes
// (ErrFork), different sizes the bundle's consistency proof between them
// (ErrInconsistent).
func CheckConsistency(prev, c Checkpoint, b *Bundle) error {
	switch {
	case prev.Size == 0:
		return nil
	case prev.Size == c.Size:
		if prev.Hash != c.Hash {
			return fmt.Errorf("tree size %d: held root hash %s, offered %s: %w", c.Size, prev.Hash, c.Hash, ErrFork)
		}
		return nil
	}
	lo, hi := prev, c
	if c.Size < prev.Size {
		lo, hi = c, prev
	}
	if !b.HasConsistency || b.OldSize != lo.Size {
		return fmt.Errorf("no consistency proof between the held checkpoint (size %d) and the offered one (size %d): %w", prev.Size, c.Size, ErrInconsistent)
	}
	if err := tlog.CheckTree(b.Consistency, hi.Size, hi.Hash, lo.Size, lo.Hash); err != nil {
		return fmt.Errorf("consistency proof from size %d to %d: %v: %w", lo.Size, hi.Size, err, ErrInconsistent)
	}
	return nil
}
