// Package trust signs and verifies the documents that carry pins to apps
// at run time, so that clients learn new pins without trusting the network
// that delivers them.
//
// # Documents
//
// Two documents, each the payload of a DSSE envelope ([Envelope]) whose
// signatures cover [PAE](payloadType, payload), the exact payload bytes:
//
//   - the [Root] (payload type [PayloadTypeRoot]) lists the app's public
//     keys and, for the roles "root" and "pins", which keys sign and how
//     many must. Root keys stay offline.
//   - the [Manifest] (payload type [PayloadTypeManifest]) lists the host
//     policies ([policy.Policy]) with a version, the root version it is
//     signed under, issued-at and expiry. It is signed by the pins role.
//
// Keys are ECDSA P-256 with SHA-256 (the default, native on Android and
// iOS) or Ed25519; a key id is the hex SHA-256 of the key's
// SubjectPublicKeyInfo ([KeyID]), and the algorithm is the key's, never
// the message's. Signed bytes are decoded strictly ([DecodeRoot],
// [DecodeManifest], [ParseEnvelope]): duplicate or case-variant keys,
// unknown fields, floats, invalid UTF-8, trailing data and oversized input
// are errors.
//
// # Verifying
//
// A [State] is what a client trusts: a root, a manifest and the floors
// shipped with the app. [NewState] starts from the bundled documents;
// [State.UpdateRoot] / [State.UpdateRootChain] walk root rotations;
// [State.UpdateManifest] accepts a newer manifest. Each returns a new
// State or a typed error and leaves the old State in force; time is a
// parameter. Errors wrap the sentinels in errors.go ([ErrThreshold],
// [ErrRollback], [ErrExpired], ...), tested with [errors.Is], and some
// carry details for [errors.As] ([*ThresholdError], [*VersionError],
// [*ExpiredError], [*DecodeError]).
//
//	st, err := trust.NewState(bundledRoot, bundledManifest)
//	...
//	next, err := st.UpdateManifest(fetched, time.Now())
//	if err != nil {
//		// keep enforcing st; report err
//	}
//
// # Signing
//
// [GenerateKey] makes a [Signer]; [Signer.MarshalPrivateKeyPEM] and
// [ParsePrivateKeyPEM] store it as PKCS#8 PEM (encrypted with a
// passphrase). [Root.Envelope] and [Manifest.Envelope] make unsigned
// envelopes; [Envelope.Sign] adds one signature (idempotently), so k of n
// signers can sign one after another on separate machines.
//
// The formats, rules and errors are specified in docs/trust.md; test
// vectors are in testdata/trust.
package trust
