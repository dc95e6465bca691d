package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"pinset.dev/pinset/store"
)

// The web console (package console) is built from the server by
// Config.Console and served under /console/. It signs people in with the
// same checks as the admin API (AdminTransport, AdminToken) and acts
// through the same functions (PublishRoot, PublishManifest, StepRotation,
// AbortRotation), so each decision stays in one place.

// Errors of the admin checks; test with errors.Is.
var (
	// ErrClientCertificate: Config.AdminClientCAs is set and the request
	// did not come over TLS with a client certificate that verifies.
	ErrClientCertificate = errors.New("the admin API requires a client certificate from the configured CA")
	// ErrInvalidToken: no live admin token has this secret.
	ErrInvalidToken = errors.New("invalid or revoked token")
)

// AdminTransport checks what the admin API requires of a request's
// transport: with Config.AdminClientCAs, a TLS connection with a verified
// client certificate (ErrClientCertificate otherwise).
func (s *Server) AdminTransport(r *http.Request) error {
	if s.cfg.AdminClientCAs != nil && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
		s.m.authFailures.WithLabelValues("client_certificate").Inc()
		return ErrClientCertificate
	}
	return nil
}

// AdminToken checks an admin token's secret against the store's live
// tokens (constant time, store.CheckToken) and returns the token's name,
// or ErrInvalidToken. The secret is never logged.
func (s *Server) AdminToken(ctx context.Context, secret string) (string, error) {
	name, err := s.store.CheckToken(ctx, secret)
	if errors.Is(err, store.ErrNotFound) {
		s.m.authFailures.WithLabelValues("invalid").Inc()
		return "", ErrInvalidToken
	}
	return name, err
}

// WithTokenName returns ctx carrying the name of the admin token on whose
// behalf a request acts: publications and rotation steps log and audit it.
func WithTokenName(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, tokenNameKey, name)
}

// TokenName returns the admin token name ctx carries ("" when none).
func TokenName(ctx context.Context) string { return tokenName(ctx) }

// Now returns the server's clock.
func (s *Server) Now() time.Time { return s.now() }
