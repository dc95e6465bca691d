package certs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Challenge is what a Solver publishes for one domain.
type Challenge struct {
	// Domain is the name being validated (without a "*." prefix).
	Domain string
	// Token names the HTTP-01 resource.
	Token string
	// KeyAuth is the HTTP-01 response body (token "." account thumbprint).
	KeyAuth string
	// DNSValue is the DNS-01 TXT value (base64url SHA-256 of KeyAuth).
	DNSValue string
}

// Solver publishes challenge answers. Present makes the answer visible to
// the CA and returns the function that removes it again; Issue calls that
// function whatever the outcome.
type Solver interface {
	// Type is the ACME challenge type: "http-01" or "dns-01".
	Type() string
	Present(ctx context.Context, ch Challenge) (cleanup func(context.Context) error, err error)
}

// http01Prefix is the path of HTTP-01 answers (RFC 8555 §8.3).
const http01Prefix = "/.well-known/acme-challenge/"

// HTTP01Server answers HTTP-01 challenges on its own listener. The CA
// connects to port 80 of each domain; the listener is there, or behind a
// proxy that forwards /.well-known/acme-challenge/ to it. It serves the
// answers of the challenges being validated and nothing else.
type HTTP01Server struct {
	ln  net.Listener
	srv *http.Server

	mu      sync.Mutex
	answers map[string]string // token → key authorization
}

// ListenHTTP01 starts an HTTP-01 server on addr (host:port).
func ListenHTTP01(addr string) (*HTTP01Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("HTTP-01 listener: %w", err)
	}
	s := &HTTP01Server{ln: ln, answers: map[string]string{}}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    8 << 10,
	}
	go s.srv.Serve(ln)
	return s, nil
}

// Addr is the address the server listens on.
func (s *HTTP01Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops the server.
func (s *HTTP01Server) Close() error { return s.srv.Close() }

// Type implements Solver.
func (s *HTTP01Server) Type() string { return "http-01" }

// Present implements Solver.
func (s *HTTP01Server) Present(_ context.Context, ch Challenge) (func(context.Context) error, error) {
	if !validToken(ch.Token) {
		return nil, fmt.Errorf("the CA's token %q is not base64url", ch.Token)
	}
	s.mu.Lock()
	s.answers[ch.Token] = ch.KeyAuth
	s.mu.Unlock()
	return func(context.Context) error {
		s.mu.Lock()
		delete(s.answers, ch.Token)
		s.mu.Unlock()
		return nil
	}, nil
}

// ServeHTTP answers GET and HEAD of /.well-known/acme-challenge/TOKEN for
// the tokens presented; everything else is 404.
func (s *HTTP01Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.URL.Path, http01Prefix)
	if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) || !validToken(token) {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	answer, ok := s.answers[token]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte(answer))
}

// validToken: ACME tokens are base64url with at least 128 bits of entropy
// (RFC 8555 §8.3); anything else is not looked up.
func validToken(t string) bool {
	if len(t) < 22 || len(t) > 256 {
		return false
	}
	for _, c := range []byte(t) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// DNS01Hook answers DNS-01 challenges by running a command, without a
// shell:
//
//	COMMAND... set   _acme-challenge.DOMAIN VALUE
//	COMMAND... clear _acme-challenge.DOMAIN VALUE
//
// "set" must return only once the TXT record is published where the CA
// will look (the authoritative servers); "clear" removes that value. A
// non-zero exit is an error, shown with the first 4 KiB of the output.
type DNS01Hook struct {
	// Command is the program and its first arguments.
	Command []string
	// Timeout bounds each run; zero means 5 minutes.
	Timeout time.Duration
}

// Type implements Solver.
func (h *DNS01Hook) Type() string { return "dns-01" }

// RecordName is the TXT record DNS-01 validates for domain (RFC 8555
// §8.4); a wildcard's record is its base name's.
func RecordName(domain string) string {
	return "_acme-challenge." + strings.TrimPrefix(domain, "*.")
}

// Present implements Solver.
func (h *DNS01Hook) Present(ctx context.Context, ch Challenge) (func(context.Context) error, error) {
	if len(h.Command) == 0 {
		return nil, errors.New("no DNS-01 hook command")
	}
	name := RecordName(ch.Domain)
	if err := h.run(ctx, "set", name, ch.DNSValue); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return h.run(ctx, "clear", name, ch.DNSValue) }, nil
}

func (h *DNS01Hook) run(ctx context.Context, verb, name, value string) error {
	t := h.Timeout
	if t <= 0 {
		t = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	args := append(append([]string{}, h.Command[1:]...), verb, name, value)
	cmd := exec.CommandContext(ctx, h.Command[0], args...)
	var out capped
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("DNS-01 hook %s %s %s: %w: %s", h.Command[0], verb, name, err, bytes.TrimSpace(out.b))
	}
	return nil
}

// capped keeps the first 4 KiB written to it.
type capped struct{ b []byte }

func (c *capped) Write(p []byte) (int, error) {
	if n := 4<<10 - len(c.b); n > 0 {
		c.b = append(c.b, p[:min(n, len(p))]...)
	}
	return len(p), nil
}
