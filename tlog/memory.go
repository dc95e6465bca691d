package tlog

import (
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// HashReader reads stored hashes by their storage index (see
// golang.org/x/mod/sumdb/tlog.StoredHashIndex).
type HashReader = tlog.HashReader

// HashReaderFunc adapts a function to a HashReader.
type HashReaderFunc = tlog.HashReaderFunc

// StoredHashes returns the hashes to store when record becomes entry n of
// a tree whose earlier hashes r reads (RFC 6962: the leaf hash, then the
// interior nodes it completes).
func StoredHashes(n int64, record []byte, r HashReader) ([]Hash, error) {
	return tlog.StoredHashes(n, record, r)
}

// StoredHashIndex is the storage index of the hash of the n'th node at
// level (0: leaves).
func StoredHashIndex(level int, n int64) int64 { return tlog.StoredHashIndex(level, n) }

// StoredHashCount is how many hashes a tree of size n stores.
func StoredHashCount(n int64) int64 { return tlog.StoredHashCount(n) }

// Prove builds the bundle for entry index (its record) in the tree of size
// size whose signed checkpoint is signed, reading hashes from r. With
// other > 0 and other != size, it adds the consistency proof between the
// two sizes (other <= size: from other to size; other > size: from size
// to other, which r must then hold).
func Prove(r HashReader, size, index int64, record, signed []byte, other int64) (*Bundle, error) {
	p, err := tlog.ProveRecord(size, index, r)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof of %d in %d: %w", index, size, err)
	}
	b := &Bundle{Index: index, Record: record, Inclusion: p, Checkpoint: signed}
	if other > 0 && other != size {
		lo, hi := min(other, size), max(other, size)
		tp, err := tlog.ProveTree(hi, lo, r)
		if err != nil {
			return nil, fmt.Errorf("consistency proof from %d to %d: %w", lo, hi, err)
		}
		b.Consistency, b.OldSize, b.HasConsistency = tp, lo, true
	}
	return b, nil
}

// Memory is a log held in memory: the records and stored hashes. The
// auditor rebuilds a fetched log in one to check it; tests use it as a
// log simulator. It is not safe for concurrent use.
type Memory struct {
	Records [][]byte
	hashes  []Hash
}

// ReadHashes implements HashReader.
func (m *Memory) ReadHashes(indexes []int64) ([]Hash, error) {
	out := make([]Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("hash %d not stored (%d stored)", x, len(m.hashes))
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

// Size is the number of records.
func (m *Memory) Size() int64 { return int64(len(m.Records)) }

// Append adds a record and returns its index.
func (m *Memory) Append(record []byte) (int64, error) {
	n := m.Size()
	hs, err := StoredHashes(n, record, m)
	if err != nil {
		return 0, err
	}
	m.hashes = append(m.hashes, hs...)
	m.Records = append(m.Records, record)
	return n, nil
}

// TreeHash returns the root hash of the tree of size n <= Size.
func (m *Memory) TreeHash(n int64) (Hash, error) { return tlog.TreeHash(n, m) }

// Checkpoint returns the checkpoint of the whole tree with origin.
func (m *Memory) Checkpoint(origin string) (Checkpoint, error) {
	h, err := m.TreeHash(m.Size())
	return Checkpoint{Origin: origin, Size: m.Size(), Hash: h}, err
}
