package export

import (
	"crypto"
	"crypto/x509"

	"pinset.dev/pinset/pin"
)

// Position says where a pinned key sits in a certificate chain.
type Position int

// Positions of a pin.
const (
	Unknown Position = iota // not seen in any chain (a held-back key, a bare key file)
	Leaf                    // the end-entity certificate's key
	CA                      // an intermediate's or a root's key
)

func (p Position) String() string {
	switch p {
	case Leaf:
		return "leaf"
	case CA:
		return "CA"
	default:
		return "unknown"
	}
}

// Positions records what is known about pins: where each sits in a chain and,
// when a certificate or key was seen, its public key (the alamofire format
// embeds known keys). The zero value knows nothing; use [NewPositions].
type Positions struct {
	pos  map[pin.Pin]Position
	keys map[pin.Pin]crypto.PublicKey
}

// NewPositions returns an empty Positions.
func NewPositions() Positions {
	return Positions{pos: map[pin.Pin]Position{}, keys: map[pin.Pin]crypto.PublicKey{}}
}

// Of returns the position of a pin.
func (ps Positions) Of(p pin.Pin) Position { return ps.pos[p] }

// Key returns the public key behind a pin, when a certificate or key with
// that pin was added.
func (ps Positions) Key(p pin.Pin) (crypto.PublicKey, bool) {
	k, ok := ps.keys[p]
	return k, ok
}

// Set records a position. A pin seen both as a leaf and as a CA (a
// self-issued leaf, or one key reused) keeps the first position recorded.
func (ps Positions) Set(p pin.Pin, at Position) {
	if ps.pos == nil {
		panic("export: Positions used without NewPositions")
	}
	if at == Unknown {
		return
	}
	if ps.pos[p] == Unknown {
		ps.pos[p] = at
	}
}

// AddItems records the items read from certificate and key files
// (pin.ReadItems): leaves as Leaf, intermediates and roots as CA, a lone
// certificate by its CA flag, and bare keys and CSRs with their key only.
func (ps Positions) AddItems(items []pin.Item) {
	for _, it := range items {
		switch it.Kind {
		case pin.KindLeaf:
			ps.Set(it.Pin, Leaf)
		case pin.KindIntermediate, pin.KindRoot:
			ps.Set(it.Pin, CA)
		case pin.KindCertificate:
			if it.Cert != nil && it.Cert.IsCA {
				ps.Set(it.Pin, CA)
			} else {
				ps.Set(it.Pin, Leaf)
			}
		}
		if it.Cert != nil {
			ps.keys[it.Pin] = it.Cert.PublicKey
		}
	}
}

// AddKey records a public key (for example one held back for rotation) so
// that formats that need the key itself can embed it. Its position stays
// as it was.
func (ps Positions) AddKey(pub crypto.PublicKey) error {
	p, err := pin.FromPublicKey(pub)
	if err != nil {
		return err
	}
	ps.keys[p] = pub
	return nil
}

// AddChain records a certificate chain, leaf first, as a TLS handshake
// verified it: the first certificate is the leaf, the others are CAs.
func (ps Positions) AddChain(chain []*x509.Certificate) {
	for i, c := range chain {
		at := CA
		if i == 0 {
			at = Leaf
		}
		p := pin.FromCertificate(c)
		ps.Set(p, at)
		ps.keys[p] = c.PublicKey
	}
}

// empty reports whether no position is known at all.
func (ps Positions) empty() bool { return len(ps.pos) == 0 }
