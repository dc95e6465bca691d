package device

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sync"
	"time"

	"pinset.dev/pinset/store"
)

// Defaults of [Authority].
const (
	DefaultLifetime      = 7 * 24 * time.Hour
	MaxLifetime          = 397 * 24 * time.Hour
	DefaultTokenLifetime = 24 * time.Hour
	// DefaultCRLValidity is how far ahead a CRL's nextUpdate is.
	DefaultCRLValidity = 24 * time.Hour
	// DefaultCRLCache is how long one CRL is served before the next is
	// made (and how stale a revocation made by another process may be).
	DefaultCRLCache = time.Minute
)

// TokenPrefix starts every enrollment token (admin tokens start with
// store.TokenPrefix alone).
const TokenPrefix = "pinset_enroll_"

// Authority issues, renews and revokes device certificates of every app
// the service holds, over one CA. It is safe for concurrent use.
type Authority struct {
	CA    *CA
	Store store.DeviceStore
	// Lifetime of issued certificates (default 7 days, at most 397 days);
	// TokenLifetime of enrollment tokens (default 24h); CRLValidity and
	// CRLCache as their defaults say.
	Lifetime      time.Duration
	TokenLifetime time.Duration
	CRLValidity   time.Duration
	CRLCache      time.Duration
	// Rand is the source of tokens, serials and signatures (nil:
	// crypto/rand).
	Rand io.Reader

	mu   sync.Mutex
	crls map[string]*CRL
}

// Issued is a certificate the authority issued.
type Issued struct {
	Identity
	URI      string    `json:"identity"`
	Serial   string    `json:"serial"`
	NotAfter time.Time `json:"not_after"`
	// Chain is the certificate and the CA's, PEM.
	Chain string            `json:"certificate_chain"`
	Cert  *x509.Certificate `json:"-"`
}

// Token is a new enrollment token (Secret is shown once).
type Token struct {
	Secret    string    `json:"token"`
	App       string    `json:"app"`
	DeviceID  string    `json:"device_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (a *Authority) rnd() io.Reader {
	if a.Rand == nil {
		return rand.Reader
	}
	return a.Rand
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Check validates the authority's settings.
func (a *Authority) Check() error {
	if a.CA == nil || a.Store == nil {
		return errors.New("device authority: CA and store are required")
	}
	if a.Lifetime > MaxLifetime {
		return fmt.Errorf("device certificate lifetime %s is over %s", a.Lifetime, MaxLifetime)
	}
	return nil
}

// NewToken makes a one-time enrollment token for device id of app (a
// random id when id is empty), valid for TokenLifetime; only its hash is
// stored. actor names the admin token that asked.
func (a *Authority) NewToken(ctx context.Context, app, id, actor string, now time.Time) (*Token, error) {
	if id == "" {
		var b [10]byte
		if _, err := io.ReadFull(a.rnd(), b[:]); err != nil {
			return nil, err
		}
		id = hex.EncodeToString(b[:])
	}
	if !ValidID(id) {
		return nil, fmt.Errorf("%w: device id %q: use 1 to %d of a-z A-Z 0-9 . _ -", ErrMalformed, id, MaxIDLen)
	}
	var b [32]byte
	if _, err := io.ReadFull(a.rnd(), b[:]); err != nil {
		return nil, err
	}
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	exp := now.Add(orDefault(a.TokenLifetime, DefaultTokenLifetime))
	err := a.Store.AddEnrollToken(ctx, store.EnrollToken{App: app, DeviceID: id, Hash: store.HashToken(secret),
		CreatedAt: now, ExpiresAt: exp, CreatedBy: actor})
	if errors.Is(err, store.ErrRevoked) {
		return nil, fmt.Errorf("device %s: %w", id, ErrRevoked)
	}
	if err != nil {
		return nil, err
	}
	return &Token{Secret: secret, App: app, DeviceID: id, ExpiresAt: exp}, nil
}

// Enroll spends the request's token and issues the device's first
// certificate for the CSR's key. The CSR is checked before the token is
// spent, so a bad CSR does not cost the device its token.
func (a *Authority) Enroll(ctx context.Context, app string, req *EnrollRequest, now time.Time) (*Issued, error) {
	csr, err := ParseCSR(req.CSR)
	if err != nil {
		return nil, err
	}
	tok, err := a.Store.UseEnrollToken(ctx, app, store.HashToken(req.Token), now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrBadToken
	}
	if err != nil {
		return nil, err
	}
	return a.issue(ctx, Identity{App: app, ID: tok.DeviceID}, csr.PublicKey, now, "enroll", "token created by "+tok.CreatedBy)
}

// Verify is the one check of a device certificate: chain is what a client
// presented (leaf first); the leaf must chain to the CA for client
// authentication at now, name a device of app, be known to the store, and
// be neither revoked nor of a revoked device. It returns the identity.
func (a *Authority) Verify(ctx context.Context, app string, chain []*x509.Certificate, now time.Time) (Identity, error) {
	if len(chain) == 0 {
		return Identity{}, fmt.Errorf("%w: no certificate", ErrNotDeviceCert)
	}
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: a.CA.Pool(), Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrNotDeviceCert, err)
	}
	id, err := IdentityOf(leaf)
	if err != nil {
		return Identity{}, err
	}
	if id.App != app {
		return Identity{}, fmt.Errorf("%w: issued to a device of app %s", ErrNotDeviceCert, id.App)
	}
	rec, err := a.Store.DeviceCert(ctx, app, serialHex(leaf.SerialNumber))
	if errors.Is(err, store.ErrNotFound) {
		return Identity{}, fmt.Errorf("%w: serial %s was not issued by this service", ErrNotDeviceCert, serialHex(leaf.SerialNumber))
	}
	if err != nil {
		return Identity{}, err
	}
	if rec.DeviceID != id.ID {
		return Identity{}, fmt.Errorf("%w: serial %s was issued to another device", ErrNotDeviceCert, rec.Serial)
	}
	if !rec.RevokedAt.IsZero() || !rec.DeviceRevokedAt.IsZero() {
		return Identity{}, fmt.Errorf("%w: device %s", ErrRevoked, id.ID)
	}
	return id, nil
}

// Renew issues a new certificate for the identity of the current one.
// current is the presented chain; viaTLS says it was presented in the TLS
// handshake (which proved its key). Otherwise the CSR must be signed by
// the current certificate's key ([ErrKeyMismatch]): that signature is the
// proof of possession.
func (a *Authority) Renew(ctx context.Context, app string, current []*x509.Certificate, viaTLS bool, csrPEM string, now time.Time) (*Issued, error) {
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	id, err := a.Verify(ctx, app, current, now)
	if err != nil {
		return nil, err
	}
	if !viaTLS {
		pub, ok := current[0].PublicKey.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(csr.PublicKey) {
			return nil, ErrKeyMismatch
		}
	}
	how := "certificate in the request, CSR signed by its key"
	if viaTLS {
		how = "certificate presented over mutual TLS"
	}
	return a.issue(ctx, id, csr.PublicKey, now, "renew", how+"; serial "+serialHex(current[0].SerialNumber))
}

func (a *Authority) issue(ctx context.Context, id Identity, pub crypto.PublicKey, now time.Time, what, why string) (*Issued, error) {
	cert, err := a.CA.issue(id, pub, now, orDefault(a.Lifetime, DefaultLifetime), a.rnd())
	if err != nil {
		return nil, err
	}
	serial := serialHex(cert.SerialNumber)
	err = a.Store.AddDeviceCert(ctx, store.DeviceCert{App: id.App, DeviceID: id.ID, Serial: serial, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter},
		store.DeviceAuditEntry{At: now, What: what, Serial: serial, Why: why, Actor: "device"})
	if errors.Is(err, store.ErrRevoked) {
		return nil, fmt.Errorf("device %s: %w", id.ID, ErrRevoked)
	}
	if err != nil {
		return nil, err
	}
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.CA.cert.Raw})...)
	return &Issued{Identity: id, URI: id.String(), Serial: serial, NotAfter: cert.NotAfter, Chain: string(chain), Cert: cert}, nil
}

// Revoke revokes device id of app and every certificate it holds; the
// app's next CRL lists them. It returns how many certificates it revoked.
func (a *Authority) Revoke(ctx context.Context, app, id, why, actor string, now time.Time) (int64, error) {
	n, err := a.Store.RevokeDevice(ctx, app, id, now, store.DeviceAuditEntry{At: now, What: "revoke", Why: why, Actor: actor})
	if errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("device %s of app %s: %w", id, app, ErrUnknownDevice)
	}
	if err != nil {
		return 0, err
	}
	a.mu.Lock()
	delete(a.crls, app)
	a.mu.Unlock()
	return n, nil
}

// CRL is one signed revocation list.
type CRL struct {
	DER        []byte
	Number     int64
	ThisUpdate time.Time
	NextUpdate time.Time
	Entries    int
}

// CRL returns the app's current CRL: every revoked certificate not yet
// expired, numbered (RFC 5280 5.2.3, increasing across processes through
// the store), valid until nextUpdate. One CRL is served for CRLCache; a
// revocation through this authority replaces it at once.
func (a *Authority) CRL(ctx context.Context, app string, now time.Time) (*CRL, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.crls[app]; c != nil && now.Before(c.ThisUpdate.Add(orDefault(a.CRLCache, DefaultCRLCache))) && !now.Before(c.ThisUpdate) {
		return c, nil
	}
	revoked, err := a.Store.RevokedDeviceCerts(ctx, app, now)
	if err != nil {
		return nil, err
	}
	num, err := a.Store.NextCRLNumber(ctx, app)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.RevocationList{Number: big.NewInt(num), ThisUpdate: now, NextUpdate: now.Add(orDefault(a.CRLValidity, DefaultCRLValidity))}
	for _, r := range revoked {
		sn, ok := new(big.Int).SetString(r.Serial, 16)
		if !ok {
			return nil, fmt.Errorf("stored serial %q is not hex", r.Serial)
		}
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: sn, RevocationTime: r.RevokedAt})
	}
	der, err := x509.CreateRevocationList(a.rnd(), tmpl, a.CA.cert, a.CA.key)
	if err != nil {
		return nil, err
	}
	c := &CRL{DER: der, Number: num, ThisUpdate: now, NextUpdate: tmpl.NextUpdate, Entries: len(revoked)}
	if a.crls == nil {
		a.crls = map[string]*CRL{}
	}
	a.crls[app] = c
	return c, nil
}

// Audit lists a device's issuances, renewals and revocation.
func (a *Authority) Audit(ctx context.Context, app, id string) ([]store.DeviceAuditEntry, error) {
	return a.Store.DeviceAudit(ctx, app, id)
}

func serialHex(n *big.Int) string { return n.Text(16) }

// ParseChainPEM reads the certificates of a PEM chain (a renewal's
// Certificate field, the SDK's stored chain), at most 4.
func ParseChainPEM(text string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(text)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" || len(out) == 4 {
			return nil, fmt.Errorf("%w: certificate chain: only up to 4 CERTIFICATE blocks", ErrMalformed)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate chain: %v", ErrMalformed, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no PEM CERTIFICATE block", ErrMalformed)
	}
	return out, nil
}
