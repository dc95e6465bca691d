package trust

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// Payload types of pinset's two documents. The payload type is covered by
// the signature (through PAE), so a root can never be passed off as a
// manifest or the reverse.
const (
	PayloadTypeRoot     = "application/vnd.pinset.root+json"
	PayloadTypeManifest = "application/vnd.pinset.manifest+json"
)

// Size caps. An envelope carries the payload in base64 (4/3 of its size)
// plus signatures; readers stop reading at MaxEnvelopeSize+1 bytes.
const (
	MaxPayloadSize  = 512 << 10
	MaxEnvelopeSize = 1 << 20
	MaxSignatures   = 32
	maxKeyIDLen     = 64
	maxSigLen       = 512
)

// Envelope is a DSSE envelope: opaque payload bytes, their type, and
// signatures over PAE(PayloadType, Payload).
// See https://github.com/secure-systems-lab/dsse/blob/master/envelope.md.
type Envelope struct {
	PayloadType string
	Payload     []byte
	Signatures  []Signature
}

// Signature is one DSSE signature: the key id (hex SHA-256 of the signing
// key's SPKI) and the signature bytes (ASN.1 DER for ECDSA, 64 bytes for
// Ed25519). The algorithm is never read from the envelope: it is the
// algorithm of the key the trusted root lists under KeyID.
type Signature struct {
	KeyID string
	Sig   []byte
}

// PAE is DSSE's pre-authentication encoding, the exact bytes that are
// signed:
//
//	"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
//
// where LEN is the length in bytes as ASCII decimal without leading zeros
// and SP is one space (0x20).
func PAE(payloadType string, payload []byte) []byte {
	b := make([]byte, 0, 32+len(payloadType)+len(payload))
	b = append(b, "DSSEv1 "...)
	b = strconv.AppendInt(b, int64(len(payloadType)), 10)
	b = append(b, ' ')
	b = append(b, payloadType...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(payload)), 10)
	b = append(b, ' ')
	b = append(b, payload...)
	return b
}

// Field names of an envelope and of its signatures.
var (
	envelopeFields  = []string{"payloadType", "payload", "signatures"}
	signatureFields = []string{"keyid", "sig"}
)

// ParseEnvelope decodes an envelope under the strict rules (see decode.go):
// exactly the fields payloadType, payload and signatures (each with keyid
// and sig), standard padded base64, at most MaxSignatures signatures, and
// no more than MaxEnvelopeSize bytes. It checks no signature.
func ParseEnvelope(b []byte) (*Envelope, error) {
	e, _, err := parseEnvelope(b)
	return e, err
}

// parseEnvelope is ParseEnvelope that also returns a string copy of b (a
// State keeps it as the envelope's bytes).
func parseEnvelope(b []byte) (*Envelope, string, error) {
	const what = "envelope"
	v, src, err := parseStrictSrc(what, b, MaxEnvelopeSize)
	if err != nil {
		return nil, "", err
	}
	d := dec{what}
	f, err := d.object(v, top, envelopeFields, nil)
	if err != nil {
		return nil, "", err
	}
	e := &Envelope{}
	if e.PayloadType, err = d.str(f.get("payloadType"), top.dot("payloadType")); err != nil {
		return nil, "", err
	}
	if e.Payload, err = d.b64(f.get("payload"), top.dot("payload")); err != nil {
		return nil, "", err
	}
	if len(e.Payload) > MaxPayloadSize {
		return nil, "", &DecodeError{What: what, Path: "payload", Offset: int(f.get("payload").off), Reason: fmt.Sprintf("payload of %d bytes is over the cap of %d", len(e.Payload), MaxPayloadSize), Err: ErrTooLarge}
	}
	sp := top.dot("signatures")
	sigs, err := d.array(f.get("signatures"), sp, MaxSignatures)
	if err != nil {
		return nil, "", err
	}
	e.Signatures = make([]Signature, 0, len(sigs))
	for i, se := range sigs {
		p := sp.at(i)
		sf, err := d.object(se.val, p, signatureFields, nil)
		if err != nil {
			return nil, "", err
		}
		var s Signature
		if s.KeyID, err = d.str(sf.get("keyid"), p.dot("keyid")); err != nil {
			return nil, "", err
		}
		if len(s.KeyID) > maxKeyIDLen {
			return nil, "", d.fail(sf.get("keyid"), p.dot("keyid"), "key id longer than %d characters", maxKeyIDLen)
		}
		if s.Sig, err = d.b64(sf.get("sig"), p.dot("sig")); err != nil {
			return nil, "", err
		}
		if len(s.Sig) == 0 || len(s.Sig) > maxSigLen {
			return nil, "", d.fail(sf.get("sig"), p.dot("sig"), "signature of %d bytes (expected 1 to %d)", len(s.Sig), maxSigLen)
		}
		e.Signatures = append(e.Signatures, s)
	}
	return e, src, nil
}

type envelopeJSON struct {
	PayloadType string          `json:"payloadType"`
	Payload     string          `json:"payload"`
	Signatures  []signatureJSON `json:"signatures"`
}

type signatureJSON struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

// Marshal encodes the envelope as indented JSON with a final newline.
// (The envelope itself is not signed, so its layout does not matter; the
// payload bytes are carried unchanged.)
func (e *Envelope) Marshal() ([]byte, error) {
	j := envelopeJSON{PayloadType: e.PayloadType, Payload: base64.StdEncoding.EncodeToString(e.Payload), Signatures: []signatureJSON{}}
	for _, s := range e.Signatures {
		j.Signatures = append(j.Signatures, signatureJSON{KeyID: s.KeyID, Sig: base64.StdEncoding.EncodeToString(s.Sig)})
	}
	return marshalIndent(j)
}

// marshalIndent is the layout of every file trust writes (envelopes, root
// and manifest payloads): indented JSON with a final newline.
func marshalIndent(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// unsigned is an envelope with no signatures around a document's payload,
// or the error that encoding the payload gave.
func unsigned(payloadType string, payload []byte, err error) (*Envelope, error) {
	if err != nil {
		return nil, err
	}
	return &Envelope{PayloadType: payloadType, Payload: payload}, nil
}

// Sign adds a signature by s over PAE(PayloadType, Payload). Signing is
// idempotent: when the envelope already holds a valid signature by the
// same key it is left unchanged and Sign reports false; an invalid
// signature under that key id is replaced.
func (e *Envelope) Sign(s *Signer, rand io.Reader) (added bool, err error) {
	msg := PAE(e.PayloadType, e.Payload)
	for i, sig := range e.Signatures {
		if sig.KeyID != s.Key.ID {
			continue
		}
		if s.Key.verify(msg, sig.Sig) == nil {
			return false, nil
		}
		e.Signatures = append(e.Signatures[:i:i], e.Signatures[i+1:]...)
		break
	}
	if len(e.Signatures) >= MaxSignatures {
		return false, fmt.Errorf("envelope already holds %d signatures, the limit", MaxSignatures)
	}
	sig, err := s.sign(rand, msg)
	if err != nil {
		return false, err
	}
	e.Signatures = append(e.Signatures, Signature{KeyID: s.Key.ID, Sig: sig})
	return true, nil
}

// ReadEnvelope reads at most MaxEnvelopeSize bytes from r and fails with
// ErrTooLarge as soon as one more byte arrives, without reading further:
// an endless response costs at most the cap.
func ReadEnvelope(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxEnvelopeSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxEnvelopeSize {
		return nil, &DecodeError{What: "envelope", Offset: -1, Reason: fmt.Sprintf("more than %d bytes", MaxEnvelopeSize), Err: ErrTooLarge}
	}
	return b, nil
}
