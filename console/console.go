// Package console is the web console of `pinset serve`, served under
// /console/: what security and mobile teams look at every day (apps, the
// current root and manifest with every pin labelled, manifest history
// with diffs, coverage of every address, pin-failure reports, rotation
// plans, alerts) and the few actions an operator takes (publish a signed
// root or manifest, force it, advance or abort a rotation, revoke a
// token). docs/console.md is the user guide.
//
// # Design
//
// Pages are rendered on the server with html/template (contextual
// escaping of everything that comes from the store: host names, report
// fields and raw bodies are untrusted) and charts are SVG drawn by the
// server. One small embedded script (static/console.js) only enhances
// forms; every page works without it. There is no build step and nothing
// is loaded from anywhere but the service: templates, stylesheet and
// script are embedded in the binary.
//
// # Security
//
// A person signs in with an admin token, checked by the server's own
// check ([server.Server.AdminToken], after [server.Server.AdminTransport]
// when admin client certificates are configured), and gets a session
// cookie (HttpOnly, SameSite=Strict, Secure under TLS, Path /console/,
// an absolute expiry). The token is sent once, in a POST body, never in a
// URL, and is not kept. Every request re-checks the transport (mTLS) and
// that the session's token is still live, so revoking a token ends its
// sessions. Every POST needs the session's CSRF token and, when the
// browser sends one, an Origin of the service itself. Every answer
// carries a strict Content-Security-Policy (no inline script or style,
// nothing from elsewhere, no framing). Actions go through the functions
// the admin API uses (publishing through [server.Server.PublishManifest]
// and its gates) and are audited: one log line at INFO per action, with
// the token's name and a counter.
package console

import (
	"crypto/rand"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"pinset.dev/pinset/alert"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is the path the console is served under.
const Prefix = "/console/"

// DefaultSessionLifetime is how long a session lasts from sign-in.
const DefaultSessionLifetime = 8 * time.Hour

// Config configures a Console. Server is required.
type Config struct {
	// Server is the pin service the console shows and acts through.
	Server *server.Server
	// Alerts returns the alerts firing now (the monitor's); nil when no
	// monitor runs, which the alerts page says.
	Alerts func() []alert.Alert
	// Resolved returns the alerts that resolved, newest first, and how
	// many older ones were forgotten (monitor.Monitor.ResolvedAlerts);
	// nil when no monitor runs.
	Resolved func() ([]alert.Alert, int64)
	// Rand is the source of session ids and CSRF tokens; nil means
	// crypto/rand.
	Rand io.Reader
	// Now is the clock; nil means the server's.
	Now func() time.Time
	// SessionLifetime is how long a session lasts from sign-in; zero
	// means DefaultSessionLifetime.
	SessionLifetime time.Duration
	// MaxSessions bounds the sessions held in memory (default 10000);
	// beyond it the oldest is dropped.
	MaxSessions int
	// Logger receives the audit lines; nil means the server's logger.
	Logger *slog.Logger
}

// Console is the web console; it is an http.Handler for paths under
// Prefix.
type Console struct {
	srv      *server.Server
	st       store.Store
	alerts   func() []alert.Alert
	resolved func() ([]alert.Alert, int64)
	now      func() time.Time
	log      *slog.Logger
	sessions *sessions
	aggs     *aggCache
	pages    map[string]*template.Template
	mux      *http.ServeMux
	static   http.Handler
	actions  atomic.Int64 // the audit counter
}

// New builds a console.
func New(cfg Config) (*Console, error) {
	if cfg.Server == nil {
		return nil, fmt.Errorf("console: no server")
	}
	c := &Console{srv: cfg.Server, st: cfg.Server.Store(), alerts: cfg.Alerts, resolved: cfg.Resolved, now: cfg.Now, log: cfg.Logger}
	if c.now == nil {
		c.now = cfg.Server.Now
	}
	if c.log == nil {
		c.log = cfg.Server.Logger()
	}
	rnd := cfg.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	life := cfg.SessionLifetime
	if life <= 0 {
		life = DefaultSessionLifetime
	}
	max := cfg.MaxSessions
	if max <= 0 {
		max = 10000
	}
	c.sessions = newSessions(rnd, c.now, life, max)
	c.aggs = newAggCache(c.st, c.now, c.log)
	var err error
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	c.static = http.StripPrefix(Prefix+"static/", http.FileServerFS(sub))
	c.routes()
	return c, nil
}

// Mount returns a server.Config.Console function that builds a console
// from the server with cfg (cfg.Server is set to the server).
func Mount(cfg Config) func(s *server.Server) (http.Handler, error) {
	return func(s *server.Server) (http.Handler, error) {
		cfg.Server = s
		return New(cfg)
	}
}

func (c *Console) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /console/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+"apps", http.StatusSeeOther)
	})
	m.HandleFunc("GET /console/static/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		c.static.ServeHTTP(w, r)
	})
	m.HandleFunc("GET /console/signin", c.handleSignInPage)
	m.HandleFunc("POST /console/signin", c.handleSignIn)
	m.HandleFunc("POST /console/signout", c.authed(c.handleSignOut))

	m.HandleFunc("GET /console/apps", c.authed(c.handleApps))
	m.HandleFunc("GET /console/apps/{app}", c.authed(c.handleApp))
	m.HandleFunc("GET /console/apps/{app}/history", c.authed(c.handleHistory))
	m.HandleFunc("GET /console/apps/{app}/coverage", c.authed(c.handleCoverage))
	m.HandleFunc("GET /console/apps/{app}/reports", c.authed(c.handleReports))
	m.HandleFunc("GET /console/apps/{app}/rotation", c.authed(c.handleRotation))
	m.HandleFunc("GET /console/apps/{app}/publish", c.authed(c.handlePublishPage))
	m.HandleFunc("POST /console/apps/{app}/publish", c.authed(c.handlePublish))
	m.HandleFunc("POST /console/rotations/{id}/{action}", c.authed(c.handleRotationAction))
	m.HandleFunc("GET /console/reports/{id}", c.authed(c.handleReport))
	m.HandleFunc("GET /console/reports/{id}/raw", c.authed(c.handleRawReport))
	m.HandleFunc("GET /console/alerts", c.authed(c.handleAlerts))
	m.HandleFunc("GET /console/tokens", c.authed(c.handleTokens))
	m.HandleFunc("POST /console/tokens/revoke", c.authed(c.handleRevoke))
	c.mux = m
}

// ContentSecurityPolicy is sent with every answer: nothing but the
// service's own stylesheet, script and images; no inline script or style
// (the templates have none), no plugins, no framing, forms post only to
// the service.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: under no-referrer browsers send
	// "Origin: null" on form posts, which the origin check refuses.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if !strings.HasPrefix(r.URL.Path, Prefix+"static/") {
		h.Set("Cache-Control", "no-store")
	}
	c.mux.ServeHTTP(w, r)
}
