// Package probe connects to TLS servers and reports the chains they serve.
//
// [Probe] resolves a host, connects to one address (or, with
// [Options.AllAddrs], to every IPv4 and IPv6 address), handshakes with SNI
// and normal certificate verification, and returns one [Result] per address:
// the chain the server sent, the chains Go verified, and why verification
// failed when it did. It is what `pinset pin --connect`, `pinset check`, the
// service's monitor and `pinset export --connect` build on.
//
// Probe never turns verification off. When a chain does not verify
// (expired, self-signed, wrong name, unknown CA), the served certificates
// come from the [tls.CertificateVerificationError] and the Result says the
// chain is unverified and why: a tool may print such pins, but must say
// they are unverified.
//
// For tests, [Options.Resolve] maps "HOST:PORT" to addresses, as curl's
// --resolve does, so that a name can be pointed at loopback servers.
package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

// DefaultTimeout bounds one address's connection and handshake.
const DefaultTimeout = 10 * time.Second

// Options tune a probe. The zero value verifies against the system roots
// with SNI set to the host.
type Options struct {
	// ServerName is the SNI and the name verified; default: the host.
	ServerName string
	// RootCAs are the trusted roots; nil means the system's.
	RootCAs *x509.CertPool
	// Timeout bounds each address (dial and handshake); zero means
	// DefaultTimeout.
	Timeout time.Duration
	// AllAddrs connects to every resolved address instead of the first
	// that answers.
	AllAddrs bool
	// Resolve overrides name resolution: "HOST:PORT" (or "HOST:*" for any
	// port) maps to a list of IP addresses. IPv6 hosts are written in
	// brackets, as in "[::1]:443".
	Resolve map[string][]string
	// Now is the time certificates are verified at; nil means time.Now.
	Now func() time.Time
	// Resolver looks up names not in Resolve; nil means net.DefaultResolver.
	Resolver *net.Resolver
}

// Result is what one address served.
type Result struct {
	Host       string // the host asked for
	Port       int
	Addr       string // the address connected to, "ip:port"
	ServerName string // the SNI sent and the name verified
	// ServedChain is what the server sent, in its order (leaf first).
	// Empty when the connection or handshake failed before certificates.
	ServedChain []*x509.Certificate
	// VerifiedChains are the chains Go verified, leaf first; empty when
	// VerifyErr is set.
	VerifiedChains [][]*x509.Certificate
	// VerifyErr says why the served chain did not verify (the served
	// chain is still filled in).
	VerifyErr error
	// Err is a failure to connect or to handshake for another reason
	// than verification; ServedChain is then empty.
	Err        error
	TLSVersion uint16 // negotiated version, when the handshake completed
	Time       time.Time
}

// Verified reports whether the served chain verified.
func (r Result) Verified() bool {
	return r.Err == nil && r.VerifyErr == nil && len(r.VerifiedChains) > 0
}

// Items returns the served certificates with their pins and positions (leaf,
// intermediate, root), leaf first.
func (r Result) Items() []pin.Item { return pin.FromChain(r.ServedChain) }

// VerifiedPins returns the pins of every certificate of the verified
// chains, leaf first, each once. These are the pins a client can match.
func (r Result) VerifiedPins() []pin.Pin { return pin.FromChains(r.VerifiedChains) }

// VerifiedPins probes host:port and returns the pins of the verified
// chains it serves (every address with opts.AllAddrs), each once. Only
// verified chains count: a pin that matches what an unverified server
// sent proves nothing. An address that does not verify is passed over
// while another one does; when none does, the error names the last one.
func VerifiedPins(ctx context.Context, host string, port int, opts Options) ([]pin.Pin, error) {
	results, err := Probe(ctx, host, port, opts)
	if err != nil {
		return nil, err
	}
	var pins []pin.Pin
	var problem error
	for _, r := range results {
		if !r.Verified() {
			problem = fmt.Errorf("%s: %w", r.Addr, r.Problem())
			continue
		}
		for _, p := range r.VerifiedPins() {
			if !pin.Contains(pins, p) {
				pins = append(pins, p)
			}
		}
	}
	if len(pins) == 0 && problem != nil {
		return nil, problem
	}
	return pins, nil
}

// Problem returns the error that makes this result unusable for pinning
// decisions: Err, else VerifyErr, else nil.
func (r Result) Problem() error {
	if r.Err != nil {
		return r.Err
	}
	return r.VerifyErr
}

// SplitHostPort splits "host", "host:port", "[v6]" or "[v6]:port", with
// defaultPort when none is given. A bare IPv6 literal without brackets is
// accepted as a host without port.
func SplitHostPort(s string, defaultPort int) (string, int, error) {
	if s == "" {
		return "", 0, errors.New("empty host")
	}
	if ip := net.ParseIP(s); ip != nil {
		return s, defaultPort, nil
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		h := s[1 : len(s)-1]
		if net.ParseIP(h) == nil {
			return "", 0, fmt.Errorf("%q: %q in brackets is not an IPv6 address", s, h)
		}
		return h, defaultPort, nil
	}
	if !strings.Contains(s, ":") {
		return s, defaultPort, nil
	}
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %v (write IPv6 addresses in brackets: [2001:db8::1]:443)", s, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, p)
	}
	if h == "" {
		return "", 0, fmt.Errorf("%q: empty host", s)
	}
	if strings.HasPrefix(s, "[") && net.ParseIP(h) == nil {
		return "", 0, fmt.Errorf("%q: %q in brackets is not an IPv6 address", s, h)
	}
	return h, n, nil
}

// Probe connects to host:port and returns one Result per address tried:
// the first address that accepts a TCP connection, or every address with
// AllAddrs. The error is non-nil only when nothing could be tried (bad
// input, resolution failure); per-address failures are in the Results.
func Probe(ctx context.Context, host string, port int, opts Options) ([]Result, error) {
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if host == "" {
		return nil, errors.New("probe: empty host")
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("probe: %s: port %d out of range", host, port)
	}
	addrs, err := Resolve(ctx, host, port, opts)
	if err != nil {
		return nil, err
	}
	var results []Result
	for _, a := range addrs {
		r := probeAddr(ctx, host, port, a, opts)
		results = append(results, r)
		if !opts.AllAddrs && !isDialError(r.Err) {
			break
		}
	}
	return results, nil
}

// Resolve returns the addresses Probe would try for host and port: the
// Options.Resolve override for "HOST:PORT" (or "HOST:*"), the IP literal
// itself, or the resolver's IPv4 and IPv6 addresses (link-local addresses
// with a zone are left out: an override cannot name them).
func Resolve(ctx context.Context, host string, port int, opts Options) ([]string, error) {
	names := []string{host}
	if n, err := policy.NormalizeHost(host); err == nil && n != host {
		names = append(names, n)
	}
	key := net.JoinHostPort(host, strconv.Itoa(port))
	for _, name := range names {
		for _, p := range []string{strconv.Itoa(port), "*"} {
			if list, ok := opts.Resolve[net.JoinHostPort(name, p)]; ok {
				return normaliseAddrs(key, list)
			}
		}
	}
	if ip := net.ParseIP(host); ip != nil {
		return []string{ip.String()}, nil
	}
	r := opts.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, timeout(opts))
	defer cancel()
	ips, err := r.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("probe: resolving %s: %w", host, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("probe: %s has no addresses", host)
	}
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		if ip.Zone == "" {
			out = append(out, ip.IP.String())
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("probe: %s has only link-local addresses", host)
	}
	return out, nil
}

func normaliseAddrs(key string, list []string) ([]string, error) {
	if len(list) == 0 {
		return nil, fmt.Errorf("probe: resolve override for %s has no addresses", key)
	}
	out := make([]string, len(list))
	for i, a := range list {
		ip := net.ParseIP(strings.Trim(a, "[]"))
		if ip == nil {
			return nil, fmt.Errorf("probe: resolve override for %s: %q is not an IP address", key, a)
		}
		out[i] = ip.String()
	}
	return out, nil
}

func timeout(opts Options) time.Duration {
	if opts.Timeout > 0 {
		return opts.Timeout
	}
	return DefaultTimeout
}

// dialError marks failures to open the TCP connection, after which Probe
// tries the next address.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func isDialError(err error) bool {
	var d *dialError
	return errors.As(err, &d)
}

func probeAddr(ctx context.Context, host string, port int, ip string, opts Options) Result {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	sni := opts.ServerName
	if sni == "" {
		sni = host
	}
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	r := Result{Host: host, Port: port, Addr: addr, ServerName: sni, Time: now()}
	ctx, cancel := context.WithTimeout(ctx, timeout(opts))
	defer cancel()

	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if isTimeout(err) {
			err = fmt.Errorf("no answer within %v: %w", timeout(opts), context.DeadlineExceeded)
		}
		r.Err = &dialError{fmt.Errorf("connecting to %s: %w", addr, err)}
		return r
	}
	defer raw.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	cfg := &tls.Config{
		ServerName: sni,
		RootCAs:    opts.RootCAs,
		Time:       opts.Now,
		MinVersion: tls.VersionTLS12,
	}
	conn := tls.Client(raw, cfg)
	err = conn.HandshakeContext(ctx)
	var cve *tls.CertificateVerificationError
	switch {
	case err == nil:
		cs := conn.ConnectionState()
		r.ServedChain = cs.PeerCertificates
		r.VerifiedChains = cs.VerifiedChains
		r.TLSVersion = cs.Version
		_ = conn.Close()
	case errors.As(err, &cve):
		r.ServedChain = cve.UnverifiedCertificates
		r.VerifyErr = cve.Err
	case isTimeout(err) || ctx.Err() != nil:
		r.Err = fmt.Errorf("TLS handshake with %s: no answer within %v: %w", addr, timeout(opts), context.DeadlineExceeded)
	default:
		r.Err = fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	return r
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// ChainItem is one certificate of a Result, with its pin and position, and
// whether the server sent it and whether it is part of the verified chain.
type ChainItem struct {
	pin.Item
	Served   bool // the server sent this certificate
	Verified bool // it is part of the first verified chain
}

// Chain lists what a person choosing pins should see. For a verified
// result: the first verified chain, leaf to root (the root usually comes
// from the trust store, not from the server), then any served certificate
// outside that chain (pinning those has no effect: clients match verified
// chains only). For an unverified result: the served chain as sent, none of
// it verified.
func (r Result) Chain() []ChainItem {
	served := make(map[string]bool, len(r.ServedChain))
	for _, c := range r.ServedChain {
		served[string(c.Raw)] = true
	}
	var out []ChainItem
	inVerified := map[string]bool{}
	if len(r.VerifiedChains) > 0 {
		for _, it := range pin.FromChain(r.VerifiedChains[0]) {
			inVerified[string(it.Cert.Raw)] = true
			out = append(out, ChainItem{Item: it, Served: served[string(it.Cert.Raw)], Verified: true})
		}
	}
	for _, it := range pin.FromChain(r.ServedChain) {
		if !inVerified[string(it.Cert.Raw)] {
			out = append(out, ChainItem{Item: it, Served: true})
		}
	}
	return out
}

// ParseResolve reads curl-style --resolve entries, HOST:PORT:ADDR (ADDR an
// IPv4 or IPv6 literal, with or without brackets; HOST may be an IPv6
// literal in brackets), into an Options.Resolve map. Several entries for
// one HOST:PORT add addresses. Hosts are normalised as policy does.
func ParseResolve(entries []string) (map[string][]string, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	m := make(map[string][]string)
	for _, e := range entries {
		bad := fmt.Errorf("--resolve %q: want HOST:PORT:ADDR, e.g. api.example.com:443:127.0.0.2", e)
		var host, rest string
		if strings.HasPrefix(e, "[") {
			i := strings.Index(e, "]:")
			if i < 0 {
				return nil, bad
			}
			host, rest = e[1:i], e[i+2:]
		} else {
			var ok bool
			if host, rest, ok = strings.Cut(e, ":"); !ok {
				return nil, bad
			}
		}
		port, addr, ok := strings.Cut(rest, ":")
		if !ok || host == "" || addr == "" {
			return nil, bad
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("--resolve %q: port %q is not a number from 1 to 65535", e, port)
		}
		ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]"))
		if ip == nil {
			return nil, fmt.Errorf("--resolve %q: %q is not an IP address", e, addr)
		}
		h, err := policy.NormalizeHost(host)
		if err != nil {
			return nil, fmt.Errorf("--resolve %q: %v", e, err)
		}
		key := net.JoinHostPort(h, port)
		m[key] = append(m[key], ip.String())
	}
	return m, nil
}
