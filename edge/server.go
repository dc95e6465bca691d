package edge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"pinset.dev/pinset/internal/redact"
)

// Server is a configured edge (File.Build): its TLS listener, certificate
// reloading, revocation-list refresh and metrics listener.
type Server struct {
	listen, metricsListen         string
	cert                          *Certificate
	crl                           *Revocations
	clientCAs                     *x509.CertPool
	certEvery, crlEvery           time.Duration
	maxHeader                     int
	readHeader, read, write, idle time.Duration
	edge                          *Edge
	metrics                       *Metrics
	reg                           *prometheus.Registry
	log                           *slog.Logger
}

// Handler is the edge's request handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.edge }

// TLSConfig is the listener's TLS configuration: TLS 1.2 or later, the
// reloaded certificate, and device certificates verified by crypto/tls
// against the device CA when a client sends one (routes with mtls then
// require one, Edge.device).
func (s *Server) TLSConfig() *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.cert.GetCertificate, NextProtos: []string{"h2", "http/1.1"}}
	if s.clientCAs != nil {
		c.ClientAuth = tls.VerifyClientCertIfGiven
		c.ClientCAs = s.clientCAs
	}
	return c
}

// Listen opens the edge's TCP listener (not yet TLS).
func (s *Server) Listen() (net.Listener, error) { return net.Listen("tcp", s.listen) }

// Reload re-reads the certificate and the revocation list now (SIGHUP).
func (s *Server) Reload(ctx context.Context) {
	s.reloadCert(s.cert.Reload())
	if s.crl != nil {
		s.updateCRL(s.crl.Update(ctx))
	}
}

func (s *Server) reloadCert(changed bool, err error) {
	if err != nil {
		s.log.Error("certificate reload failed", "error", err.Error())
	} else if changed {
		s.log.Info("certificate reloaded", "cert_file", s.cert.CertFile)
	}
	if changed || err != nil {
		result(s.metrics.CertReloads, err)
	}
}

// jwksFailed logs and counts a failed key set fetch (the set held stays).
func (s *Server) jwksFailed(err error) {
	s.log.Error("key set fetch failed; the keys held stay", "error", redact.Text(err.Error()))
	if s.metrics != nil {
		s.metrics.JWKSFailures.Inc()
	}
}

func (s *Server) updateCRL(err error) {
	if err != nil {
		s.log.Error("revocation list update failed; the list held stays", "error", redact.Text(err.Error()), "next_update", s.crl.NextUpdate())
	}
	result(s.metrics.CRLUpdates, err)
}

// repeat calls f every interval until ctx ends.
func repeat(ctx context.Context, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// Serve serves TLS on ln until ctx ends, then shuts down gracefully
// (in-flight requests get 10 seconds). hup triggers Reload. The revocation
// list is fetched before the first request; if that fails the edge still
// starts, and mtls routes refuse every device until an update succeeds.
func (s *Server) Serve(ctx context.Context, ln net.Listener, hup <-chan struct{}) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	if s.crl != nil {
		s.updateCRL(s.crl.Update(ctx))
		wg.Add(1)
		go func() { defer wg.Done(); repeat(ctx, s.crlEvery, func() { s.updateCRL(s.crl.Update(ctx)) }) }()
	}
	wg.Add(2)
	go func() { defer wg.Done(); repeat(ctx, s.certEvery, func() { s.reloadCert(s.cert.Reload()) }) }()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				s.Reload(ctx)
			}
		}
	}()
	errc := make(chan error, 2)
	if s.metricsListen != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
		ms := &http.Server{Addr: s.metricsListen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { errc <- ms.ListenAndServe() }()
		defer ms.Close()
	}
	hs := &http.Server{
		Handler: s.edge, TLSConfig: s.TLSConfig(), MaxHeaderBytes: s.maxHeader,
		ReadHeaderTimeout: s.readHeader, ReadTimeout: s.read, WriteTimeout: s.write, IdleTimeout: s.idle,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	go func() { errc <- hs.Serve(tls.NewListener(ln, hs.TLSConfig)) }()
	s.log.Info("edge listening", "address", ln.Addr().String())
	select {
	case err := <-errc:
		hs.Close()
		return err
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
