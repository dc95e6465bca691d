package keyring

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"pinset.dev/pinset/internal/atomicfile"
	"pinset.dev/pinset/internal/input"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

// ringFile is the name of a ring's state file.
const ringFile = "ring.json"

// maxRingFile bounds ring.json; a ring holds a handful of pins.
const maxRingFile = 64 << 10

// maxKeys bounds how many pins one ring lists (live, next and retired).
const maxKeys = 64

// State is the content of ring.json.
type State struct {
	// Host is the host name the ring serves (normalised).
	Host string `json:"host"`
	// Live is the pin of the key the host serves now; zero before the
	// first key is made live.
	Live pin.Pin `json:"live,omitzero"`
	// Next are the keys that come after Live, in order: Next[0] becomes
	// live at the next switch. The pin manifest announces them as backup
	// pins before any certificate exists for them.
	Next []pin.Pin `json:"next"`
	// Retired were live once. Their key files stay until Forget.
	Retired []pin.Pin `json:"retired"`
}

// Ring is the key ring of one host: a directory of key files named by pin
// and a ring.json naming the live and next keys. It is not safe for
// concurrent use by several processes; pinset serve owns a ring directory.
type Ring struct {
	dir   string
	state State
}

// ErrNoRing is wrapped by Open when the host has no ring yet.
var ErrNoRing = errors.New("no key ring")

// hostDir validates host and returns its directory under dir.
func hostDir(dir, host string) (string, string, error) {
	h, err := policy.NormalizeHost(host)
	if err != nil {
		return "", "", fmt.Errorf("key ring host %q: %w", host, err)
	}
	// NormalizeHost accepts names and IP literals only; the checks below
	// keep a ring inside dir whatever it accepts.
	if strings.ContainsAny(h, `/\*`) || strings.HasPrefix(h, ".") {
		return "", "", fmt.Errorf("key ring host %q: not a host name", host)
	}
	return filepath.Join(dir, h), h, nil
}

// Create makes an empty ring for host under dir (directory mode 0700). It
// is an error when the ring exists.
func Create(dir, host string) (*Ring, error) {
	d, h, err := hostDir(dir, host)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(d, ringFile)); err == nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(d, ringFile), os.ErrExist)
	}
	r := &Ring{dir: d, state: State{Host: h, Next: []pin.Pin{}, Retired: []pin.Pin{}}}
	if err := r.save(); err != nil {
		return nil, err
	}
	return r, nil
}

// Open reads the ring of host under dir. Every pin it lists must have its
// key file; a missing ring wraps ErrNoRing.
func Open(dir, host string) (*Ring, error) {
	d, h, err := hostDir(dir, host)
	if err != nil {
		return nil, err
	}
	name := filepath.Join(d, ringFile)
	b, err := input.ReadFile(name, maxRingFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w for %s (create one with pinset key new --tls --ring %s --host %s)", name, ErrNoRing, h, dir, h)
	}
	if err != nil {
		return nil, err
	}
	st, err := parseState(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if st.Host != h {
		return nil, fmt.Errorf("%s: the ring is for %q, not %q", name, st.Host, h)
	}
	r := &Ring{dir: d, state: st}
	for _, p := range r.all() {
		if _, err := os.Stat(r.keyPath(p)); err != nil {
			return nil, fmt.Errorf("%s lists %s but its key file is missing: %w", name, p, err)
		}
	}
	return r, nil
}

// parseState decodes ring.json strictly: known fields only, one value, no
// pin twice, bounded.
func parseState(b []byte) (State, error) {
	if len(b) > maxRingFile {
		return State{}, fmt.Errorf("larger than %d bytes", maxRingFile)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var st State
	if err := dec.Decode(&st); err != nil {
		return State{}, err
	}
	if dec.More() {
		return State{}, errors.New("data after the ring object")
	}
	if st.Next == nil {
		st.Next = []pin.Pin{}
	}
	if st.Retired == nil {
		st.Retired = []pin.Pin{}
	}
	all := append(append([]pin.Pin{st.Live}, st.Next...), st.Retired...)
	if len(all) > maxKeys+1 {
		return State{}, fmt.Errorf("more than %d keys", maxKeys)
	}
	seen := map[pin.Pin]bool{}
	for i, p := range all {
		if p.IsZero() {
			if i == 0 {
				continue
			}
			return State{}, errors.New("an empty pin in next or retired")
		}
		if seen[p] {
			return State{}, fmt.Errorf("pin %s is listed twice", p)
		}
		seen[p] = true
	}
	return st, nil
}

// Dir is the ring's directory.
func (r *Ring) Dir() string { return r.dir }

// State returns a copy of the ring's state.
func (r *Ring) State() State {
	s := r.state
	s.Next = slices.Clone(s.Next)
	s.Retired = slices.Clone(s.Retired)
	return s
}

// KeyPath is the file of the key with pin p (which may not exist).
func (r *Ring) KeyPath(p pin.Pin) string { return r.keyPath(p) }

func (r *Ring) keyPath(p pin.Pin) string { return filepath.Join(r.dir, p.Format(pin.Hex)+".key") }

func (r *Ring) all() []pin.Pin {
	var out []pin.Pin
	if !r.state.Live.IsZero() {
		out = append(out, r.state.Live)
	}
	return append(append(out, r.state.Next...), r.state.Retired...)
}

// Key loads the key with pin p and checks that it is that key.
func (r *Ring) Key(p pin.Pin) (crypto.Signer, error) {
	name := r.keyPath(p)
	k, err := ReadFile(name)
	if err != nil {
		return nil, err
	}
	got, err := Pin(k)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if got != p {
		return nil, fmt.Errorf("%s: the key's pin is %s, not the %s its name says; the ring is damaged", name, got, p)
	}
	return k, nil
}

// Add writes key into the ring as the last next key and returns its pin.
// With an empty ring (no live key, no next key) it becomes the live key.
func (r *Ring) Add(key crypto.Signer) (pin.Pin, error) {
	p, err := Pin(key)
	if err != nil {
		return pin.Pin{}, err
	}
	if slices.Contains(r.all(), p) {
		return pin.Pin{}, fmt.Errorf("key %s is already in the ring of %s", p, r.state.Host)
	}
	if len(r.all()) >= maxKeys {
		return pin.Pin{}, fmt.Errorf("the ring of %s holds %d keys; forget retired ones first", r.state.Host, maxKeys)
	}
	b, err := MarshalPEM(key)
	if err != nil {
		return pin.Pin{}, err
	}
	if err := WriteNew(r.keyPath(p), b); err != nil && !errors.Is(err, os.ErrExist) {
		return pin.Pin{}, err
	}
	next := r.state
	if next.Live.IsZero() && len(next.Next) == 0 {
		next.Live = p
	} else {
		next.Next = append(slices.Clone(next.Next), p)
	}
	return p, r.commit(next)
}

// Promote makes the first next key live and retires the live one: the
// ring's half of a rotation's switch. It returns the new live pin.
func (r *Ring) Promote() (pin.Pin, error) {
	if len(r.state.Next) == 0 {
		return pin.Pin{}, fmt.Errorf("the ring of %s has no next key to make live (add one with pinset key new --tls --ring)", r.state.Host)
	}
	next := r.state
	if !next.Live.IsZero() {
		next.Retired = append(slices.Clone(next.Retired), next.Live)
	}
	next.Live, next.Next = next.Next[0], slices.Clone(next.Next[1:])
	return next.Live, r.commit(next)
}

// Forget removes a retired key: its pin leaves ring.json, then its file
// (and its certificate chain, if any) is deleted. The live and next keys
// cannot be forgotten.
func (r *Ring) Forget(p pin.Pin) error {
	i := slices.Index(r.state.Retired, p)
	if i < 0 {
		return fmt.Errorf("key %s is not a retired key of %s", p, r.state.Host)
	}
	next := r.state
	next.Retired = slices.Delete(slices.Clone(next.Retired), i, i+1)
	if err := r.commit(next); err != nil {
		return err
	}
	if err := os.Remove(r.chainPath(p)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.Remove(r.keyPath(p))
}

// MaxChainFile bounds a certificate chain file of the ring.
const MaxChainFile = 256 << 10

// ChainPath is the file of the certificate chain of the key with pin p
// (which may not exist): <hex pin>.chain.pem beside the key.
func (r *Ring) ChainPath(p pin.Pin) string { return r.chainPath(p) }

func (r *Ring) chainPath(p pin.Pin) string {
	return filepath.Join(r.dir, p.Format(pin.Hex)+".chain.pem")
}

// SaveChain keeps chainPEM (leaf first) as the certificate chain of the
// ring's key p, replacing the previous one atomically (mode 0600). The
// leaf must carry key p and p must be in the ring; whether the chain may
// still be used (names, validity) is certs.CheckStored's decision when it
// is read back.
func (r *Ring) SaveChain(p pin.Pin, chainPEM []byte) error {
	if !slices.Contains(r.all(), p) {
		return fmt.Errorf("key %s is not in the ring of %s", p, r.state.Host)
	}
	if len(chainPEM) > MaxChainFile {
		return fmt.Errorf("certificate chain larger than %d bytes", MaxChainFile)
	}
	got, err := ChainPin(chainPEM)
	if err != nil {
		return fmt.Errorf("certificate chain for %s: %w", p, err)
	}
	if got != p {
		return fmt.Errorf("the certificate is for key %s, not %s; it was not kept", got, p)
	}
	return atomicfile.WriteFile(r.chainPath(p), chainPEM, atomicfile.Options{Perm: 0o600})
}

// Chain reads the certificate chain kept for key p (SaveChain); a missing
// one wraps os.ErrNotExist. The bytes are bounded, not checked: see
// certs.CheckStored.
func (r *Ring) Chain(p pin.Pin) ([]byte, error) {
	if _, err := os.Stat(r.chainPath(p)); err != nil {
		return nil, err
	}
	return input.Read(r.chainPath(p), MaxChainFile)
}

// ChainPin is the pin of the first block of a PEM chain, which must be a
// certificate (the leaf, as servers load chains).
func ChainPin(chainPEM []byte) (pin.Pin, error) {
	b, _ := pem.Decode(chainPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return pin.Pin{}, errors.New("no PEM certificate first")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return pin.Pin{}, err
	}
	return pin.FromCertificate(c), nil
}

// commit saves st and, only when that worked, makes it the ring's state.
func (r *Ring) commit(st State) error {
	old := r.state
	r.state = st
	if err := r.save(); err != nil {
		r.state = old
		return err
	}
	return nil
}

// save replaces ring.json atomically (internal/atomicfile: a 0600
// temporary file, sync, rename, directory sync).
func (r *Ring) save() error {
	b, err := json.MarshalIndent(r.state, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(r.dir, ringFile), append(b, '\n'), atomicfile.Options{Perm: 0o600})
}
