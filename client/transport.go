package client

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"pinset.dev/pinset/enforce"
	"pinset.dev/pinset/policy"
)

// Policies returns the host policies in force. It makes a Client an
// [enforce.Source]: the enforcer reads it on every handshake, so a new
// manifest applies to the next connection without rebuilding anything.
// It never returns nil: there is no path to zero pins.
func (c *Client) Policies() *policy.Set {
	return c.state.Load().set
}

// TLSConfig returns a copy of base (which may be nil) that enforces the
// client's current pins in VerifyConnection, on new and resumed sessions
// alike, after normal certificate verification. Use it for gRPC and custom
// dialers. Client certificates (mutual TLS), RootCAs (a private CA) and
// other settings of base are kept. base must not set InsecureSkipVerify:
// pins are only ever checked against verified chains, and a config built
// from such a base fails every handshake with enforce.ErrInsecureBase.
//
// The returned config shares the client's session cache, which is emptied
// whenever the pins change, so no session made under old pins is resumed.
// Connections a caller keeps open are the caller's to close; [EventUpdated]
// says when.
func (c *Client) TLSConfig(base *tls.Config) *tls.Config {
	cfg := c.enf.TLSConfig(c.baseTLS(base))
	return cfg
}

func (c *Client) baseTLS(base *tls.Config) *tls.Config {
	if base == nil {
		base = c.cfg.TLS
	}
	var b *tls.Config
	if base != nil {
		b = base.Clone()
	} else {
		b = &tls.Config{}
	}
	b.ClientSessionCache = c.sessions
	if c.device != nil {
		b.GetClientCertificate = c.getClientCertificate // device.go
	}
	if b.Time == nil && c.cfg.Now != nil {
		b.Time = c.cfg.Now
	}
	return b
}

// Transport returns an http.RoundTripper that enforces the client's pins.
// Every call returns a new RoundTripper with its own connection pool:
// create one and reuse it, as with http.Transport. The client keeps only a
// weak reference to it, so a RoundTripper that is no longer used is
// collected.
// When the pins change, every RoundTripper of the client starts a fresh pool
// and closes the idle connections of the old one, so no connection (and no
// TLS session) made under old pins is reused. Proxies from the environment
// are honoured; the pins apply to the origin's chain behind a CONNECT proxy.
func (c *Client) Transport() http.RoundTripper {
	t := &pinnedTransport{c: c}
	t.cur.Store(c.newHTTPTransport())
	c.tmu.Lock()
	live := c.transports[:0]
	for _, w := range c.transports {
		if w.Value() != nil {
			live = append(live, w)
		}
	}
	c.transports = append(live, weak.Make(t))
	c.tmu.Unlock()
	if c.cfg.TokenSource != nil {
		return &tokenTransport{src: c.cfg.TokenSource, next: t} // device.go
	}
	return t
}

// liveTransports returns the client's transports still in use.
func (c *Client) liveTransports() []*pinnedTransport {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	var out []*pinnedTransport
	for _, w := range c.transports {
		if t := w.Value(); t != nil {
			out = append(out, t)
		}
	}
	return out
}

// HTTPClient returns a new *http.Client using a new [Client.Transport].
func (c *Client) HTTPClient() *http.Client {
	return &http.Client{Transport: c.Transport()}
}

func (c *Client) newHTTPTransport() *http.Transport {
	tcfg := c.TLSConfig(nil)
	dial := c.cfg.DialContext
	if dial == nil {
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		dial = d.DialContext
	}
	t := &http.Transport{
		Proxy:       http.ProxyFromEnvironment,
		DialContext: dial,
		// The dial checks pins itself, knowing the host and port; it
		// starts from the base configuration, not tcfg, whose own check
		// would run a second time on every handshake.
		DialTLSContext:        c.healingDial(c.dialEnf.DialTLSContextWith(c.baseTLS(nil), dial)), // heal.go
		TLSClientConfig:       tcfg,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return t
}

// pinnedTransport is the RoundTripper of [Client.Transport]: an
// http.Transport per generation of pins.
type pinnedTransport struct {
	c   *Client
	mu  sync.Mutex
	cur atomic.Pointer[http.Transport]
	old []*http.Transport
}

func (t *pinnedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.c.kickDeviceRenewal() // device.go
	return t.cur.Load().RoundTrip(req)
}

// CloseIdleConnections closes idle connections of every generation.
func (t *pinnedTransport) CloseIdleConnections() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cur.Load().CloseIdleConnections()
	for _, o := range t.old {
		o.CloseIdleConnections()
	}
}

// renew starts a fresh pool. Connections of the old pool still busy with a
// request finish it, return to a pool no request uses any more, and are
// closed by the next renewal, CloseIdleConnections or the idle timeout.
func (t *pinnedTransport) renew() {
	t.mu.Lock()
	defer t.mu.Unlock()
	prev := t.cur.Swap(t.c.newHTTPTransport())
	prev.CloseIdleConnections()
	for _, o := range t.old {
		o.CloseIdleConnections()
	}
	t.old = append(t.old[:0], prev)
}

// pinsChanged runs after a new pin set is in force: it empties the session
// cache and renews every transport's pool.
func (c *Client) pinsChanged() {
	c.sessions.reset()
	for _, t := range c.liveTransports() {
		t.renew()
	}
}

// sessionCache is a tls.ClientSessionCache that can be emptied at once.
type sessionCache struct {
	cur atomic.Pointer[lruHolder]
}

type lruHolder struct{ c tls.ClientSessionCache }

func newSessionCache() *sessionCache {
	s := &sessionCache{}
	s.reset()
	return s
}

func (s *sessionCache) reset() {
	s.cur.Store(&lruHolder{tls.NewLRUClientSessionCache(256)})
}

func (s *sessionCache) Get(key string) (*tls.ClientSessionState, bool) {
	return s.cur.Load().c.Get(key)
}

func (s *sessionCache) Put(key string, cs *tls.ClientSessionState) {
	s.cur.Load().c.Put(key, cs)
}

// onFailure is the enforcer's failure hook: an event, then a report.
func (c *Client) onFailure(f *enforce.Failure) {
	reason := "no pinned key in the verified chain of " + f.Host
	if f.ReportOnly {
		reason += " (report-only: connection allowed)"
	}
	c.emit(Event{Kind: EventPinFailure, Host: f.Host, Port: f.Port, Failure: f, Reason: reason})
	c.rep.enqueue(f)
}
