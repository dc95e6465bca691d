package server

import (
	"crypto/tls"
	"errors"
	"net/http"
)

// The admin listener (Config.AdminListener): the admin API and the
// console on an address of their own (an internal interface, a VPN,
// loopback behind a bastion), with their own TLS certificate and, with
// Config.AdminClientCAs, client certificates required at the handshake.
// The main listener, which apps and report senders reach, then has no
// admin route at all: nothing there answers to an admin token.

// ErrAdminListenerNeedsTLS: Config.AdminClientCAs with an admin listener
// that has no certificate (Config.AdminCert).
var ErrAdminListenerNeedsTLS = errors.New("admin client certificates on the admin listener need its TLS certificate")

func (c *Config) checkAdminListener() error {
	if c.AdminListener == nil {
		if c.AdminCert != nil {
			return errors.New("server: an admin certificate without an admin listener")
		}
		return nil
	}
	if c.AdminClientCAs != nil && c.AdminCert == nil {
		return ErrAdminListenerNeedsTLS
	}
	return nil
}

// AdminHandler serves the admin API and the console: the server itself
// without an admin listener, else what the admin listener serves (the
// server's ServeHTTP then serves neither).
func (s *Server) AdminHandler() http.Handler { return s.adminHandler }

// AdminTLSConfig is the admin listener's TLS configuration: its
// certificate, and with Config.AdminClientCAs a verified client
// certificate required at the handshake (the admin check,
// AdminTransport, still runs on every request).
func (s *Server) AdminTLSConfig() *tls.Config {
	if s.cfg.AdminCert == nil {
		return nil
	}
	c := &tls.Config{Certificates: []tls.Certificate{*s.cfg.AdminCert}, MinVersion: tls.VersionTLS12}
	if s.cfg.AdminClientCAs != nil {
		c.ClientCAs = s.cfg.AdminClientCAs
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c
}

// serveAdmin starts serving the admin listener, when there is one; its
// end is sent on errc.
func (s *Server) serveAdmin(errc chan<- error) *http.Server {
	aln := s.cfg.AdminListener
	if aln == nil {
		return nil
	}
	tc := s.AdminTLSConfig()
	as := s.HTTPServer(tc)
	as.Handler = s.adminHandler
	if tc != nil {
		aln = tls.NewListener(aln, tc)
	}
	go func() { errc <- as.Serve(aln) }()
	s.log.Info("serving the admin API and console", "addr", aln.Addr().String(), "tls", tc != nil, "client_certificates", s.cfg.AdminClientCAs != nil)
	if tc == nil && !IsLoopback(aln.Addr()) {
		s.log.Warn("serving the admin API and console over plain HTTP on a non-loopback address: admin tokens and sessions cross the network in clear; "+
			"set admin_tls_cert and admin_tls_key", "addr", aln.Addr().String())
	}
	return as
}
