package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
)

const host = "api.pinset.test"

// serve runs a TLS server on addr ("127.0.0.x:port") until the test ends.
func serve(t *testing.T, addr string, cert tls.Certificate) (net.Listener, error) {
	ln, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_ = c.(*tls.Conn).Handshake()
				buf := make([]byte, 1)
				_, _ = c.Read(buf)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln, nil
}

func portOf(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }

// serveTwo serves a on 127.0.0.1 and b on 127.0.0.2, on one port.
func serveTwo(t *testing.T, a, b tls.Certificate) int {
	for range 20 {
		ln, err := serve(t, "127.0.0.1:0", a)
		if err != nil {
			t.Fatal(err)
		}
		port := portOf(ln)
		if _, err := serve(t, "127.0.0.2:"+strconv.Itoa(port), b); err == nil {
			return port
		}
		ln.Close()
	}
	t.Fatal("could not listen on 127.0.0.1 and 127.0.0.2 with one port")
	return 0
}

func TestVerifiedChain(t *testing.T) {
	h := pki.Must(pki.NewHierarchy(pki.Template{}, host))
	ln, err := serve(t, "127.0.0.1:0", h.Leaf.TLSCertificate())
	if err != nil {
		t.Fatal(err)
	}
	port := portOf(ln)
	rs, err := Probe(context.Background(), host, port, Options{
		RootCAs: h.Root.Pool(),
		Resolve: map[string][]string{host + ":" + strconv.Itoa(port): {"127.0.0.1"}},
	})
	if err != nil || len(rs) != 1 {
		t.Fatalf("Probe: %v, %d results", err, len(rs))
	}
	r := rs[0]
	if !r.Verified() || r.Problem() != nil {
		t.Fatalf("not verified: %v / %v", r.Err, r.VerifyErr)
	}
	if r.Addr != "127.0.0.1:"+strconv.Itoa(port) || r.ServerName != host || r.Host != host || r.Port != port {
		t.Errorf("result identity: %+v", r)
	}
	items := r.Items()
	if len(items) != 2 || items[0].Pin != h.Leaf.Pin() || items[1].Pin != h.Intermediate.Pin() {
		t.Errorf("served items %v", items)
	}
	vp := r.VerifiedPins()
	if len(vp) != 3 || vp[2] != h.Root.Pin() {
		t.Errorf("verified pins %v", vp)
	}
}

func TestUnverifiedChainsKeepServedCertificates(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	h := pki.Must(pki.NewHierarchy(pki.Template{Now: clock}, host))
	expired := pki.Must(h.Intermediate.NewLeaf(pki.Template{Hosts: []string{host}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}))
	self := pki.Must(pki.NewSelfSigned(pki.Template{Hosts: []string{host}, Now: clock}))
	for _, tc := range []struct {
		name string
		cert tls.Certificate
		opts Options
		want any
	}{
		{"unknown CA", h.Leaf.TLSCertificate(), Options{RootCAs: x509.NewCertPool()}, &x509.UnknownAuthorityError{}},
		{"self-signed", self.TLSCertificate(), Options{RootCAs: h.Root.Pool()}, &x509.UnknownAuthorityError{}},
		{"expired", expired.TLSCertificate(), Options{RootCAs: h.Root.Pool()}, &x509.CertificateInvalidError{}},
		{"wrong name", h.Leaf.TLSCertificate(), Options{RootCAs: h.Root.Pool(), ServerName: "other.pinset.test"}, &x509.HostnameError{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := serve(t, "127.0.0.1:0", tc.cert)
			if err != nil {
				t.Fatal(err)
			}
			tc.opts.Now = clock
			tc.opts.Resolve = map[string][]string{host + ":*": {"127.0.0.1"}}
			rs, err := Probe(context.Background(), host, portOf(ln), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			r := rs[0]
			if r.Verified() || r.VerifyErr == nil || r.Err != nil {
				t.Fatalf("want a verification error, got verified=%v err=%v", r.Verified(), r.Err)
			}
			if len(r.ServedChain) == 0 || len(r.VerifiedChains) != 0 {
				t.Fatalf("served %d, verified %d", len(r.ServedChain), len(r.VerifiedChains))
			}
			switch tc.want.(type) {
			case *x509.UnknownAuthorityError:
				var e x509.UnknownAuthorityError
				if !errors.As(r.VerifyErr, &e) {
					t.Errorf("VerifyErr %T %v", r.VerifyErr, r.VerifyErr)
				}
			case *x509.CertificateInvalidError:
				var e x509.CertificateInvalidError
				if !errors.As(r.VerifyErr, &e) || e.Reason != x509.Expired {
					t.Errorf("VerifyErr %T %v", r.VerifyErr, r.VerifyErr)
				}
			case *x509.HostnameError:
				var e x509.HostnameError
				if !errors.As(r.VerifyErr, &e) {
					t.Errorf("VerifyErr %T %v", r.VerifyErr, r.VerifyErr)
				}
			}
		})
	}
}

// TestAllAddrs stands up one host on two loopback addresses with different
// keys and checks that each address reports its own chain.
func TestAllAddrs(t *testing.T) {
	root := pki.Must(pki.NewRoot(pki.Template{}))
	a := pki.Must(root.NewLeaf(pki.Template{Hosts: []string{host}}))
	b := pki.Must(root.NewLeaf(pki.Template{Hosts: []string{host}}))
	port := serveTwo(t, a.TLSCertificate(), b.TLSCertificate())
	opts := Options{RootCAs: root.Pool(), Resolve: map[string][]string{host + ":" + strconv.Itoa(port): {"127.0.0.1", "127.0.0.2"}}}
	rs, err := Probe(context.Background(), host, port, opts)
	if err != nil || len(rs) != 1 || rs[0].Items()[0].Pin != a.Pin() {
		t.Fatalf("first address only: %v %d", err, len(rs))
	}
	opts.AllAddrs = true
	rs, err = Probe(context.Background(), host, port, opts)
	if err != nil || len(rs) != 2 {
		t.Fatalf("all addresses: %v, %d results", err, len(rs))
	}
	if rs[0].Addr != "127.0.0.1:"+strconv.Itoa(port) || rs[1].Addr != "127.0.0.2:"+strconv.Itoa(port) {
		t.Fatalf("addresses %s %s", rs[0].Addr, rs[1].Addr)
	}
	if !rs[0].Verified() || !rs[1].Verified() || rs[0].Items()[0].Pin != a.Pin() || rs[1].Items()[0].Pin != b.Pin() {
		t.Fatal("each address should report its own verified leaf")
	}
}

func TestConnectionFailures(t *testing.T) {
	// Refused: a port that was just closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := portOf(ln)
	ln.Close()
	rs, err := Probe(context.Background(), "127.0.0.1", closed, Options{Timeout: 2 * time.Second})
	if err != nil || len(rs) != 1 || rs[0].Err == nil || len(rs[0].ServedChain) != 0 {
		t.Fatalf("refused connection: %v %+v", err, rs)
	}
	// Timeout: a TCP server that never speaks TLS.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	rs, err = Probe(context.Background(), "127.0.0.1", portOf(silent), Options{Timeout: 300 * time.Millisecond})
	if err != nil || rs[0].Err == nil || !errors.Is(rs[0].Err, context.DeadlineExceeded) {
		t.Fatalf("silent server: %v %v", err, rs[0].Err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("timeout not honoured")
	}
	// Bad input.
	if _, err := Probe(context.Background(), "", 443, Options{}); err == nil {
		t.Error("empty host accepted")
	}
	if _, err := Probe(context.Background(), "x", 0, Options{}); err == nil {
		t.Error("port 0 accepted")
	}
	if _, err := Probe(context.Background(), host, 443, Options{Resolve: map[string][]string{host + ":443": {"not-an-ip"}}}); err == nil {
		t.Error("bad resolve override accepted")
	}
}

func TestSplitHostPort(t *testing.T) {
	for _, tc := range []struct {
		in   string
		host string
		port int
		bad  bool
	}{
		{"example.com", "example.com", 443, false},
		{"example.com:8443", "example.com", 8443, false},
		{"[::1]", "::1", 443, false},
		{"[::1]:8443", "::1", 8443, false},
		{"2001:db8::1", "2001:db8::1", 443, false},
		{"192.0.2.1:444", "192.0.2.1", 444, false},
		{"example.com:0", "", 0, true},
		{"example.com:99999", "", 0, true},
		{"example.com:https", "", 0, true},
		{"[example.com]", "", 0, true},
		{"[example.com]:443", "", 0, true},
		{":443", "", 0, true},
		{"", "", 0, true},
	} {
		h, p, err := SplitHostPort(tc.in, 443)
		if tc.bad != (err != nil) || h != tc.host || p != tc.port {
			t.Errorf("SplitHostPort(%q) = %q, %d, %v", tc.in, h, p, err)
		}
	}
}

func TestParseResolve(t *testing.T) {
	m, err := ParseResolve([]string{"API.example.com:443:127.0.0.2", "api.example.com:443:[::1]", "[2001:db8::1]:8443:127.0.0.3", "x.test:1:::1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := m["api.example.com:443"]; len(got) != 2 || got[0] != "127.0.0.2" || got[1] != "::1" {
		t.Errorf("api.example.com:443 -> %v", got)
	}
	if got := m["[2001:db8::1]:8443"]; len(got) != 1 || got[0] != "127.0.0.3" {
		t.Errorf("[2001:db8::1]:8443 -> %v (%v)", got, m)
	}
	if got := m["x.test:1"]; len(got) != 1 || got[0] != "::1" {
		t.Errorf("x.test:1 -> %v", got)
	}
	for _, bad := range []string{"host", "host:443", "host:443:", "host:0:127.0.0.1", "host:x:127.0.0.1", "host:443:nowhere", "[::1:443:127.0.0.1", ":443:127.0.0.1"} {
		if _, err := ParseResolve([]string{bad}); err == nil {
			t.Errorf("ParseResolve(%q) accepted", bad)
		}
	}
	// Probe finds an override written in another case.
	addrs, err := Resolve(context.Background(), "Api.Example.COM", 443, Options{Resolve: m})
	if err != nil || len(addrs) != 2 {
		t.Fatalf("resolve with a normalised key: %v %v", addrs, err)
	}
}

// TestIPv6Loopback connects to [::1] by address and by a name resolved to
// it, with AllAddrs covering an IPv4 and an IPv6 address.
func TestIPv6Loopback(t *testing.T) {
	root := pki.Must(pki.NewRoot(pki.Template{}))
	leaf := pki.Must(root.NewLeaf(pki.Template{Hosts: []string{host, "::1", "127.0.0.1"}}))
	ln6, err := serve(t, "[::1]:0", leaf.TLSCertificate())
	if err != nil {
		t.Skipf("no IPv6 loopback on this machine: %v", err)
	}
	port := portOf(ln6)
	if _, err := serve(t, "127.0.0.1:"+strconv.Itoa(port), leaf.TLSCertificate()); err != nil {
		t.Skipf("port %d taken on 127.0.0.1: %v", port, err)
	}
	h, p, err := SplitHostPort("[::1]:"+strconv.Itoa(port), 443)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Probe(context.Background(), h, p, Options{RootCAs: root.Pool()})
	if err != nil || len(rs) != 1 || !rs[0].Verified() || rs[0].Addr != "[::1]:"+strconv.Itoa(port) || rs[0].ServerName != "::1" {
		t.Fatalf("[::1]: %v %+v", err, rs)
	}
	res, err := ParseResolve([]string{host + ":" + strconv.Itoa(port) + ":127.0.0.1", host + ":" + strconv.Itoa(port) + ":[::1]"})
	if err != nil {
		t.Fatal(err)
	}
	rs, err = Probe(context.Background(), host, port, Options{RootCAs: root.Pool(), Resolve: res, AllAddrs: true})
	if err != nil || len(rs) != 2 || !rs[0].Verified() || !rs[1].Verified() || rs[1].Addr != "[::1]:"+strconv.Itoa(port) {
		t.Fatalf("IPv4 and IPv6: %v %+v", err, rs)
	}
}

// TestVerifiedPins: the pins of verified chains only, across addresses;
// an address whose chain does not verify adds nothing, and when none
// verifies the error names the address.
func TestVerifiedPins(t *testing.T) {
	h := pki.Must(pki.NewHierarchy(pki.Template{}, host))
	self := pki.Must(pki.NewSelfSigned(pki.Template{Hosts: []string{host}}))
	port := serveTwo(t, h.Leaf.TLSCertificate(), self.TLSCertificate())
	key := host + ":" + strconv.Itoa(port)
	opts := Options{RootCAs: h.Root.Pool(), AllAddrs: true, Resolve: map[string][]string{key: {"127.0.0.1", "127.0.0.2"}}}
	pins, err := VerifiedPins(context.Background(), host, port, opts)
	if err != nil || len(pins) != 3 || pins[0] != h.Leaf.Pin() || pin.Contains(pins, self.Pin()) {
		t.Fatalf("one verified address, one not: %v, %v (want the hierarchy's 3 pins)", pins, err)
	}
	opts.Resolve[key] = []string{"127.0.0.2"}
	pins, err = VerifiedPins(context.Background(), host, port, opts)
	if err == nil || pins != nil || !strings.Contains(err.Error(), "127.0.0.2:"+strconv.Itoa(port)) {
		t.Fatalf("unverified only: %v, %v (want an error naming 127.0.0.2)", pins, err)
	}
}
