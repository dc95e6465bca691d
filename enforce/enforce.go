// Package enforce checks pins during Go TLS handshakes.
//
// An [Enforcer] holds a [Source] of host policies and checks, on every
// handshake, that a pin of the matching policy appears in a chain the
// platform verified. It is the one place pinset decides whether a
// connection's keys are acceptable:
//
//	e := enforce.New(enforce.Static(set), enforce.Options{OnFailure: report})
//	client := &http.Client{Transport: &http.Transport{
//		DialTLSContext: e.DialTLSContext(&tls.Config{RootCAs: roots}, &net.Dialer{}),
//	}}
//
// or, when the dialer is not yours, wrap the TLS configuration:
//
//	cfg := e.TLSConfig(&tls.Config{RootCAs: roots})
//
// # What is checked, and when
//
// The check runs in [tls.Config.VerifyConnection], which Go calls after
// normal certificate verification on every handshake, new and resumed
// alike (VerifyPeerCertificate is not called on resumption, so it is not
// used). Pins are compared only with [tls.ConnectionState.VerifiedChains]:
// the chains from the leaf to a trusted root that Go built. The
// certificates the server sent are never trusted for this: an attacker
// holding any certificate from a trusted CA can append the genuine pinned
// certificate to what it serves (CVE-2016-2402), and that certificate is
// not part of any verified chain. When Go built several verified chains, a
// pin in any of them is enough.
//
// A host no policy covers passes. A host with an enforced policy fails with
// a [*Failure] (errors.Is(err, [ErrPinMismatch])) unless some pin matches. A
// report-only policy calls [Options.OnFailure] and lets the connection
// through. OnFailure is also called for enforced failures, so that one
// callback can send every report.
//
// # One decision, several callers
//
// [Enforcer.Check] makes the decision over a [Connection]: the host, the
// port and the verified chains. VerifyConnection fills one from Go's
// handshake state; a platform that verified a chain itself (Android's
// X509TrustManagerExtensions, Apple's SecTrustEvaluateWithError) hands its
// verified chain to the same function through package mobile. The table of
// package enforcetest is run through both.
//
// # Which host
//
// The host matched against policies is the name the certificate was
// verified for: the TLS ServerName when set, otherwise the SNI the client
// sent. Go sends no SNI for IP literals; [Enforcer.DialTLSContext] knows the
// address it dials and uses it. [Enforcer.Verify] and [Enforcer.TLSConfig]
// without a ServerName fall back to the IP addresses the verified leaf
// names, and check every policy that covers one of them.
//
// # Swapping pin sets
//
// The Source is read on every handshake, so a client can replace its pin
// set at run time ([AtomicSource]) and the next handshake, including a
// resumed one, uses the new set.
package enforce

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

// Source supplies the current host policies. Policies is called on every
// handshake and must be safe for concurrent use; a nil set pins nothing.
type Source interface {
	Policies() *policy.Set
}

// Static returns a Source that always returns set.
func Static(set *policy.Set) Source { return staticSource{set} }

type staticSource struct{ set *policy.Set }

func (s staticSource) Policies() *policy.Set { return s.set }

// AtomicSource is a Source whose set can be replaced while connections are
// being made. The zero value pins nothing.
type AtomicSource struct{ p atomic.Pointer[policy.Set] }

// NewAtomicSource returns an AtomicSource holding set.
func NewAtomicSource(set *policy.Set) *AtomicSource {
	s := &AtomicSource{}
	s.Store(set)
	return s
}

// Store replaces the set; handshakes that start afterwards use it.
func (s *AtomicSource) Store(set *policy.Set) { s.p.Store(set) }

// Policies returns the current set.
func (s *AtomicSource) Policies() *policy.Set { return s.p.Load() }

// Options tune an Enforcer.
type Options struct {
	// OnFailure, when set, is called with every failure: enforced ones
	// (which also refuse the connection) and report-only ones (which do
	// not). It runs inside the handshake: keep it quick and hand reports
	// to a queue.
	OnFailure func(*Failure)
	// Now stamps failures; nil means time.Now.
	Now func() time.Time
}

// Enforcer checks pins. It is safe for concurrent use.
type Enforcer struct {
	src  Source
	opts Options
}

// New returns an Enforcer reading policies from src.
func New(src Source, opts Options) *Enforcer {
	if src == nil {
		src = Static(nil)
	}
	return &Enforcer{src: src, opts: opts}
}

// ErrPinMismatch is matched (with errors.Is) by every *Failure.
var ErrPinMismatch = errors.New("pin mismatch")

// ErrInsecureBase is returned on every handshake of a configuration built
// from a base with InsecureSkipVerify set: without normal verification
// there are no verified chains, and pins checked against whatever a server
// sends protect nothing.
var ErrInsecureBase = errors.New("enforce: the base tls.Config sets InsecureSkipVerify; pins are checked only against verified chains, so pinning refuses to run without normal verification")

// CheckBase is the one guard against InsecureSkipVerify on a pinned
// connection: it returns ErrInsecureBase when base sets it (nil is fine).
// Every configuration that checks pins passes through it — [Enforcer.TLSConfig]
// and [Enforcer.DialTLSContext] here, client.New for its Config.TLS — and
// nothing clears the field silently: a base that sets it is refused, loudly.
func CheckBase(base *tls.Config) error {
	if base != nil && base.InsecureSkipVerify {
		return ErrInsecureBase
	}
	return nil
}

// Failure describes a handshake whose verified chains hold none of the
// pins of the host's policy. It carries what a failure report needs.
type Failure struct {
	Host       string        // the host matched against policies (normalised)
	Port       int           // 0 when unknown
	Policy     policy.Policy // the policy that matched Host
	Expected   []pin.Pin     // the policy's pins
	ReportOnly bool          // true when the connection was allowed anyway
	Resumed    bool          // the handshake resumed an earlier session
	Time       time.Time
	// VerifiedChains are the chains Go verified (leaf first), the only
	// chains pins are compared with. Empty when verification was skipped.
	VerifiedChains [][]*x509.Certificate
	// ServedChain is what the server sent, leaf first; for reports only.
	ServedChain []*x509.Certificate
}

// Error explains the failure in one line.
func (f *Failure) Error() string {
	var b strings.Builder
	mode := "refused"
	if f.ReportOnly {
		mode = "allowed (report-only)"
	}
	fmt.Fprintf(&b, "pin mismatch for %s, connection %s: ", hostPort(f.Host, f.Port), mode)
	if len(f.VerifiedChains) == 0 {
		b.WriteString("no verified chain (certificate verification was skipped)")
	} else {
		fmt.Fprintf(&b, "no key of the verified chain (%s) is among the %d pin(s) of %q (%s)",
			joinPins(f.VerifiedPins()), len(f.Expected), f.Policy.Pattern, joinPins(f.Expected))
	}
	return b.String()
}

// Is makes errors.Is(err, ErrPinMismatch) true.
func (f *Failure) Is(target error) bool { return target == ErrPinMismatch }

// VerifiedPins returns the pins of every certificate of the verified
// chains, leaf first, each once.
func (f *Failure) VerifiedPins() []pin.Pin { return pin.FromChains(f.VerifiedChains) }

// ServedPins returns the pins of the served chain, in the order sent.
func (f *Failure) ServedPins() []pin.Pin {
	out := make([]pin.Pin, len(f.ServedChain))
	for i, c := range f.ServedChain {
		out[i] = pin.FromCertificate(c)
	}
	return out
}

func joinPins(ps []pin.Pin) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Format(pin.OkHttp)
	}
	return strings.Join(s, ", ")
}

func hostPort(host string, port int) string {
	if port == 0 {
		return host
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// Verify checks the pins of the connection's host against its verified
// chains and returns nil, or a *Failure for an enforced policy. port is
// carried into failures (0 when unknown). The host is cs.ServerName; when
// that is empty (an IP literal), every policy covering an IP address of
// the verified leaf is checked.
func (e *Enforcer) Verify(cs tls.ConnectionState, port int) error {
	return e.Check(connection(cs.ServerName, cs, port))
}

// Connection is what the pin decision looks at: the host a chain was
// verified for, and the chains the platform verified. It is filled from a
// Go handshake by VerifyConnection, and by callers whose platform verified
// the chain itself (Android's X509TrustManagerExtensions, Apple's
// SecTrustEvaluateWithError: package mobile).
type Connection struct {
	// Host is the name the chain was verified for. Empty means an IP
	// literal dialled without a name: every policy covering an IP address
	// of the verified leaf is checked.
	Host string
	// Port is carried into failures; 0 when unknown.
	Port int
	// VerifiedChains are the chains from the leaf (first) to a trusted
	// root that the platform built and verified. Pins are compared with
	// these only. Never pass the certificates the server sent: a server
	// can append any certificate to them (CVE-2016-2402).
	VerifiedChains [][]*x509.Certificate
	// ServedChain is what the server sent, leaf first, when known; it is
	// only carried into failure reports and never decides anything.
	ServedChain []*x509.Certificate
	// Resumed says the handshake resumed an earlier session.
	Resumed bool
}

func connection(host string, cs tls.ConnectionState, port int) Connection {
	return Connection{Host: host, Port: port, VerifiedChains: cs.VerifiedChains, ServedChain: cs.PeerCertificates, Resumed: cs.DidResume}
}

// Check is the pin decision, the one place it is made: nil when the host
// has no policy or some verified chain holds a pin of the policy that
// applies to it (policy.Set.Match: the most specific); otherwise a
// [*Failure], passed to Options.OnFailure, and returned unless the policy
// is report-only. VerifyConnection calls it on every Go handshake; callers
// whose platform verified a chain call it with that chain.
func (e *Enforcer) Check(conn Connection) error {
	set := e.src.Policies()
	if set == nil || set.Len() == 0 {
		return nil
	}
	if conn.Host != "" {
		return e.check(set, conn.Host, conn)
	}
	// No name: the client dialled an IP literal without ServerName. Go
	// verified the leaf for that address, so it is one of the leaf's IP
	// SANs; check every policy that covers any of them.
	if len(conn.VerifiedChains) == 0 || len(conn.VerifiedChains[0]) == 0 {
		if len(conn.ServedChain) == 0 {
			return nil
		}
		for _, ip := range conn.ServedChain[0].IPAddresses {
			if _, ok := set.Match(ip.String()); ok {
				return e.check(set, ip.String(), conn)
			}
		}
		return nil
	}
	for _, ip := range conn.VerifiedChains[0][0].IPAddresses {
		if err := e.check(set, ip.String(), conn); err != nil {
			return err
		}
	}
	return nil
}

func (e *Enforcer) check(set *policy.Set, host string, conn Connection) error {
	pol, ok := set.Match(host)
	if !ok {
		return nil
	}
	for _, chain := range conn.VerifiedChains {
		for _, c := range chain {
			if pin.Contains(pol.Pins, pin.FromCertificate(c)) {
				return nil
			}
		}
	}
	if h, err := policy.NormalizeHost(host); err == nil {
		host = h
	} else {
		// The policy matched the name in the form Match compares it in
		// (policy.FoldHost); the failure names it in that form too.
		host = policy.FoldHost(host)
	}
	now := time.Now
	if e.opts.Now != nil {
		now = e.opts.Now
	}
	f := &Failure{
		Host: host, Port: conn.Port, Policy: pol, Expected: pol.Pins, ReportOnly: pol.ReportOnly,
		Resumed: conn.Resumed, Time: now(), VerifiedChains: conn.VerifiedChains, ServedChain: conn.ServedChain,
	}
	if e.opts.OnFailure != nil {
		e.opts.OnFailure(f)
	}
	if f.ReportOnly {
		return nil
	}
	return f
}

// TLSConfig returns a clone of base (nil means an empty config) whose
// VerifyConnection checks pins after normal verification, then calls
// base.VerifyConnection if there is one. Failures carry port 0: use
// DialTLSContext to have ports in reports. A base with InsecureSkipVerify
// gives a configuration whose every handshake fails with ErrInsecureBase
// (see [CheckBase]); DialTLSContext refuses it before dialling.
func (e *Enforcer) TLSConfig(base *tls.Config) *tls.Config {
	return e.config(base, "", 0)
}

func (e *Enforcer) config(base *tls.Config, dialHost string, port int) *tls.Config {
	var cfg *tls.Config
	if base == nil {
		cfg = &tls.Config{}
	} else {
		cfg = base.Clone()
	}
	next := cfg.VerifyConnection
	insecure := CheckBase(cfg)
	fixedName := cfg.ServerName
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if insecure != nil {
			return insecure
		}
		host := fixedName
		if host == "" {
			host = dialHost
		}
		if host == "" {
			host = cs.ServerName
		}
		if err := e.Check(connection(strings.Trim(host, "[]"), cs, port)); err != nil {
			return err
		}
		if next != nil {
			return next(cs)
		}
		return nil
	}
	return cfg
}

// DialTLSContext returns a dial function (for http.Transport.DialTLSContext
// and the like) that connects with d (nil means a zero net.Dialer),
// handshakes with a clone of base whose ServerName defaults to the dialled
// host, and checks pins knowing the host and port. The returned connection
// is a *tls.Conn whose handshake is complete.
func (e *Enforcer) DialTLSContext(base *tls.Config, d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if d == nil {
		d = &net.Dialer{}
	}
	return e.DialTLSContextWith(base, d.DialContext)
}

// DialTLSContextWith is DialTLSContext over any dial function, for callers
// that route connections themselves (a custom resolver, a proxy, a test
// network). The name and port checked are those of addr as asked for, not
// of wherever dial connects.
func (e *Enforcer) DialTLSContextWith(base *tls.Config, dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, portStr, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("enforce: dial %q: %w", addr, err)
		}
		if err := CheckBase(base); err != nil {
			return nil, err
		}
		port, _ := strconv.Atoi(portStr)
		cfg := e.config(base, host, port)
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		raw, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		conn := tls.Client(raw, cfg)
		if err := conn.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		return conn, nil
	}
}
