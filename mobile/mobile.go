// Package mobile is pinset's client SDK for Android and iOS apps, through
// gomobile.
//
// It wraps package client with an API that uses only the types gomobile
// can bind (string, []byte, int64, bool, error, structs of those, and
// interfaces whose methods use them), so `gomobile bind` turns it into an
// Android library (Java/Kotlin: mobile.Mobile.newClient(...)) and an iOS
// framework (Objective-C/Swift: MobileNewClient(...)).
//
//	cfg := mobile.NewConfig()
//	cfg.BundledRoot = rootJSON          // shipped in the app's assets
//	cfg.BundledManifest = pinsJSON
//	cfg.ServiceURL = "https://pins.example.com"
//	cfg.CacheDir = filesDir + "/pinset" // or SetStore with secure storage
//	c, err := mobile.NewClient(cfg, handler)
//	c.Start()
//	resp, err := c.Fetch("https://api.example.com/v1/me")
//
// Requests made with [Client.Fetch] and [Client.Request] enforce the current
// pins. Traffic that stays in the app's own networking stack is checked by
// [Client.CheckServerTrusted], which a platform trust hook calls with the
// chain the platform verified (Android: mobile/android/PinsetTrustManager;
// iOS: mobile/ios), or by the stack's own pinner built from
// [Client.OkHttpPinsJSON] or [Client.TrustKitConfigJSON]. docs/mobile.md
// walks through each integration.
package mobile

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"

	"pinset.dev/pinset/client"
	"pinset.dev/pinset/internal/redact"
	"pinset.dev/pinset/pin"
)

// Config configures a [Client]. Zero values take the client package's
// defaults.
type Config struct {
	// BundledRoot and BundledManifest are the signed envelopes shipped with
	// the app.
	BundledRoot     []byte
	BundledManifest []byte
	// ServiceURL is the pin service base URL; empty disables refreshing.
	ServiceURL string
	// CacheDir is a directory for the verified state between runs; ignored
	// when a Store is given to NewClientWithStore.
	CacheDir string
	// RefreshIntervalSeconds between background refreshes (default 3600).
	RefreshIntervalSeconds int64
	// FetchTimeoutSeconds bounds one request made by Fetch and Request (default 60).
	FetchTimeoutSeconds int64
	// OverdueAfterSeconds: after this long without a successful refresh the
	// client raises an "overdue" event and IsOverdue returns true (default
	// the larger of 24 hours and twice the refresh interval; negative
	// disables it).
	OverdueAfterSeconds int64
	// ReportURL receives pin-failure reports for hosts without their own
	// report URI.
	ReportURL string
	// AppVersion, Platform ("ANDROID", "IOS") and PlatformVersion go into
	// reports; BundleID defaults to the app id.
	AppVersion      string
	Platform        string
	PlatformVersion string
	BundleID        string
	// ExtraRootsPEM adds private CA certificates (PEM) to the system roots,
	// for pinned connections and for fetching.
	ExtraRootsPEM []byte
	// ClientCertPEM and ClientKeyPEM, when both set, are presented for
	// mutual TLS on pinned connections.
	ClientCertPEM []byte
	ClientKeyPEM  []byte
	// NoTelemetry turns off the adoption header on manifest fetches
	// (client.Config.NoTelemetry; docs/client.md).
	NoTelemetry bool
	// NoHealOnFailure turns off the self-heal (client.Config.NoHealOnFailure;
	// docs/client.md): by default a request refused for a pin mismatch
	// makes the client refresh (at most once a minute) and, when a newer
	// manifest is then in force, try the handshake once more.
	NoHealOnFailure bool
	// DeviceIdentity turns on the device certificate (client.Config.Device;
	// docs/devices.md): the client makes its own key, kept in its store,
	// EnrollDevice enrolls it with a one-time token, and the certificate
	// is presented on pinned connections and renewed before it expires.
	// Not together with ClientCertPEM.
	DeviceIdentity bool
}

// NewConfig returns an empty Config (gomobile needs a constructor to make
// one from Java or Objective-C).
func NewConfig() *Config { return &Config{} }

// Store is secure storage the app provides (Android EncryptedSharedPreferences,
// the iOS keychain). Load returns nil (and no error) for a missing key;
// Save must replace the value atomically.
type Store interface {
	Load(key string) ([]byte, error)
	Save(key string, value []byte) error
}

// Event is one thing that happened in the client (see client.EventKind):
// Kind is "updated", "rejected", "stale", "pin-failure", "report-sent",
// "report-dropped", "discarded", "overdue" or "healed".
//
// "updated" is the pins-changed signal: ManifestVersion is the version now
// in force. It is also raised at start and when only the root changed, so
// an app that built a pinner from OkHttpPinsJSON or TrustKitConfigJSON
// rebuilds it when ManifestVersion differs from the one it built from.
type Event struct {
	Kind            string
	Source          string
	Reason          string
	Host            string
	Port            int64
	RootVersion     int64
	ManifestVersion int64
	UnixSeconds     int64
}

// EventHandler receives events. Keep OnEvent quick: it may run inside a TLS
// handshake.
type EventHandler interface {
	OnEvent(e *Event)
}

// Response is the answer to Fetch or Request. The body is read whole, up to
// MaxBodyBytes.
type Response struct {
	StatusCode  int64
	ContentType string
	Body        []byte
	// HeadersJSON holds the response headers as a JSON object of arrays.
	HeadersJSON string
}

// MaxBodyBytes caps a response body read by Fetch and Request.
const MaxBodyBytes = 32 << 20

// Client is a pinning client for an app.
type Client struct {
	tokens  *tokenSource
	c       *client.Client
	hc      *http.Client
	timeout time.Duration
}

// NewClient creates a client from cfg, caching in cfg.CacheDir. handler
// may be nil.
func NewClient(cfg *Config, handler EventHandler) (*Client, error) {
	return NewClientWithStore(cfg, nil, handler)
}

// NewClientJSON creates a client from a JSON object with the fields of
// Config (byte fields as base64, as encoding/json spells them).
func NewClientJSON(configJSON string, handler EventHandler) (*Client, error) {
	var cfg Config
	dec := json.NewDecoder(strings.NewReader(configJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("pinset: config JSON: %w", err)
	}
	return NewClient(&cfg, handler)
}

// NewClientWithStore creates a client that keeps its state in store (which
// may be nil to use cfg.CacheDir, or nothing when that is empty too).
func NewClientWithStore(cfg *Config, store Store, handler EventHandler) (*Client, error) {
	if cfg == nil {
		return nil, errors.New("pinset: nil config")
	}
	ccfg := client.Config{
		BundledRoot:      cfg.BundledRoot,
		BundledManifest:  cfg.BundledManifest,
		ServiceURL:       cfg.ServiceURL,
		ReportURL:        cfg.ReportURL,
		AppVersion:       cfg.AppVersion,
		Platform:         cfg.Platform,
		PlatformVersion:  cfg.PlatformVersion,
		BundleID:         cfg.BundleID,
		RefreshInterval:  time.Duration(cfg.RefreshIntervalSeconds) * time.Second,
		OverdueAfter:     time.Duration(cfg.OverdueAfterSeconds) * time.Second,
		ReportQueue:      client.DefaultReportQueue,
		MaxDocumentBytes: client.DefaultMaxDocumentBytes,
		NoTelemetry:      cfg.NoTelemetry,
		NoHealOnFailure:  cfg.NoHealOnFailure,
	}
	tokens := &tokenSource{}
	ccfg.TokenSource = tokens
	if cfg.DeviceIdentity {
		if len(cfg.ClientCertPEM) > 0 {
			return nil, errors.New("pinset: DeviceIdentity and ClientCertPEM: choose one client certificate")
		}
		ccfg.Device = &client.DeviceConfig{}
	}
	switch {
	case store != nil:
		ccfg.Store = storeAdapter{store}
	case cfg.CacheDir != "":
		ccfg.Store = client.NewDirStore(cfg.CacheDir)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(cfg.ExtraRootsPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(cfg.ExtraRootsPEM) {
			return nil, errors.New("pinset: ExtraRootsPEM holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	if len(cfg.ClientCertPEM) > 0 || len(cfg.ClientKeyPEM) > 0 {
		cert, err := tls.X509KeyPair(cfg.ClientCertPEM, cfg.ClientKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("pinset: client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	ccfg.TLS = tc
	if handler != nil {
		ccfg.OnEvent = func(e client.Event) {
			handler.OnEvent(&Event{
				Kind: e.Kind.String(), Source: e.Source, Reason: e.Reason, Host: e.Host, Port: int64(e.Port),
				RootVersion: e.RootVersion, ManifestVersion: e.ManifestVersion, UnixSeconds: e.Time.Unix(),
			})
		}
	}
	c, err := client.New(ccfg)
	if err != nil {
		return nil, err
	}
	timeout := time.Duration(cfg.FetchTimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	return &Client{tokens: tokens, c: c, hc: &http.Client{Transport: c.Transport(), Timeout: timeout}, timeout: timeout}, nil
}

// storeAdapter maps the mobile Store's "nil means missing" onto
// client.Store's fs.ErrNotExist.
type storeAdapter struct{ s Store }

func (a storeAdapter) Load(key string) ([]byte, error) {
	b, err := a.s.Load(key)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	return b, nil
}

func (a storeAdapter) Save(key string, value []byte) error { return a.s.Save(key, value) }

// Start refreshes pins in the background.
func (c *Client) Start() { c.c.Start() }

// EnrollDevice enrolls the install's device key (Config.DeviceIdentity)
// with a one-time enrollment token the app got from its backend; the
// certificate is then presented on pinned connections and renewed.
func (c *Client) EnrollDevice(token string) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	return c.c.EnrollDevice(ctx, token)
}

// AccessTokens supplies the app's access token for a request to host
// (the app's OAuth or session library); "" sends none. Only the app knows
// which hosts may see its tokens: decide by host. Tokens are sent as
// "Authorization: Bearer" over https only (client.TokenSource).
type AccessTokens interface {
	Token(host string) (string, error)
}

// SetAccessTokens sets (or, with nil, removes) the source of access tokens
// for Fetch and Request.
func (c *Client) SetAccessTokens(t AccessTokens) { c.tokens.set(t) }

// tokenSource is the client.TokenSource over the app's AccessTokens, set
// after the client is made (gomobile objects cannot go in Config).
type tokenSource struct {
	mu sync.Mutex
	t  AccessTokens
}

func (s *tokenSource) set(t AccessTokens) { s.mu.Lock(); s.t = t; s.mu.Unlock() }

func (s *tokenSource) Token(_ context.Context, req *http.Request) (string, error) {
	s.mu.Lock()
	t := s.t
	s.mu.Unlock()
	if t == nil {
		return "", nil
	}
	return t.Token(req.URL.Hostname())
}

// Close stops background work.
func (c *Client) Close() error { return c.c.Close() }

// CloseIdleConnections closes kept-alive connections, for instance when
// the app goes to the background or the network changes.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// Refresh fetches and verifies newer pins now. On error the previous pins
// stay in force.
func (c *Client) Refresh() error {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	return c.c.Refresh(ctx)
}

// Fetch GETs url with pins enforced.
func (c *Client) Fetch(url string) (*Response, error) {
	return c.Request("GET", url, nil, "")
}

// Request sends a request with pins enforced. headersJSON is empty or a JSON
// object of header names to string values. URLs in its errors have no user
// info or query string (package redact), so an app may log them.
func (c *Client) Request(method, url string, body []byte, headersJSON string) (*Response, error) {
	resp, err := c.request(method, url, body, headersJSON)
	return resp, redact.Error(err)
}

func (c *Client) request(method, url string, body []byte, headersJSON string) (*Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	if headersJSON != "" {
		var h map[string]string
		if err := json.Unmarshal([]byte(headersJSON), &h); err != nil {
			return nil, fmt.Errorf("pinset: headers JSON: %w", err)
		}
		for k, v := range h {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxBodyBytes {
		return nil, fmt.Errorf("pinset: response body of %s is larger than %d bytes", redact.URL(url), MaxBodyBytes)
	}
	hj, _ := json.Marshal(resp.Header)
	return &Response{StatusCode: int64(resp.StatusCode), ContentType: resp.Header.Get("Content-Type"), Body: b, HeadersJSON: string(hj)}, nil
}

// currentPins is the JSON shape of CurrentPinsJSON.
type currentPins struct {
	AppID           string       `json:"app_id"`
	RootVersion     int64        `json:"root_version"`
	ManifestVersion int64        `json:"manifest_version"`
	Expires         string       `json:"expires,omitempty"`
	Stale           bool         `json:"stale"`
	LastRefresh     string       `json:"last_refresh,omitempty"`
	Overdue         bool         `json:"overdue"`
	Source          string       `json:"source"`
	Hosts           []pinnedHost `json:"hosts"`
}

type pinnedHost struct {
	Pattern           string   `json:"pattern"`
	Pins              []string `json:"pins"` // bare base64, as NSC and TrustKit spell them
	IncludeSubdomains bool     `json:"include_subdomains"`
	ReportOnly        bool     `json:"report_only"`
	ReportURI         string   `json:"report_uri,omitempty"`
}

// CurrentPinsJSON returns the pins in force as JSON: app id, versions,
// expiry, staleness, last successful refresh and overdue, and per host the pattern, base64 pins and flags.
func (c *Client) CurrentPinsJSON() (string, error) {
	s := c.c.State()
	out := currentPins{AppID: s.AppID, RootVersion: s.RootVersion, ManifestVersion: s.ManifestVersion, Stale: s.Stale, Overdue: s.Overdue, Source: s.Source, Hosts: []pinnedHost{}}
	if !s.LastRefresh.IsZero() {
		out.LastRefresh = s.LastRefresh.UTC().Format(time.RFC3339)
	}
	if !s.Expires.IsZero() {
		out.Expires = s.Expires.UTC().Format(time.RFC3339)
	}
	for _, p := range s.Policies {
		h := pinnedHost{Pattern: p.Pattern, IncludeSubdomains: p.IncludeSubdomains, ReportOnly: p.ReportOnly, ReportURI: p.ReportURI, Pins: []string{}}
		for _, q := range p.Pins {
			h.Pins = append(h.Pins, q.Format(pin.Base64))
		}
		out.Hosts = append(out.Hosts, h)
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// ManifestVersion returns the version of the manifest in force.
func (c *Client) ManifestVersion() int64 { return c.c.State().ManifestVersion }

// IsStale reports whether the manifest in force has expired (it is still
// enforced).
func (c *Client) IsStale() bool { return c.c.State().Stale }

// LastRefreshUnixSeconds returns the time of the last successful refresh
// (in this run or, from the cache, an earlier one) as Unix seconds, or 0
// when none is known.
func (c *Client) LastRefreshUnixSeconds() int64 {
	t := c.c.LastRefresh()
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// IsOverdue reports whether no refresh has succeeded for longer than
// Config.OverdueAfterSeconds: the pins may be frozen (they are still
// enforced). The client raises an "overdue" event too.
func (c *Client) IsOverdue() bool { return c.c.State().Overdue }
