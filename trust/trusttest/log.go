package trusttest

import (
	"bytes"
	"crypto/ed25519"
	"time"

	"golang.org/x/mod/sumdb/note"

	"pinset.dev/pinset/tlog"
	"pinset.dev/pinset/trust"
)

// Log is an in-memory transparency log for one app, signing checkpoints
// with a deterministic key, for tests: append documents, take proofs,
// fork it.
type Log struct {
	App    string
	Signer *tlog.Signer
	Mem    tlog.Memory
	// Time is the time recorded in new records.
	Time time.Time
	// Cosigners add their signatures to every checkpoint.
	Cosigners []note.Signer
}

// NewLog returns an empty log for app with origin "log.example.test/APP"
// and a key derived from seed.
func NewLog(app string, seed byte) *Log {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	s, err := tlog.NewSigner("log.example.test/"+app, key)
	if err != nil {
		panic(err)
	}
	return &Log{App: app, Signer: s, Time: Epoch}
}

// TrustLog returns the Log a root names for this log (no witnesses).
func (l *Log) TrustLog() *trust.Log { return &trust.Log{Key: l.Signer.VerifierKey()} }

// Fork returns a copy of the log holding its first n entries, which then
// grows on its own: the same key, another history.
func (l *Log) Fork(n int64) *Log {
	f := &Log{App: l.App, Signer: l.Signer, Time: l.Time, Cosigners: l.Cosigners}
	for _, r := range l.Mem.Records[:n] {
		f.Mem.Append(r)
	}
	return f
}

// Append logs envelope env as a document of kind and version, and returns
// its index.
func (l *Log) Append(kind string, version uint64, env []byte) int64 {
	rec, err := tlog.NewRecord(l.App, kind, version, env, l.Time).Marshal()
	if err != nil {
		panic(err)
	}
	i, err := l.Mem.Append(rec)
	if err != nil {
		panic(err)
	}
	return i
}

// AppendManifest logs a manifest envelope (its version read unverified).
func (l *Log) AppendManifest(env []byte) int64 {
	m, err := trust.DecodeManifestUnverified(env)
	if err != nil {
		panic(err)
	}
	return l.Append(tlog.KindManifest, m.Version, env)
}

// Checkpoint returns the signed checkpoint of the whole log.
func (l *Log) Checkpoint() []byte {
	c, err := l.Mem.Checkpoint(l.Signer.Name())
	if err != nil {
		panic(err)
	}
	b, err := note.Sign(&note.Note{Text: string(c.Body())}, append([]note.Signer{l.Signer}, l.Cosigners...)...)
	if err != nil {
		panic(err)
	}
	return b
}

// Proof returns the proof bundle of entry index against the whole log,
// with a consistency proof from the client's tree size (0: none).
func (l *Log) Proof(index, client int64) []byte {
	b, err := tlog.Prove(&l.Mem, l.Mem.Size(), index, l.Mem.Records[index], l.Checkpoint(), client)
	if err != nil {
		panic(err)
	}
	return b.Marshal()
}
