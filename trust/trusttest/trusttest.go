// Package trusttest is an in-memory repository of signed roots and
// manifests for tests: it holds keys, bumps versions, re-signs, rotates
// keys and keeps every envelope it produced so that tests can replay old
// ones. Tests of the verifier, the client and the service drive it instead
// of mocking the trust layer. Everything is deterministic for a given seed.
//
//	repo := trusttest.New("com.example.app", 1)
//	st, _ := trust.NewState(repo.Root(), repo.Manifest())
//	m2 := repo.PublishManifest(nil)        // version 2, re-signed
//	st, err := st.UpdateManifest(m2, repo.Now)
package trusttest

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"time"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/trust"
)

// Epoch is the default Now of a new Repo: a fixed instant, so that tests
// never read the wall clock.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Repo is an in-memory signing repository for one app.
type Repo struct {
	AppID string
	// Now is the time documents are issued at; tests move it.
	Now time.Time
	// RootLifetime and ManifestLifetime set the expiry of new documents.
	RootLifetime, ManifestLifetime time.Duration
	// MaxManifestLifetime goes into new roots (zero: no limit).
	MaxManifestLifetime time.Duration
	// Log goes into new roots (nil: no transparency log).
	Log *trust.Log

	RootKeys      []*trust.Signer
	RootThreshold int
	PinsKeys      []*trust.Signer
	PinsThreshold int
	// Alg is the algorithm of keys the Repo generates.
	Alg trust.Algorithm

	// Roots[i] is the envelope of root version i+1.
	Roots [][]byte
	// Manifests holds every manifest envelope published, in order.
	Manifests [][]byte
	// ManifestVersion is the version of the last manifest published.
	ManifestVersion uint64
	// Hosts are the policies of the next manifest.
	Hosts []policy.Policy

	rand           *rand.ChaCha8
	rootKeyHistory []keySet // root keys of each published root version
}

// New returns a repository with root v1 (3 root keys, threshold 2; 3 pins
// keys, threshold 2: the shape of a real deployment) and manifest v1 with
// two hosts. seed makes the keys deterministic per test (ECDSA signatures
// stay randomised by the standard library).
func New(appID string, seed uint64) *Repo {
	return NewAlg(appID, seed, trust.ECDSAP256SHA256)
}

// NewAlg is New with keys of the given algorithm.
func NewAlg(appID string, seed uint64, alg trust.Algorithm) *Repo {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	r := &Repo{
		AppID: appID, Now: Epoch,
		RootLifetime: 365 * 24 * time.Hour, ManifestLifetime: 30 * 24 * time.Hour,
		Alg:  alg,
		rand: rand.NewChaCha8(s),
	}
	r.RootKeys, r.RootThreshold = r.NewKeys(3), 2
	r.PinsKeys, r.PinsThreshold = r.NewKeys(3), 2
	r.Hosts = []policy.Policy{
		{Pattern: "api.example.com", Pins: []pin.Pin{Pin("api-live"), Pin("api-backup")}},
		{Pattern: "**.cdn.example.com", Pins: []pin.Pin{Pin("cdn-live"), Pin("cdn-backup")}, ReportURI: "https://reports.example.com/v1/reports"},
	}
	r.PublishRoot()
	r.PublishManifest(nil)
	return r
}

// Pin returns a fake but well-formed pin derived from a name.
func Pin(name string) pin.Pin { return pin.Pin(sha256.Sum256([]byte(name))) }

// Hosts returns n enforced host policies with two pins each.
func Hosts(n int) []policy.Policy {
	out := make([]policy.Policy, n)
	for i := range out {
		h := fmt.Sprintf("host%d.example.com", i)
		out[i] = policy.Policy{Pattern: h, Pins: []pin.Pin{Pin(h + "/live"), Pin(h + "/backup")}}
	}
	return out
}

// Rand returns the repository's deterministic random source.
func (r *Repo) Rand() *rand.ChaCha8 { return r.rand }

// NewKey generates a key of the Repo's algorithm.
func (r *Repo) NewKey() *trust.Signer {
	s, err := trust.GenerateKey(r.Alg, r.rand)
	if err != nil {
		panic(err)
	}
	return s
}

// NewKeys generates n keys.
func (r *Repo) NewKeys(n int) []*trust.Signer {
	out := make([]*trust.Signer, n)
	for i := range out {
		out[i] = r.NewKey()
	}
	return out
}

// RootVersion is the version of the latest root.
func (r *Repo) RootVersion() uint64 { return uint64(len(r.Roots)) }

// Root returns the latest root envelope.
func (r *Repo) Root() []byte { return r.Roots[len(r.Roots)-1] }

// Manifest returns the latest manifest envelope.
func (r *Repo) Manifest() []byte { return r.Manifests[len(r.Manifests)-1] }

// RootDoc returns the root document the current keys describe, as the
// given version.
func (r *Repo) RootDoc(version uint64) *trust.Root {
	doc := &trust.Root{AppID: r.AppID, Version: version, Expires: r.Now.Add(r.RootLifetime), MaxManifestLifetime: r.MaxManifestLifetime}
	if r.Log != nil {
		l := *r.Log
		doc.Log = &l
	}
	seen := map[string]bool{}
	add := func(ss []*trust.Signer) []string {
		var ids []string
		for _, s := range ss {
			ids = append(ids, s.Key.ID)
			if !seen[s.Key.ID] {
				seen[s.Key.ID] = true
				doc.Keys = append(doc.Keys, s.Key)
			}
		}
		return ids
	}
	doc.RootRole = trust.Role{KeyIDs: add(r.RootKeys), Threshold: r.RootThreshold}
	doc.PinsRole = trust.Role{KeyIDs: add(r.PinsKeys), Threshold: r.PinsThreshold}
	return doc
}

// Sign wraps payload in an envelope of the given type signed by signers
// (in order; a signer may appear twice) and returns its bytes.
func (r *Repo) Sign(payloadType string, payload []byte, signers ...*trust.Signer) []byte {
	env := &trust.Envelope{PayloadType: payloadType, Payload: payload}
	for _, s := range signers {
		if _, err := env.Sign(s, r.rand); err != nil {
			panic(err)
		}
	}
	b, err := env.Marshal()
	if err != nil {
		panic(err)
	}
	return b
}

// RootSigners returns the signers a root of the current keys needs by
// default: the threshold of the previous root's root keys (first ones
// first) and the threshold of the current root keys.
func (r *Repo) RootSigners() []*trust.Signer {
	var out []*trust.Signer
	if n := len(r.rootKeyHistory); n > 0 {
		prev := r.rootKeyHistory[n-1]
		out = append(out, prev.keys[:prev.threshold]...)
	}
	return append(out, r.RootKeys[:r.RootThreshold]...)
}

type keySet struct {
	keys      []*trust.Signer
	threshold int
}

// PublishRoot makes the next root version from the current keys, signs it
// with RootSigners and records it.
func (r *Repo) PublishRoot() []byte {
	return r.PublishRootSignedBy(r.RootDoc(r.RootVersion()+1), r.RootSigners()...)
}

// PublishRootSignedBy signs doc with exactly the given signers and records
// it as the latest root (whatever its contents), so tests can publish bad
// roots too.
func (r *Repo) PublishRootSignedBy(doc *trust.Root, signers ...*trust.Signer) []byte {
	b := r.Sign(trust.PayloadTypeRoot, EncodeRoot(doc), signers...)
	r.Roots = append(r.Roots, b)
	r.rootKeyHistory = append(r.rootKeyHistory, keySet{append([]*trust.Signer(nil), r.RootKeys...), r.RootThreshold})
	return b
}

// RotateRootKeys replaces the root keys with n new ones and the given
// threshold, and publishes the next root (signed by the old and new keys).
func (r *Repo) RotateRootKeys(n, threshold int) []byte {
	r.RootKeys, r.RootThreshold = r.NewKeys(n), threshold
	return r.PublishRoot()
}

// RotatePinsKeys replaces the pins keys with n new ones and the given
// threshold, and publishes the next root.
func (r *Repo) RotatePinsKeys(n, threshold int) []byte {
	r.PinsKeys, r.PinsThreshold = r.NewKeys(n), threshold
	return r.PublishRoot()
}

// ManifestDoc returns the next manifest document (version
// ManifestVersion+1, bound to the latest root, issued now, the current
// hosts) without publishing it.
func (r *Repo) ManifestDoc() *trust.Manifest {
	return &trust.Manifest{
		AppID: r.AppID, Version: r.ManifestVersion + 1, RootVersion: r.RootVersion(),
		IssuedAt: r.Now, Expires: r.Now.Add(r.ManifestLifetime),
		Hosts: append([]policy.Policy(nil), r.Hosts...),
	}
}

// PublishManifest makes the next manifest, lets edit change it (edit may
// be nil), signs it with the first PinsThreshold pins keys and records it.
func (r *Repo) PublishManifest(edit func(*trust.Manifest)) []byte {
	m := r.ManifestDoc()
	if edit != nil {
		edit(m)
	}
	return r.PublishManifestSignedBy(m, r.PinsKeys[:r.PinsThreshold]...)
}

// PublishManifestSignedBy signs m with exactly the given signers and
// records it as the latest manifest.
func (r *Repo) PublishManifestSignedBy(m *trust.Manifest, signers ...*trust.Signer) []byte {
	b := r.Sign(trust.PayloadTypeManifest, EncodeManifest(m), signers...)
	r.Manifests = append(r.Manifests, b)
	r.ManifestVersion = m.Version
	return b
}

// EncodeRoot encodes a root document, panicking on an invalid one.
func EncodeRoot(doc *trust.Root) []byte {
	b, err := doc.Marshal()
	if err != nil {
		panic(err)
	}
	return b
}

// EncodeManifest encodes a manifest document, panicking on an invalid one.
func EncodeManifest(m *trust.Manifest) []byte {
	b, err := m.Marshal()
	if err != nil {
		panic(err)
	}
	return b
}
