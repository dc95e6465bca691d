package edge

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"pinset.dev/pinset/internal/input"
	"pinset.dev/pinset/internal/redact"
)

// File is the YAML configuration of `pinset edge` (docs/edge.md). Unknown
// keys are refused by name.
type File struct {
	Listen        string         `yaml:"listen"`
	MetricsListen string         `yaml:"metrics_listen"`
	AccessLog     string         `yaml:"access_log"` // stderr (default) or off
	TLS           TLSFile        `yaml:"tls"`
	Identity      IdentityFile   `yaml:"identity"`
	Devices       *DevicesFile   `yaml:"devices"`
	Tokens        *TokensFile    `yaml:"tokens"`
	RateLimits    RateLimitsFile `yaml:"rate_limits"`
	Limits        LimitsFile     `yaml:"limits"`
	Routes        []RouteFile    `yaml:"routes"`
}

// TLSFile is the edge's own certificate.
type TLSFile struct {
	CertFile    string `yaml:"cert_file"`
	KeyFile     string `yaml:"key_file"`
	ReloadEvery string `yaml:"reload_every"` // default 1m; SIGHUP reloads at once
}

// IdentityFile holds the key shared with the upstreams.
type IdentityFile struct {
	KeyFile string `yaml:"key_file"` // mode 0600, at least 32 bytes
}

// DevicesFile is the device CA and its revocation list.
type DevicesFile struct {
	CAFile    string `yaml:"ca_file"`
	CRL       string `yaml:"crl"`         // file, or http(s) URL; DER or PEM
	CRLCAFile string `yaml:"crl_ca_file"` // roots for an https CRL URL; default the system's
	Refresh   string `yaml:"refresh"`     // default 5m
}

// TokensFile is the access-token issuer.
type TokensFile struct {
	JWKSURL    string `yaml:"jwks_url"`
	JWKSCAFile string `yaml:"jwks_ca_file"` // default the system's roots
	Issuer     string `yaml:"issuer"`
	Audience   string `yaml:"audience"`
	Skew       string `yaml:"skew"`    // default 30s, at most 5m
	Refresh    string `yaml:"refresh"` // default 15m
	Cache      string `yaml:"cache"`   // default 1m; "off" for none
}

// RateLimitsFile is where limits are kept and what they are.
type RateLimitsFile struct {
	Store   string     `yaml:"store"` // memory (default) or redis
	Redis   *RedisFile `yaml:"redis"`
	Device  *RateFile  `yaml:"device"`
	User    *RateFile  `yaml:"user"`
	Address *RateFile  `yaml:"address"`
}

// RedisFile is the Redis every edge instance shares.
type RedisFile struct {
	Address      string `yaml:"address"` // host:port
	PasswordFile string `yaml:"password_file"`
	DB           int    `yaml:"db"`
}

// RateFile is one limit.
type RateFile struct {
	Requests int    `yaml:"requests"`
	Per      string `yaml:"per"` // a duration such as 1m
	Burst    int    `yaml:"burst"`
}

// LimitsFile bounds requests.
type LimitsFile struct {
	MaxBodyBytes      int64  `yaml:"max_body_bytes"`      // default 1 MiB
	MaxHeaderBytes    int    `yaml:"max_header_bytes"`    // default 32 KiB
	ReadHeaderTimeout string `yaml:"read_header_timeout"` // default 5s
	ReadTimeout       string `yaml:"read_timeout"`        // default 30s
	WriteTimeout      string `yaml:"write_timeout"`       // default 60s
	IdleTimeout       string `yaml:"idle_timeout"`        // default 120s
	UpstreamTimeout   string `yaml:"upstream_timeout"`    // default 30s (response headers)
}

// RouteFile is one route.
type RouteFile struct {
	Name      string   `yaml:"name"`
	Path      string   `yaml:"path"`
	Upstreams []string `yaml:"upstreams"`
	MTLS      bool     `yaml:"mtls"`
	Token     bool     `yaml:"token"`
	Scopes    []string `yaml:"scopes"`
}

// Load reads and strictly decodes the configuration file.
func Load(name string) (*File, error) {
	b, err := input.Read(name, 1<<20)
	if err != nil {
		return nil, err
	}
	var f File
	if err := input.DecodeYAMLStrict(name, b, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// Options are what Build takes from outside the file.
type Options struct {
	Now      func() time.Time
	Registry *prometheus.Registry // default a new one
	Log      io.Writer            // access and event log; default os.Stderr
}

func duration(name, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := input.ParseDays(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: %q is not a positive duration such as 30s, 5m or 1d", name, s)
	}
	return d, nil
}

// Build is the one place that decides whether a configuration is valid,
// and assembles the server. ctx bounds the background work (key set
// refresh) it starts.
func (f *File) Build(ctx context.Context, o Options) (*Server, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
	if f.Listen == "" || f.TLS.CertFile == "" || f.TLS.KeyFile == "" || f.Identity.KeyFile == "" || len(f.Routes) == 0 {
		return nil, errors.New("edge: listen, tls.cert_file, tls.key_file, identity.key_file and at least one route are required")
	}
	s := &Server{listen: f.Listen, metricsListen: f.MetricsListen, reg: o.Registry, log: slog.New(slog.NewJSONHandler(o.Log, nil))}
	var err error
	if s.certEvery, err = duration("tls.reload_every", f.TLS.ReloadEvery, time.Minute); err != nil {
		return nil, err
	}
	s.cert = &Certificate{CertFile: f.TLS.CertFile, KeyFile: f.TLS.KeyFile, Now: o.Now}
	if _, err := s.cert.Reload(); err != nil {
		return nil, err
	}
	key, err := secretFile("identity.key_file", f.Identity.KeyFile)
	if err != nil {
		return nil, err
	}
	c := Config{IdentityKey: key, Now: o.Now}
	if len(c.IdentityKey) < MinIdentityKey {
		return nil, fmt.Errorf("identity.key_file: %d bytes, want at least %d (openssl rand -base64 48)", len(key), MinIdentityKey)
	}
	if err := f.Devices.build(s, &c, o); err != nil {
		return nil, err
	}
	if err := f.Tokens.build(ctx, &c, o, s.jwksFailed); err != nil {
		return nil, err
	}
	if err := f.RateLimits.build(&c, o); err != nil {
		return nil, err
	}
	if err := f.Limits.build(s, &c); err != nil {
		return nil, err
	}
	for _, r := range f.Routes {
		rt, err := r.route()
		if err != nil {
			return nil, err
		}
		c.Routes = append(c.Routes, rt)
	}
	switch f.AccessLog {
	case "", "stderr":
		c.Logger = s.log
	case "off":
	default:
		return nil, fmt.Errorf("access_log: %q: want stderr or off", f.AccessLog)
	}
	var next func() time.Time
	if s.crl != nil {
		next = s.crl.NextUpdate
	}
	c.Metrics = NewMetrics(o.Registry, next)
	s.metrics = c.Metrics
	if s.edge, err = New(c); err != nil {
		return nil, err
	}
	return s, nil
}

// secretFile reads a key file that must not be readable by group or
// others (0600), trimmed of surrounding white space.
func secretFile(setting, name string) ([]byte, error) {
	st, err := os.Stat(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: %s has mode %04o; it holds a secret: chmod 600 it", setting, name, st.Mode().Perm())
	}
	b, err := input.Read(name, 64<<10)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting, err)
	}
	return []byte(strings.TrimSpace(string(b))), nil
}

func clientWithRoots(setting, file string) (*http.Client, error) {
	if file == "" {
		return &http.Client{Timeout: 30 * time.Second}, nil
	}
	pool, err := input.LoadCAs(setting, file)
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t, Timeout: 30 * time.Second}, nil
}

func (d *DevicesFile) build(s *Server, c *Config, o Options) error {
	if d == nil {
		return nil
	}
	if d.CAFile == "" || d.CRL == "" {
		return errors.New("devices: ca_file and crl are required (a device CA without a revocation list cannot revoke)")
	}
	b, err := input.Read(d.CAFile, maxPEM)
	if err != nil {
		return fmt.Errorf("devices.ca_file: %w", err)
	}
	certs, err := parseCerts(b)
	if err != nil || len(certs) != 1 || !certs[0].IsCA {
		return fmt.Errorf("devices.ca_file: %s: want exactly one CA certificate (the one that issues device certificates and signs the CRL)", d.CAFile)
	}
	if s.crlEvery, err = duration("devices.refresh", d.Refresh, 5*time.Minute); err != nil {
		return err
	}
	client, err := clientWithRoots("devices.crl_ca_file", d.CRLCAFile)
	if err != nil {
		return err
	}
	s.clientCAs = x509.NewCertPool()
	s.clientCAs.AddCert(certs[0])
	s.crl = &Revocations{CA: certs[0], Source: d.CRL, Client: client, Now: o.Now}
	c.Devices = s.crl
	return nil
}

// parseCerts reads the CERTIFICATE blocks of a PEM file; any other block
// or trailing text is refused.
func parseCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		blk, rest := pem.Decode(b)
		if blk == nil {
			if len(bytes.TrimSpace(b)) != 0 {
				return nil, errors.New("text outside PEM blocks")
			}
			return out, nil
		}
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("a %s block, want CERTIFICATE", blk.Type)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out, b = append(out, c), rest
	}
}

func (t *TokensFile) build(ctx context.Context, c *Config, o Options, failed func(error)) error {
	if t == nil {
		return nil
	}
	tc := TokenConfig{JWKSURL: t.JWKSURL, Issuer: t.Issuer, Audience: t.Audience, Now: o.Now, OnRefreshError: failed}
	var err error
	if tc.Skew, err = duration("tokens.skew", t.Skew, 30*time.Second); err != nil {
		return err
	}
	if tc.Refresh, err = duration("tokens.refresh", t.Refresh, 15*time.Minute); err != nil {
		return err
	}
	if t.Cache == "off" {
		tc.CacheFor = -1
	} else if tc.CacheFor, err = duration("tokens.cache", t.Cache, time.Minute); err != nil {
		return err
	}
	if tc.Client, err = clientWithRoots("tokens.jwks_ca_file", t.JWKSCAFile); err != nil {
		return err
	}
	c.Tokens, err = NewTokens(ctx, tc)
	return err
}

func (r *RateLimitsFile) build(c *Config, o Options) error {
	for _, x := range []struct {
		name string
		f    *RateFile
		to   *Rate
	}{{"device", r.Device, &c.Limits.Device}, {"user", r.User, &c.Limits.User}, {"address", r.Address, &c.Limits.Addr}} {
		if x.f == nil {
			continue
		}
		per, err := duration("rate_limits."+x.name+".per", x.f.Per, 0)
		if err != nil || per == 0 || x.f.Requests <= 0 || x.f.Burst < 0 {
			return fmt.Errorf("rate_limits.%s: requests (> 0) and per (a duration) are required; burst is optional", x.name)
		}
		*x.to = Rate{Requests: x.f.Requests, Period: per, Burst: x.f.Burst}
	}
	switch r.Store {
	case "", "memory":
		if r.Redis != nil {
			return errors.New("rate_limits.redis is set but store is not redis")
		}
		c.Limiter = &MemoryLimiter{Now: o.Now}
	case "redis":
		if r.Redis == nil || r.Redis.Address == "" {
			return errors.New("rate_limits: store redis needs redis.address")
		}
		opt := &redis.Options{Addr: r.Redis.Address, DB: r.Redis.DB}
		if r.Redis.PasswordFile != "" {
			pw, err := secretFile("rate_limits.redis.password_file", r.Redis.PasswordFile)
			if err != nil {
				return err
			}
			opt.Password = string(pw)
		}
		c.Limiter = NewRedisLimiter(redis.NewClient(opt))
	default:
		return fmt.Errorf("rate_limits.store: %q: want memory or redis", r.Store)
	}
	return nil
}

func (l *LimitsFile) build(s *Server, c *Config) error {
	c.MaxBody = l.MaxBodyBytes
	s.maxHeader = l.MaxHeaderBytes
	if c.MaxBody < 0 || s.maxHeader < 0 {
		return errors.New("limits: max_body_bytes and max_header_bytes must be positive")
	}
	if s.maxHeader == 0 {
		s.maxHeader = 32 << 10
	}
	var up time.Duration
	for _, x := range []struct {
		name, v string
		def     time.Duration
		to      *time.Duration
	}{
		{"read_header_timeout", l.ReadHeaderTimeout, 5 * time.Second, &s.readHeader},
		{"read_timeout", l.ReadTimeout, 30 * time.Second, &s.read},
		{"write_timeout", l.WriteTimeout, 60 * time.Second, &s.write},
		{"idle_timeout", l.IdleTimeout, 120 * time.Second, &s.idle},
		{"upstream_timeout", l.UpstreamTimeout, 30 * time.Second, &up},
	} {
		d, err := duration("limits."+x.name, x.v, x.def)
		if err != nil {
			return err
		}
		*x.to = d
	}
	c.Transport = NewTransport(up)
	return nil
}

func (r *RouteFile) route() (*Route, error) {
	rt := &Route{Name: r.Name, Path: r.Path, MTLS: r.MTLS, Token: r.Token, Scopes: r.Scopes}
	for _, u := range r.Upstreams {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.User != nil || pu.RawQuery != "" || pu.Fragment != "" {
			return nil, fmt.Errorf("routes[%s].upstreams: %s: want http(s)://host[:port][/path], without user, query or fragment", r.Name, redact.URL(u))
		}
		rt.Upstreams = append(rt.Upstreams, pu)
	}
	return rt, nil
}
