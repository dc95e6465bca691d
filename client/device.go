package client

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Device certificates (docs/devices.md): the client holds a key it
// generated itself, enrolls it with a one-time token the app supplies,
// presents the certificate in every handshake of its pinned connections
// (GetClientCertificate), and renews it before it expires. The key never
// leaves the client, is never logged, and is kept in Config.Store (mode
// 0600 in a DirStore).

// DeviceConfig configures the client's device identity.
type DeviceConfig struct {
	// RenewAfter is the fraction of a certificate's lifetime after which
	// it is renewed (default 2/3: a 7-day certificate is renewed after
	// about 4.7 days, leaving days of retries).
	RenewAfter float64
	// CheckInterval is how often the background loop (Client.Start) asks
	// whether the certificate is due (default 10 minutes). A handshake
	// that presents a due certificate starts a renewal too.
	CheckInterval time.Duration
}

// TokenSource supplies the access token of a request: the app implements
// it over its OAuth or session library. Token is called for every request
// of the client's Transport; "" means none. The token is sent as
// "Authorization: Bearer TOKEN" unless the request has an Authorization
// header already, and only over https: a token for a plain-http request is
// an error, never sent. Decide per host in Token: only the app knows which
// hosts may see its tokens.
type TokenSource interface {
	Token(ctx context.Context, req *http.Request) (string, error)
}

// deviceKey is the Store key of the device key and certificate.
const deviceKey = "pinset-device.json"

// maxDeviceAnswer caps the service's enroll and renew answers.
const maxDeviceAnswer = 64 << 10

// ErrNoDevice: no device certificate is held (enroll first).
var ErrNoDevice = errors.New("no device certificate: enroll with a token first")

// deviceState is what the client holds for its device identity.
type deviceState struct {
	cfg      DeviceConfig
	mu       sync.Mutex // one enrollment or renewal at a time
	cert     atomic.Pointer[tls.Certificate]
	renewing atomic.Bool
}

// deviceFile is the stored form: the PKCS #8 key and the PEM chain.
type deviceFile struct {
	Key   []byte `json:"key"`
	Chain string `json:"chain"`
}

func (c *Client) initDevice() error {
	if c.cfg.Device == nil {
		return nil
	}
	if t := c.cfg.TLS; t != nil && (len(t.Certificates) > 0 || t.GetClientCertificate != nil) {
		return errors.New("client: Config.Device and client certificates in Config.TLS exclude each other")
	}
	if c.fetch == nil {
		return errors.New("client: Config.Device needs a ServiceURL to enroll and renew")
	}
	d := &deviceState{cfg: *c.cfg.Device}
	if d.cfg.RenewAfter <= 0 || d.cfg.RenewAfter >= 1 {
		d.cfg.RenewAfter = 2.0 / 3
	}
	if d.cfg.CheckInterval <= 0 {
		d.cfg.CheckInterval = 10 * time.Minute
	}
	c.device = d
	if c.cfg.Store == nil {
		return nil
	}
	raw, err := c.cfg.Store.Load(deviceKey)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	cert, err2 := parseDeviceFile(raw)
	if err != nil || err2 != nil {
		c.emit(Event{Kind: EventDevice, Source: "cache", Err: errors.Join(err, err2), Reason: "stored device certificate ignored: enroll again"})
		return nil
	}
	d.cert.Store(cert)
	return nil
}

func parseDeviceFile(raw []byte) (*tls.Certificate, error) {
	if len(raw) > maxDeviceAnswer {
		return nil, errors.New("device file over its cap")
	}
	var f deviceFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(f.Key)
	if err != nil {
		return nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("device key is not a signing key")
	}
	return deviceCertificate(signer, f.Chain)
}

// deviceCertificate pairs key with the PEM chain, whose leaf must carry
// the key's public half.
func deviceCertificate(key crypto.Signer, chainPEM string) (*tls.Certificate, error) {
	cert := &tls.Certificate{PrivateKey: key}
	rest := []byte(chainPEM)
	for len(cert.Certificate) < 4 {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			cert.Certificate = append(cert.Certificate, b.Bytes)
		}
	}
	if len(cert.Certificate) == 0 {
		return nil, errors.New("no certificate in the device chain")
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, err
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(leaf.PublicKey) {
		return nil, errors.New("the device certificate is not for the device's key")
	}
	cert.Leaf = leaf
	return cert, nil
}

// DeviceCertificate returns the device certificate held (nil when none).
func (c *Client) DeviceCertificate() *x509.Certificate {
	if c.device == nil {
		return nil
	}
	if cert := c.device.cert.Load(); cert != nil {
		return cert.Leaf
	}
	return nil
}

// EnrollDevice generates a fresh P-256 key, sends a CSR signed by it with
// the one-time token to the service, and keeps the certificate it gets
// (and the key) in the Store. The token is not logged.
func (c *Client) EnrollDevice(ctx context.Context, token string) error {
	d := c.device
	if d == nil {
		return errors.New("client: no Config.Device")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	key, err := ecdsa.GenerateKey(elliptic.P256(), c.cfg.Rand)
	if err != nil {
		return err
	}
	csr, err := csrPEM(key, c.cfg.Rand)
	if err != nil {
		return err
	}
	return c.deviceRequest(ctx, "enroll", key, map[string]string{"token": token, "csr": csr})
}

// RenewDevice renews the device certificate now, for the same key: the
// current certificate goes in the request and the CSR, signed by its key,
// proves possession (docs/devices.md).
func (c *Client) RenewDevice(ctx context.Context) error {
	d := c.device
	if d == nil {
		return errors.New("client: no Config.Device")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	cur := d.cert.Load()
	if cur == nil {
		return ErrNoDevice
	}
	key := cur.PrivateKey.(crypto.Signer)
	csr, err := csrPEM(key, c.cfg.Rand)
	if err != nil {
		return err
	}
	var chain bytes.Buffer
	for _, der := range cur.Certificate {
		pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	return c.deviceRequest(ctx, "renew", key, map[string]string{"csr": csr, "certificate": chain.String()})
}

func csrPEM(key crypto.Signer, rnd io.Reader) (string, error) {
	der, err := x509.CreateCertificateRequest(rnd, &x509.CertificateRequest{}, key)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), nil
}

// deviceRequest posts body to the service's devices/{what} endpoint and
// keeps the certificate it answers with. Called with d.mu held.
func (c *Client) deviceRequest(ctx context.Context, what string, key crypto.Signer, body any) (err error) {
	defer func() {
		if err != nil {
			c.emit(Event{Kind: EventDevice, Source: "network", Err: err, Reason: "device " + what + " failed: " + err.Error()})
		}
	}()
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	u := c.fetch.base.JoinPath("v1", "apps", url.PathEscape(c.appID), "devices", what)
	if u.Scheme != "https" && !isLoopbackHost(u.Hostname()) {
		return fmt.Errorf("refusing to send a device %s request over %s to %s: the service URL must be https (or loopback)", what, u.Scheme, u.Host)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.fetch.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(res.Body, maxDeviceAnswer+1))
	if err != nil {
		return err
	}
	if len(rb) > maxDeviceAnswer {
		return fmt.Errorf("POST %s: answer over %d bytes", u, maxDeviceAnswer)
	}
	var ans struct {
		Error string `json:"error"`
		Chain string `json:"certificate_chain"`
	}
	if err := json.Unmarshal(rb, &ans); err != nil || res.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST %s: %s %s", u, res.Status, ans.Error)
	}
	cert, err := deviceCertificate(key, ans.Chain)
	if err != nil {
		return fmt.Errorf("POST %s: %w", u, err)
	}
	if c.cfg.Store != nil {
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return err
		}
		fb, _ := json.Marshal(deviceFile{Key: kder, Chain: ans.Chain})
		if err := c.cfg.Store.Save(deviceKey, fb); err != nil {
			return fmt.Errorf("device certificate issued but not stored: %w", err)
		}
	}
	c.device.cert.Store(cert)
	// New handshakes present the new certificate: no session or idle
	// connection made with the old one is reused (as on a pin change).
	c.pinsChanged()
	c.emit(Event{Kind: EventDevice, Source: "network", Reason: fmt.Sprintf("device certificate %sed, serial %s, valid until %s",
		what, cert.Leaf.SerialNumber.Text(16), cert.Leaf.NotAfter.UTC().Format(time.RFC3339))})
	return nil
}

// deviceDue reports whether the certificate held is past RenewAfter of its
// lifetime at now.
func (d *deviceState) due(now time.Time) bool {
	cur := d.cert.Load()
	if cur == nil {
		return false
	}
	l := cur.Leaf
	life := l.NotAfter.Sub(l.NotBefore)
	return !now.Before(l.NotBefore.Add(time.Duration(float64(life) * d.cfg.RenewAfter)))
}

// maintainDevice renews the certificate when it is due, one renewal at a
// time; a failure is an EventDevice and is retried at the next check.
func (c *Client) maintainDevice(ctx context.Context) {
	d := c.device
	if d == nil || !d.due(c.now()) || !d.renewing.CompareAndSwap(false, true) {
		return
	}
	defer d.renewing.Store(false)
	c.RenewDevice(ctx)
}

// deviceLoop checks every CheckInterval whether the certificate is due.
func (c *Client) deviceLoop() {
	defer c.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t := time.NewTicker(c.device.cfg.CheckInterval)
	defer t.Stop()
	for {
		c.maintainDevice(ctx)
		select {
		case <-c.done:
			return
		case <-t.C:
		}
	}
}

// getClientCertificate presents the device certificate (none, when not
// enrolled: the server decides) and starts a renewal when it is due.
func (c *Client) getClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	cur := c.device.cert.Load()
	if cur == nil {
		return &tls.Certificate{}, nil
	}
	c.kickDeviceRenewal()
	return cur, nil
}

// kickDeviceRenewal starts a renewal in the background when the
// certificate is due and none runs. Requests of the client's Transport
// call it too: a resumed TLS session presents no certificate, so
// GetClientCertificate alone would miss them.
func (c *Client) kickDeviceRenewal() {
	d := c.device
	if d == nil || d.renewing.Load() || !d.due(c.now()) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.FetchTimeout)
		defer cancel()
		c.maintainDevice(ctx)
	}()
}

// tokenTransport attaches the TokenSource's access token.
type tokenTransport struct {
	src  TokenSource
	next http.RoundTripper
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") != "" {
		return t.next.RoundTrip(req)
	}
	tok, err := t.src.Token(req.Context(), req)
	if err != nil {
		return nil, fmt.Errorf("access token: %w", err)
	}
	if tok == "" {
		return t.next.RoundTrip(req)
	}
	if req.URL.Scheme != "https" {
		return nil, fmt.Errorf("access token: refusing to send it over %s to %s", req.URL.Scheme, req.URL.Host)
	}
	r2 := req.Clone(req.Context())
	r2.Header.Set("Authorization", "Bearer "+tok)
	return t.next.RoundTrip(r2)
}

// CloseIdleConnections closes the pinned transport's idle connections
// (http.Client.CloseIdleConnections reaches them through the wrapper).
func (t *tokenTransport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// isLoopbackHost reports whether host is localhost or a loopback address.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
