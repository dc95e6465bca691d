// Package tlog is pinset's transparency log: for each app, an append-only
// Merkle tree (RFC 6962 hashing) of every root and manifest envelope the pin
// service accepted, so that a pin set pushed to one targeted user is visible
// to everyone who audits the log.
//
// The formats are specified in docs/trust.md, section 12:
//
//   - a [Record] is the logged entry for one envelope: the app, the kind
//     (root or manifest), the version, the SHA-256 of the exact envelope
//     bytes and the time it was logged;
//   - a [Checkpoint] is the C2SP tlog-checkpoint body (origin, tree size,
//     root hash), signed in the signed-note format by the log's Ed25519 key
//     ([NewSigner], [VerifierKey]) and optionally cosigned by witnesses
//     ([OpenCheckpoint] counts them);
//   - a [Bundle] is what the pin service hands a client with a manifest: a
//     signed checkpoint, the manifest's record and its inclusion proof, and a
//     consistency proof with the checkpoint the client already holds;
//   - the log is served as C2SP tlog-tiles paths ([TilePath],
//     [ParseTilePath], [EntryBundle]) so that a static host or a CDN can
//     serve it too.
//
// The hashing, tiles and proofs are golang.org/x/mod/sumdb/tlog (the Go
// checksum database's implementation), the signatures golang.org/x/mod/sumdb/note.
// This package parses and checks; the decision to accept a manifest is
// trust.State's, which calls [VerifyBundle].
package tlog
