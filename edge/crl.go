package edge

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"pinset.dev/pinset/internal/input"
	"pinset.dev/pinset/internal/redact"
)

// MaxCRL is the largest revocation list the edge reads (bytes).
const MaxCRL = 16 << 20

// Errors of Devices.Check and Revocations.Update.
var (
	ErrNoDeviceCert  = errors.New("edge: no verified device certificate")
	ErrDeviceExpired = errors.New("edge: device certificate expired")
	ErrRevoked       = errors.New("edge: device certificate revoked")
	ErrNoCRL         = errors.New("edge: no valid revocation list")
	ErrCRLStale      = errors.New("edge: revocation list is past its next update")
	ErrCRLInvalid    = errors.New("edge: revocation list refused")
)

// Revocations holds the device CA's current X.509 CRL (RFC 5280), read from
// a file or an https URL, DER or PEM. Update replaces it only with a list
// signed by the CA, issued by it, current, and not older (by CRL number
// and thisUpdate) than the one held; otherwise the held list stays and the
// error says why.
type Revocations struct {
	CA     *x509.Certificate
	Source string       // a file path, or an http(s) URL
	Client *http.Client // for URLs
	Now    func() time.Time

	upd     sync.Mutex // one Update at a time, so an older list never replaces a newer one
	mu      sync.RWMutex
	list    *x509.RevocationList
	revoked map[string]bool // serial numbers, as big.Int text
}

// Update reads the list from Source and, when it passes checkCRL, makes it
// the current one.
func (rv *Revocations) Update(ctx context.Context) error {
	rv.upd.Lock()
	defer rv.upd.Unlock()
	b, err := rv.read(ctx)
	if err != nil {
		return err
	}
	rv.mu.RLock()
	prev := rv.list
	rv.mu.RUnlock()
	rl, err := checkCRL(b, rv.CA, prev, rv.Now())
	if err != nil {
		return err
	}
	set := make(map[string]bool, len(rl.RevokedCertificateEntries))
	for _, e := range rl.RevokedCertificateEntries {
		set[e.SerialNumber.Text(16)] = true
	}
	rv.mu.Lock()
	rv.list, rv.revoked = rl, set
	rv.mu.Unlock()
	return nil
}

func (rv *Revocations) read(ctx context.Context) ([]byte, error) {
	if !strings.HasPrefix(rv.Source, "https://") && !strings.HasPrefix(rv.Source, "http://") {
		return input.Read(rv.Source, MaxCRL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rv.Source, nil)
	if err != nil {
		return nil, fmt.Errorf("edge: revocation list %s: %w", redact.URL(rv.Source), err)
	}
	c := rv.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, redact.Error(fmt.Errorf("edge: revocation list: %w", err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("edge: revocation list %s: HTTP %d", redact.URL(rv.Source), resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxCRL+1))
	if err != nil {
		return nil, redact.Error(fmt.Errorf("edge: revocation list %s: %w", redact.URL(rv.Source), err))
	}
	if len(b) > MaxCRL {
		return nil, fmt.Errorf("edge: revocation list %s: larger than %d bytes", redact.URL(rv.Source), MaxCRL)
	}
	return b, nil
}

// checkCRL is the one place that decides whether a revocation list is
// used: DER or one PEM "X509 CRL" block, issued by ca (issuer name) and
// signed by it, thisUpdate not in the future (one minute of skew),
// nextUpdate present and not past, and not older than prev (CRL number,
// then thisUpdate), so a replayed old list cannot un-revoke a device.
func checkCRL(b []byte, ca *x509.Certificate, prev *x509.RevocationList, now time.Time) (*x509.RevocationList, error) {
	if blk, rest := pem.Decode(b); blk != nil {
		if blk.Type != "X509 CRL" || len(bytes.TrimSpace(rest)) != 0 {
			return nil, fmt.Errorf("%w: want one PEM block of type X509 CRL", ErrCRLInvalid)
		}
		b = blk.Bytes
	}
	rl, err := x509.ParseRevocationList(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCRLInvalid, err)
	}
	if !bytes.Equal(rl.RawIssuer, ca.RawSubject) {
		return nil, fmt.Errorf("%w: issued by %q, not the device CA %q", ErrCRLInvalid, rl.Issuer, ca.Subject)
	}
	if err := rl.CheckSignatureFrom(ca); err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrCRLInvalid, err)
	}
	if rl.ThisUpdate.After(now.Add(time.Minute)) {
		return nil, fmt.Errorf("%w: thisUpdate %s is in the future", ErrCRLInvalid, rl.ThisUpdate.UTC().Format(time.RFC3339))
	}
	if rl.NextUpdate.IsZero() || !now.Before(rl.NextUpdate) {
		return nil, fmt.Errorf("%w (nextUpdate %s)", ErrCRLStale, rl.NextUpdate.UTC().Format(time.RFC3339))
	}
	if prev != nil {
		if crlNumber(rl).Cmp(crlNumber(prev)) < 0 || rl.ThisUpdate.Before(prev.ThisUpdate) {
			return nil, fmt.Errorf("%w: older than the list held (number %s < %s or thisUpdate earlier)", ErrCRLInvalid, crlNumber(rl), crlNumber(prev))
		}
	}
	return rl, nil
}

func crlNumber(rl *x509.RevocationList) *big.Int {
	if rl.Number == nil {
		return new(big.Int)
	}
	return rl.Number
}

// Check says whether cert, verified against the CA, is not revoked under
// the current list; without a list, or past its nextUpdate, every device
// is refused (fail closed, ErrNoCRL or ErrCRLStale).
func (rv *Revocations) Check(cert *x509.Certificate) error {
	rv.mu.RLock()
	defer rv.mu.RUnlock()
	if rv.list == nil {
		return ErrNoCRL
	}
	if !rv.Now().Before(rv.list.NextUpdate) {
		return ErrCRLStale
	}
	if rv.revoked[cert.SerialNumber.Text(16)] {
		return ErrRevoked
	}
	return nil
}

// NextUpdate is the current list's nextUpdate (zero without a list).
func (rv *Revocations) NextUpdate() time.Time {
	rv.mu.RLock()
	defer rv.mu.RUnlock()
	if rv.list == nil {
		return time.Time{}
	}
	return rv.list.NextUpdate
}
