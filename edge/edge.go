package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"pinset.dev/pinset/internal/redact"
	"pinset.dev/pinset/pin"
)

// Route is one path prefix and where its requests go.
type Route struct {
	Name      string     // in logs and metrics (bounded: one per route)
	Path      string     // "/v1/" matches /v1/ and below; "/v1" matches /v1 and /v1/...
	Upstreams []*url.URL // round robin
	MTLS      bool       // a verified, unrevoked device certificate is required
	Token     bool       // a valid access token is required
	Scopes    []string   // scopes the token must carry

	next  atomic.Uint64
	proxy *httputil.ReverseProxy
}

// Limits are the per-request rate limits; a Rate with zero Requests is
// off. Device applies on mutual-TLS routes, User on token routes, Addr on
// every request.
type Limits struct {
	Device, User, Addr Rate
}

// Config is an Edge's parts. Config.Build in config.go assembles one from
// the YAML file.
type Config struct {
	Routes      []*Route
	Devices     *Revocations // required when a route has MTLS
	Tokens      *Tokens      // required when a route has Token
	IdentityKey []byte       // HMAC key for Pinset-Edge-Auth, at least MinIdentityKey bytes
	Limiter     Limiter      // required when Limits has a limit
	Limits      Limits
	MaxBody     int64             // bytes of a request body; default 1 MiB
	Transport   http.RoundTripper // to the upstreams; default NewTransport(30s)
	Logger      *slog.Logger      // access log; nil: none
	Metrics     *Metrics          // nil: none
	Now         func() time.Time
}

// Edge is the reverse proxy's handler.
type Edge struct {
	c Config
}

// Decisions are the outcomes counted in metrics (a fixed set: labels stay
// bounded).
const (
	decProxied     = "proxied"
	decNoRoute     = "no_route"
	decBadPath     = "bad_path"
	decTooLarge    = "too_large"
	decNoDevice    = "device_refused"
	decNoToken     = "token_refused"
	decScope       = "scope_refused"
	decRateLimited = "rate_limited"
	decLimiterErr  = "limiter_error"
	decUpstreamErr = "upstream_error"
)

// NewTransport is the edge's transport to upstreams: keep-alive, and at
// most timeout for response headers.
func NewTransport(timeout time.Duration) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = timeout
	t.MaxIdleConnsPerHost = 256
	t.Proxy = nil
	return t
}

// New checks c and makes the handler.
func New(c Config) (*Edge, error) {
	if len(c.IdentityKey) < MinIdentityKey {
		return nil, fmt.Errorf("edge: the identity key must be at least %d bytes", MinIdentityKey)
	}
	if c.MaxBody <= 0 {
		c.MaxBody = 1 << 20
	}
	if c.Transport == nil {
		c.Transport = NewTransport(30 * time.Second)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Limiter == nil && (c.Limits.Device.Requests > 0 || c.Limits.User.Requests > 0 || c.Limits.Addr.Requests > 0) {
		return nil, errors.New("edge: rate limits need a limiter")
	}
	e := &Edge{c: c}
	seen := map[string]bool{}
	for _, r := range c.Routes {
		switch {
		case r.Name == "" || seen[r.Name]:
			return nil, fmt.Errorf("edge: route %q: every route needs its own name", r.Name)
		case !strings.HasPrefix(r.Path, "/") || cleanPath(r.Path) != r.Path:
			return nil, fmt.Errorf("edge: route %s: path %q must be a clean absolute path", r.Name, r.Path)
		case len(r.Upstreams) == 0:
			return nil, fmt.Errorf("edge: route %s: no upstream", r.Name)
		case r.MTLS && c.Devices == nil:
			return nil, fmt.Errorf("edge: route %s: mtls needs the devices section", r.Name)
		case (r.Token || len(r.Scopes) > 0) && c.Tokens == nil:
			return nil, fmt.Errorf("edge: route %s: tokens need the tokens section", r.Name)
		}
		seen[r.Name] = true
		r.Token = r.Token || len(r.Scopes) > 0
		r.proxy = e.proxy(r)
	}
	return e, nil
}

// who is what the checks established about a request, for Rewrite and
// the access log.
type who struct {
	device, user string
}

type whoKey struct{}

func (e *Edge) proxy(r *Route) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Transport: e.c.Transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			u := r.Upstreams[int(r.next.Add(1)%uint64(len(r.Upstreams)))]
			pr.SetURL(u)
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host
			w, _ := pr.In.Context().Value(whoKey{}).(*who)
			signIdentity(pr.Out.Header, e.c.IdentityKey, e.c.Now(), w.device, w.user, pr.Out.Method, pr.Out.URL.RequestURI())
		},
		ErrorHandler: func(rw http.ResponseWriter, req *http.Request, err error) {
			if lw, ok := rw.(*logWriter); ok {
				lw.decision, lw.err = decUpstreamErr, err
			}
			code := http.StatusBadGateway
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &mbe):
				code = http.StatusRequestEntityTooLarge
			case errors.Is(err, context.DeadlineExceeded):
				code = http.StatusGatewayTimeout
			}
			http.Error(rw, http.StatusText(code), code)
		},
	}
}

// ServeHTTP strips the identity headers, routes, checks the device, the
// token and the limits in that order, and proxies.
func (e *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	lw := &logWriter{ResponseWriter: w, start: e.c.Now(), route: "none", decision: decProxied}
	defer e.finish(lw, r)
	stripIdentity(r.Header)
	rt, dec := e.route(r)
	if rt == nil {
		code := http.StatusNotFound
		if dec == decBadPath {
			code = http.StatusBadRequest
		}
		lw.refuse(dec, code, nil)
		return
	}
	lw.route = rt.Name
	if r.ContentLength > e.c.MaxBody {
		lw.refuse(decTooLarge, http.StatusRequestEntityTooLarge, nil)
		return
	}
	r.Body = http.MaxBytesReader(lw, r.Body, e.c.MaxBody)
	wh := &who{}
	if !e.limit(lw, r, "addr", clientKey(r), e.c.Limits.Addr) {
		return
	}
	if rt.MTLS {
		d, err := e.device(r.TLS)
		if err != nil {
			lw.refuse(decNoDevice, http.StatusForbidden, err)
			return
		}
		wh.device, lw.device = d, d
		if !e.limit(lw, r, "device", d, e.c.Limits.Device) {
			return
		}
	}
	if rt.Token {
		if !e.token(lw, r, rt, wh) {
			return
		}
	}
	rt.proxy.ServeHTTP(lw, r.WithContext(context.WithValue(r.Context(), whoKey{}, wh)))
}

func (e *Edge) token(lw *logWriter, r *http.Request, rt *Route, wh *who) bool {
	raw, ok := bearer(r.Header)
	if !ok {
		lw.Header().Set("WWW-Authenticate", `Bearer error="invalid_request"`)
		lw.refuse(decNoToken, http.StatusUnauthorized, fmt.Errorf("%w: malformed Authorization header", ErrToken))
		return false
	}
	c, err := e.c.Tokens.Verify(r.Context(), raw, rt.Scopes)
	if errors.Is(err, ErrScope) {
		lw.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+strings.Join(rt.Scopes, " ")+`"`)
		lw.user = c.Subject
		lw.refuse(decScope, http.StatusForbidden, err)
		return false
	}
	if err != nil {
		if errors.Is(err, ErrTokenMissing) {
			lw.Header().Set("WWW-Authenticate", `Bearer`)
		} else {
			lw.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		}
		lw.refuse(decNoToken, http.StatusUnauthorized, err)
		return false
	}
	wh.user, lw.user = c.Subject, c.Subject
	return e.limit(lw, r, "user", c.Subject, e.c.Limits.User)
}

// device is the identity of the request's device: the SPKI pin of a
// client certificate that crypto/tls verified against the device CA
// (tls.Config.ClientCAs), that has not expired since, and that the current
// revocation list does not revoke. Expiry and revocation are checked per
// request, so a device is refused on the connections it holds open too.
func (e *Edge) device(cs *tls.ConnectionState) (string, error) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", ErrNoDeviceCert
	}
	leaf := cs.VerifiedChains[0][0]
	if e.c.Now().After(leaf.NotAfter) {
		return "", ErrDeviceExpired
	}
	if err := e.c.Devices.Check(leaf); err != nil {
		return "", err
	}
	return pin.FromCertificate(leaf).String(), nil
}

// limit applies one rate; it answers 429 (or 503 when the limiter fails:
// a limit that cannot be checked is not waived) and returns false when the
// request must stop.
func (e *Edge) limit(lw *logWriter, r *http.Request, name, key string, rate Rate) bool {
	if rate.Requests <= 0 {
		return true
	}
	d, err := e.c.Limiter.Allow(r.Context(), name+":"+key, rate)
	if err != nil {
		lw.refuse(decLimiterErr, http.StatusServiceUnavailable, err)
		return false
	}
	// Set directly: the names are canonical, and these run on every request.
	h := lw.Header()
	h["Ratelimit-Policy"] = []string{rateField(name, "q", rate.Requests, "w", rate.Period)}
	h["Ratelimit"] = []string{rateField(name, "r", d.Remaining, "t", d.ResetAfter)}
	if !d.Allowed {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(d.RetryAfter.Seconds()))))
		lw.refuse(decRateLimited, http.StatusTooManyRequests, fmt.Errorf("edge: %s rate limit", name))
		return false
	}
	return true
}

// rateField is one RateLimit or RateLimit-Policy value: "name";a=n;b=s
// with s in whole seconds, rounded up.
func rateField(name, a string, n int, b string, d time.Duration) string {
	buf := make([]byte, 0, 48)
	buf = append(append(append(append(buf, '"'), name...), `";`...), a...)
	buf = strconv.AppendInt(append(buf, '='), int64(n), 10)
	buf = append(append(append(buf, ';'), b...), '=')
	buf = strconv.AppendInt(buf, int64(math.Ceil(d.Seconds())), 10)
	return string(buf)
}

// clientKey is the rate-limit key of the connection's peer address (the
// edge trusts no X-Forwarded-For: it is the first hop).
func clientKey(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		return host
	}
	return AddrKey(ap.Addr())
}

// route is the one place that decides which route serves a request: the
// longest route path that is the request path or a parent of it. Paths
// that are not clean ("..", ".", "//") or that encode "/" or "\" are
// refused (decBadPath), so no route's prefix can be escaped through how an
// upstream would normalise them.
func (e *Edge) route(r *http.Request) (*Route, string) {
	p := r.URL.Path
	if !strings.HasPrefix(p, "/") || cleanPath(p) != p || strings.Contains(p, "\\") {
		return nil, decBadPath
	}
	if raw := strings.ToLower(r.URL.RawPath); strings.Contains(raw, "%2f") || strings.Contains(raw, "%5c") {
		return nil, decBadPath
	}
	var best *Route
	for _, rt := range e.c.Routes {
		if under(p, rt.Path) && (best == nil || len(rt.Path) > len(best.Path)) {
			best = rt
		}
	}
	if best == nil {
		return nil, decNoRoute
	}
	return best, ""
}

func under(p, prefix string) bool {
	if strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(p, prefix)
	}
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}

// cleanPath is path.Clean keeping a trailing slash.
func cleanPath(p string) string {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// logWriter records what the access log and the metrics need.
type logWriter struct {
	http.ResponseWriter
	start        time.Time
	status       int
	bytes        int64
	route        string
	decision     string
	device, user string
	err          error
}

func (w *logWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *logWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush lets streamed responses through.
func (w *logWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *logWriter) refuse(decision string, code int, err error) {
	w.decision, w.err = decision, err
	http.Error(w, http.StatusText(code), code)
}

// finish writes the access line and counts the request. The line holds no
// header values, no query string and no token: method, route, path,
// status, bytes, duration, client address, device pin, user (sub).
func (e *Edge) finish(w *logWriter, r *http.Request) {
	if w.decision == decProxied && w.status == 0 {
		w.status = http.StatusOK
	}
	var mbe *http.MaxBytesError
	if errors.As(w.err, &mbe) {
		w.decision = decTooLarge
	}
	d := e.c.Now().Sub(w.start)
	e.c.Metrics.observe(w.route, w.decision, w.status, d)
	if e.c.Logger == nil {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method), slog.String("route", w.route), slog.String("path", r.URL.Path),
		slog.Int("status", w.status), slog.Int64("bytes", w.bytes), slog.Duration("duration", d),
		slog.String("client", r.RemoteAddr), slog.String("decision", w.decision),
	}
	if w.device != "" {
		attrs = append(attrs, slog.String("device", w.device))
	}
	if w.user != "" {
		attrs = append(attrs, slog.String("user", w.user))
	}
	if w.err != nil {
		attrs = append(attrs, slog.String("reason", redact.Text(w.err.Error())))
	}
	e.c.Logger.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}
