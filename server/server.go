// Package server is the pin service behind `pinset serve`: it publishes
// signed roots and manifests to apps, ingests pin-failure reports, and
// gives operators an admin API. The HTTP API is specified in docs/api.md.
//
// Public documents are served from memory: each is gzip-compressed and
// hashed into a strong ETag once, when it is loaded from the store, and
// re-read from the store at most once per [Config.RefreshInterval] so that
// several processes sharing one PostgreSQL database serve the same state.
// Every document is signed, so a CDN may cache them (Cache-Control is set
// for that) without being trusted.
//
// Admin uploads are verified with package trust exactly as a client would
// verify them (signatures and thresholds, root chain continuity, versions,
// app id, expiry) and then published with a compare-and-swap on the
// current version ([store.Store.PublishManifest]), after the optional
// publish gate ([Config.PublishGate]).
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/device"
	"pinset.dev/pinset/report"
	"pinset.dev/pinset/server/mirror"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/trust"
)

// Config configures a Server. Only Store is required.
type Config struct {
	// Store holds the state. The server does not close it.
	Store store.Store
	// Logger receives structured logs; nil discards them. Logs never
	// contain tokens, keys or request bodies.
	Logger *slog.Logger
	// Now is the clock (verification times, report times); nil: time.Now.
	Now func() time.Time
	// Registry receives the server's metrics (and may be shared with a
	// monitor); nil makes a new one. /metrics serves this registry.
	Registry *prometheus.Registry

	// PublishGate, when set, is asked before a verified manifest is
	// published (check.ManifestGate probes the live hosts). Its summary
	// goes into the publish answer, refused or not. A non-nil error
	// refuses the upload with 409 and the error's text, unless the request
	// says force (query force=1 or header "Pinset-Force: 1"). Without a
	// gate, the answer says that the live hosts were not checked.
	PublishGate func(ctx context.Context, m *trust.Manifest) (*check.GateSummary, error)

	// UnpinPeriod is how long a host must have been report-only in the
	// published manifests before a manifest may drop it without force
	// (check.DropGate); nil means check.DefaultUnpinPeriod (7 days). A
	// manifest that stops enforcing an enforced host always needs force
	// (query force_unpin=1 or header "Pinset-Force-Unpin: 1"), which is
	// logged at WARN with the token's name and counted.
	UnpinPeriod *time.Duration

	// Tasks run in the background while Serve runs (a monitor, for
	// example); their context ends at shutdown. An error is logged.
	Tasks []func(ctx context.Context) error
	// Routes, when set, may add handlers to the admin API's mux; admin
	// wraps a handler with the admin authentication (bearer token, client
	// certificate when configured). Without an AdminListener that mux is
	// the server's only one; with it, what Routes adds is served on the
	// admin listener only.
	Routes func(mux *http.ServeMux, admin func(http.Handler) http.Handler)

	// Console, when set, builds the web console (package console) from
	// the server; it is served under /console/ (server/console.go).
	Console func(s *Server) (http.Handler, error)

	// RefreshInterval bounds how stale served documents may be relative
	// to the store (publishes by other processes). Default 1s.
	RefreshInterval time.Duration
	// ReportRate and ReportBurst set the per-client-address token bucket
	// for report uploads (reports per second, burst). Defaults 1/s, 20.
	ReportRate  float64
	ReportBurst int
	// ReportAppRate and ReportAppBurst set the token bucket of each app
	// (all clients together), checked once the report's app is known.
	// Defaults 20/s, 200.
	ReportAppRate  float64
	ReportAppBurst int
	// ReportParsers, ReportParseWait and ReportPending shed reports under
	// overload (server/shed.go): reports parsed at once (default
	// GOMAXPROCS-1, at least 1), how long one waits for that (20ms), and
	// reports waiting for their commit (1024). Beyond them a report is
	// answered 503 overloaded with Retry-After before its body is read.
	ReportParsers   int
	ReportParseWait time.Duration
	ReportPending   int
	// AdminClientCAs, when set, requires admin requests to come over TLS
	// with a client certificate that verifies against these CAs, in
	// addition to the bearer token. Use TLSConfig to build the server's
	// tls.Config accordingly.
	AdminClientCAs *x509.CertPool

	// MetricsListener, when set, is where GET /metrics is served (plain
	// HTTP, with the same timeouts), and the main listener does not serve
	// it: keep the metrics, which name every app id, on an internal or
	// loopback address. Serve closes it.
	MetricsListener net.Listener
	// AdminListener, when set, is where the admin API (/v1/admin/...,
	// what Routes adds) and the console (/console/) are served, and the
	// only place: the main listener answers 404 to those paths. It also
	// serves /healthz and /readyz. Serve closes it. See admin_listener.go.
	AdminListener net.Listener
	// AdminCert, when set, makes the admin listener serve TLS with this
	// certificate; with AdminClientCAs it then requires a client
	// certificate from them at the handshake. Without it the admin
	// listener serves plain HTTP, which New refuses with AdminClientCAs.
	AdminCert *tls.Certificate

	// MetricsToken, when set, is required as "Authorization: Bearer
	// TOKEN" on GET /metrics (compared in constant time), wherever it is
	// served.
	MetricsToken string

	// ReadHeaderTimeout overrides the default ReadHeaderTimeout (how long
	// a client may take to send its request headers); for tests.
	ReadHeaderTimeout time.Duration

	// Resign, when set, re-signs each app's current manifest with a fresh
	// expiry before it goes stale (see ResignConfig).
	Resign *ResignConfig

	// Adoption configures adoption telemetry (adoption.go).
	Adoption AdoptionConfig
	// Rotation configures key rotation plans (rotate.go).
	Rotation RotationConfig
	// Log, when set, signs and serves each app's transparency log and
	// adds a proof to every manifest served (see LogConfig).
	Log *LogConfig
	// Devices, when set, issues, renews and revokes device certificates
	// and serves their CRL (devices.go, docs/devices.md); its Store
	// defaults to Store.
	Devices *device.Authority
	// Mirror, when set, is a static origin: every publication is written
	// into it under the API's paths (package server/mirror), and Serve
	// writes every app into it when it starts. Not with Log: a static
	// file cannot carry the log proof each client asks for.
	Mirror *mirror.Dir
}

// Server is the pin service. Create it with New; it is an http.Handler.
type Server struct {
	cfg     Config
	store   store.Store
	log     *slog.Logger
	now     func() time.Time
	reg     *prometheus.Registry
	mux     *http.ServeMux
	handler http.Handler
	// adminHandler serves the admin API and the console: handler, or the
	// admin listener's own with Config.AdminListener.
	adminHandler http.Handler
	docs         *docCache
	limiter      *limiter
	// appLimiter holds one bucket per app.
	appLimiter *limiter
	// chains caches parsed report certificate chains.
	chains  *report.ChainCache
	shedder *shedder
	m       *metrics
	// console is the web console's handler (Config.Console), or nil.
	console http.Handler
	// unmatched counts the requests no route matched.
	unmatched *routeMetrics
	adoption  *adoption      // adoption.go
	rotMu     sync.Mutex     // rotate.go: one plan step at a time
	tlog      *logService    // nil without Config.Log
	devices   *deviceService // nil without Config.Devices
}

// New builds a server. It does not start anything; see Serve.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: no store")
	}
	if cfg.Rotation.AbortOnReportSpike && cfg.Rotation.Spikes == nil {
		return nil, errors.New("server: aborting rotation plans on a report spike needs the report-spike rule (Rotation.Spikes: the monitor)")
	}
	if err := cfg.checkAdminListener(); err != nil {
		return nil, err
	}
	if cfg.Mirror != nil && cfg.Log != nil {
		return nil, errors.New("server: a mirror cannot serve the transparency log's proofs: use the mirror or the log, not both")
	}
	s := &Server{cfg: cfg, store: cfg.Store, log: cfg.Logger, now: cfg.Now, reg: cfg.Registry}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = time.Second
	}
	if cfg.ReportRate <= 0 {
		cfg.ReportRate = 1
	}
	if cfg.ReportBurst <= 0 {
		cfg.ReportBurst = 20
	}
	if cfg.ReportAppRate <= 0 {
		cfg.ReportAppRate = 20
	}
	if cfg.ReportAppBurst <= 0 {
		cfg.ReportAppBurst = 200
	}
	s.cfg = cfg
	m, err := newMetrics(s.reg, s)
	if err != nil {
		return nil, err
	}
	s.m = m
	if sch := cfg.Rotation.Schedule; sch != nil {
		if err := s.reg.Register(sch.Collector()); err != nil {
			return nil, fmt.Errorf("the ACME schedule's metrics: %w", err)
		}
	}
	if err := s.initAdoption(); err != nil {
		return nil, err
	}
	if err := s.initDevices(); err != nil {
		return nil, err
	}
	s.docs = newDocCache(cfg.Store, cfg.RefreshInterval, s.now)
	if cfg.Log != nil {
		if s.tlog, err = newLogService(cfg.Log, cfg.Store, cfg.RefreshInterval, s.now, s.log, func(w, result string) {
			s.m.witnesses.WithLabelValues(w, result).Inc()
		}); err != nil {
			return nil, err
		}
	}
	s.limiter = newLimiter(cfg.ReportRate, cfg.ReportBurst, s.now)
	s.appLimiter = newLimiter(cfg.ReportAppRate, cfg.ReportAppBurst, s.now)
	s.chains = report.NewChainCache(report.DefaultChainCacheBytes)
	s.shedder = newShedder(cfg.ReportParsers, cfg.ReportParseWait, cfg.ReportPending)
	if cfg.Console != nil {
		if s.console, err = cfg.Console(s); err != nil {
			return nil, err
		}
	}
	s.routes()
	return s, nil
}

// Store returns the server's store (for a monitor).
func (s *Server) Store() store.Store { return s.store }

// Registry returns the Prometheus registry /metrics serves.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Logger returns the server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Timeouts of the HTTP server against slow or idle clients.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 20 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 16 << 10
	ShutdownTimeout   = 10 * time.Second
)

// HTTPServer returns an http.Server for s with the timeouts above.
func (s *Server) HTTPServer(tlsConfig *tls.Config) *http.Server {
	rht := ReadHeaderTimeout
	if s.cfg.ReadHeaderTimeout > 0 {
		rht = s.cfg.ReadHeaderTimeout
	}
	return &http.Server{
		Handler:           s,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: rht,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// TLSConfig returns a server tls.Config for cert; with
// Config.AdminClientCAs set (and no admin listener, which then serves the
// admin endpoints) it asks for (but does not require) client
// certificates, which the admin endpoints then require. Otherwise, with
// Config.Devices, it requests (and leaves unverified: the renewal checks
// them) client certificates.
func (s *Server) TLSConfig(cert tls.Certificate) *tls.Config {
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if s.cfg.AdminClientCAs != nil && s.cfg.AdminListener == nil {
		c.ClientCAs = s.cfg.AdminClientCAs
		c.ClientAuth = tls.VerifyClientCertIfGiven
	} else if s.cfg.Devices != nil {
		// Device renewal over mutual TLS: the handshake proves the key,
		// device.Authority.Verify checks the certificate. (With admin
		// client CAs, devices renew with the certificate in the request.)
		c.ClientAuth = tls.RequestClientCert
	}
	return c
}

// Serve serves on ln (over TLS when tlsConfig is not nil) until ctx ends,
// then shuts down gracefully: it stops accepting, lets requests in flight
// finish (up to ShutdownTimeout) and stops the background tasks. It
// returns nil after a shutdown caused by ctx. With Config.MetricsListener
// it serves /metrics there too, with Config.AdminListener the admin API
// and the console. It warns (server.IsLoopback) when it
// serves plain HTTP, or /metrics without a token, off loopback.
func (s *Server) Serve(ctx context.Context, ln net.Listener, tlsConfig *tls.Config) error {
	s.syncMirror(ctx)
	hs := s.HTTPServer(tlsConfig)
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	tasks := append([]func(context.Context) error(nil), s.cfg.Tasks...)
	if s.cfg.Resign != nil {
		tasks = append(tasks, s.resignLoop)
	}
	tasks = append(tasks, s.rotationLoop)
	if sch := s.cfg.Rotation.Schedule; sch != nil {
		tasks = append(tasks, sch.Run)
	}
	running := len(tasks)
	for _, t := range tasks {
		go func() {
			defer func() { done <- struct{}{} }()
			if err := t(tctx); err != nil && tctx.Err() == nil {
				s.log.Error("background task failed", "err", err)
			}
		}()
	}
	errc := make(chan error, 3)
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	servers := []*http.Server{hs}
	if as := s.serveAdmin(errc); as != nil {
		servers = append(servers, as)
	}
	if mln := s.cfg.MetricsListener; mln != nil {
		ms := s.HTTPServer(nil)
		ms.Handler = s.metricsMux()
		servers = append(servers, ms)
		go func() { errc <- ms.Serve(mln) }()
		s.log.Info("serving metrics", "addr", mln.Addr().String(), "token", s.cfg.MetricsToken != "")
		if !IsLoopback(mln.Addr()) && s.cfg.MetricsToken == "" {
			s.log.Warn("serving /metrics without a token on a non-loopback address: the metrics name every app id", "addr", mln.Addr().String())
		}
	} else if !IsLoopback(ln.Addr()) && s.cfg.MetricsToken == "" {
		s.log.Warn("serving /metrics to anyone on a non-loopback address: the metrics name every app id; "+
			"set metrics_listen or metrics_token_file to restrict them", "addr", ln.Addr().String())
	}
	// "serving" comes last: whoever waits for it sees the lines above.
	if tlsConfig == nil && !IsLoopback(ln.Addr()) {
		s.log.Warn("serving plain HTTP on a non-loopback address: admin tokens, uploads and reports cross the network in clear; "+
			"serve TLS (--tls-cert, --tls-key) or listen on loopback behind a TLS-terminating proxy", "addr", ln.Addr().String())
	}
	go func() { errc <- hs.Serve(ln) }()
	s.log.Info("serving", "addr", ln.Addr().String(), "tls", tlsConfig != nil, "store", s.store.Backend())
	var err error
	select {
	case err = <-errc:
		// One server failed: stop the others.
		for _, x := range servers {
			x.Close()
		}
		for range servers[1:] {
			<-errc
		}
	case <-ctx.Done():
		s.log.Info("shutting down")
		sctx, scancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		for _, x := range servers {
			if serr := x.Shutdown(sctx); serr != nil && err == nil {
				err = serr
			}
		}
		scancel()
		for range servers {
			<-errc
		}
	}
	cancel()
	for range running {
		<-done
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// IsLoopback reports whether a listener's address is on loopback only
// (127.0.0.0/8, ::1): the one place that decides whether `pinset serve`
// warns that it serves plain HTTP, or open metrics, to the network. The
// unspecified address (0.0.0.0, ::) listens on every interface, so it is
// not loopback; neither is anything that is not an IP address.
func IsLoopback(a net.Addr) bool {
	var ip net.IP
	switch v := a.(type) {
	case *net.TCPAddr:
		ip = v.IP
	default:
		host, _, err := net.SplitHostPort(a.String())
		if err != nil {
			return false
		}
		ip = net.ParseIP(host)
	}
	return ip != nil && ip.IsLoopback()
}
