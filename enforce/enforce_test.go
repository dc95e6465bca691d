package enforce

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

const host = "api.pinset.test"

var fixedNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// backupPin is a pin of a key held back, so every test policy has two pins.
var backupPin = func() pin.Pin {
	k := pki.Must(pki.NewKey(pki.P256, pki.NewDeterministicRand("backup")))
	p, _ := pin.FromPublicKey(k.Public())
	return p
}()

// otherPin is a pin of a key no test server uses.
var otherPin = func() pin.Pin {
	k := pki.Must(pki.NewKey(pki.P256, pki.NewDeterministicRand("other")))
	p, _ := pin.FromPublicKey(k.Public())
	return p
}()

// server is a loopback TLS server that completes the handshake, writes a
// line (so TLS 1.3 session tickets reach the client) and closes.
type server struct {
	ln   net.Listener
	addr string
	wg   sync.WaitGroup
}

func startServer(t testing.TB, certs ...tls.Certificate) *server {
	t.Helper()
	cfg := &tls.Config{Certificates: certs, MinVersion: tls.VersionTLS12}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: ln, addr: ln.Addr().String()}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if err := c.(*tls.Conn).Handshake(); err != nil {
					return
				}
				_, _ = io.WriteString(c, "ok\n")
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *server) port() int {
	_, p, _ := net.SplitHostPort(s.addr)
	n, _ := strconv.Atoi(p)
	return n
}

// dial connects with cfg, reads the server's line and returns the state.
func dial(t testing.TB, addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	if _, err := io.ReadAll(c); err != nil {
		return tls.ConnectionState{}, err
	}
	return c.ConnectionState(), nil
}

func mustSet(t testing.TB, pols ...policy.Policy) *policy.Set {
	t.Helper()
	s, err := policy.NewSet(pols)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pinned(pattern string, pins ...pin.Pin) policy.Policy {
	return policy.Policy{Pattern: pattern, Pins: append(pins, backupPin)}
}

func pool(cas ...*pki.CA) *x509.CertPool {
	p := x509.NewCertPool()
	for _, ca := range cas {
		p.AddCert(ca.Cert)
	}
	return p
}

func TestPinEachPositionAccepts(t *testing.T) {
	h := pki.Must(pki.NewHierarchy(pki.Template{}, host))
	srv := startServer(t, h.Leaf.TLSCertificate())
	for _, tc := range []struct {
		name string
		pin  pin.Pin
	}{
		{"leaf", h.Leaf.Pin()},
		{"intermediate", h.Intermediate.Pin()},
		{"root", h.Root.Pin()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var failures []*Failure
			e := New(Static(mustSet(t, pinned(host, tc.pin))), Options{OnFailure: func(f *Failure) { failures = append(failures, f) }})
			cs, err := dial(t, srv.addr, e.TLSConfig(&tls.Config{RootCAs: h.Root.Pool(), ServerName: host}))
			if err != nil {
				t.Fatalf("pinning the %s refused: %v", tc.name, err)
			}
			if len(cs.VerifiedChains) == 0 || len(failures) != 0 {
				t.Fatalf("verified chains %d, failures %d", len(cs.VerifiedChains), len(failures))
			}
		})
	}
}

func TestUnpinnedKeyFromTrustedCARefused(t *testing.T) {
	h := pki.Must(pki.NewHierarchy(pki.Template{}, host))
	// An interceptor: a certificate for the same host from the same
	// trusted intermediate, but a new key.
	evil := pki.Must(h.Intermediate.NewLeaf(pki.Template{Hosts: []string{host}}))
	srv := startServer(t, evil.TLSCertificate())

	var got []*Failure
	e := New(Static(mustSet(t, pinned(host, h.Leaf.Pin()))), Options{
		OnFailure: func(f *Failure) { got = append(got, f) },
		Now:       func() time.Time { return fixedNow },
	})
	_, err := dial(t, srv.addr, e.TLSConfig(&tls.Config{RootCAs: h.Root.Pool(), ServerName: host}))
	if !errors.Is(err, ErrPinMismatch) {
		t.Fatalf("interceptor accepted or wrong error: %v", err)
	}
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("error %T is not a *Failure", err)
	}
	if f.Host != host || f.Port != 0 || f.ReportOnly || !f.Time.Equal(fixedNow) {
		t.Errorf("failure fields: host %q port %d report-only %v time %v", f.Host, f.Port, f.ReportOnly, f.Time)
	}
	if len(f.Expected) != 2 || f.Expected[0] != h.Leaf.Pin() {
		t.Errorf("expected pins %v", f.Expected)
	}
	if sp := f.ServedPins(); len(sp) != 2 || sp[0] != evil.Pin() {
		t.Errorf("served pins %v", sp)
	}
	if vp := f.VerifiedPins(); len(vp) != 3 || vp[0] != evil.Pin() || vp[2] != h.Root.Pin() {
		t.Errorf("verified pins %v", vp)
	}
	if len(got) != 1 || got[0] != f {
		t.Errorf("OnFailure called %d times", len(got))
	}
}

// TestCVE2016_2402 serves an attacker leaf from a trusted CA followed by the
// genuine pinned certificates. A check of the served list would pass; the
// verified chain does not contain the pinned key, so the connection fails.
func TestCVE2016_2402(t *testing.T) {
	genuine := pki.Must(pki.NewHierarchy(pki.Template{}, host))
	otherCA := pki.Must(pki.NewRoot(pki.Template{CommonName: "some other trusted CA"}))
	attacker := pki.Must(otherCA.NewLeaf(pki.Template{Hosts: []string{host}}))
	served := attacker.TLSCertificate(genuine.Leaf.Cert, genuine.Intermediate.Cert)
	srv := startServer(t, served)

	set := mustSet(t, pinned(host, genuine.Leaf.Pin(), genuine.Intermediate.Pin()))
	e := New(Static(set), Options{})
	base := &tls.Config{RootCAs: pool(genuine.Root, otherCA), ServerName: host}

	// Without pinning the attacker's chain verifies (its CA is trusted) ...
	cs, err := dial(t, srv.addr, base)
	if err != nil {
		t.Fatalf("set-up: attacker chain should verify without pins: %v", err)
	}
	// ... and the served list really carries the genuine pinned certificate,
	// so a check of the served list would have passed.
	if len(cs.PeerCertificates) != 3 || pin.FromCertificate(cs.PeerCertificates[1]) != genuine.Leaf.Pin() {
		t.Fatalf("set-up: served chain does not carry the genuine leaf")
	}
	_, err = dial(t, srv.addr, e.TLSConfig(base))
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("CVE-2016-2402 chain accepted: %v", err)
	}
	if pin.Contains(f.VerifiedPins(), genuine.Leaf.Pin()) {
		t.Fatal("genuine pin is in the verified chain; the test proves nothing")
	}
	if !pin.Contains(f.ServedPins(), genuine.Leaf.Pin()) {
		t.Fatal("failure lost the served chain")
	}
}

func TestUnpinnedHostPasses(t *testing.T) {
	h := pki.Must(pki.NewHierarchy(pki.Template{}, "other.pinset.test"))
	srv := startServer(t, h.Leaf.TLSCertificate())
	e := New(Static(mustSet(t, pinned(host, otherPin))), Options{OnFailure: func(*Failure) { t.Error("OnFailure for an unpinned host") }})
	if _, err := dial(t, srv.addr, e.TLSConfig(&tls.Config{RootCAs: h.Root.Pool(), ServerName: "other.pinset.test"})); err != nil {
		t.Fatalf("unpinned host refused: %v", err)
	}
	// A nil set and a nil source pin nothing either.
	for _, e := range []*Enforcer{New(Static(nil), Options{}), New(nil, Options{})} {
		if _, err := dial(t, srv.addr, e.TLSConfig(&tls.Config{RootCAs: h.Root.Pool(), ServerName: "other.pinset.test"})); err != nil {
			t.Fatalf("empty source refused: %v", err)
		}
	}
}

func TestReportOnlyRecordsAndAllows(t *testing.T) {
	h := pki.Must(pki.NewHierarchy(pki.Template{}, host))
	srv := startServer(t, h.Leaf.TLSCertificate())
	pol := policy.Policy{Pattern: "**.pinset.test", Pins: []pin.Pin{backupPin}, ReportOnly: true}
	var got []*Failure
	e := New(Static(mustSet(t, pol)), Options{OnFailure: func(f *Failure) { got = append(got, f) }})
	if _, err := dial(t, srv.addr, e.TLSConfig(&tls.Config{RootCAs: h.Root.Pool(), ServerName: host})); err != nil {
		t.Fatalf("report-only policy refused the connection: %v", err)
	}
	if len(got) != 1 || !got[0].ReportOnly || got[0].Policy.Pattern != "**.pinset.test" || !errors.Is(got[0], ErrPinMismatch) {
		t.Fatalf("report-only failure not recorded: %v", got)
	}
}

func TestInsecureBaseRefused(t *testing.T) {
	h := pki.Must(pki.NewHierarchy(pki.Template{}, host))
	srv := startServer(t, h.Leaf.TLSCertificate())
	e := New(Static(nil), Options{})
	_, err := dial(t, srv.addr, e.TLSConfig(&tls.Config{InsecureSkipVerify: true, ServerName: host}))
	if !errors.Is(err, ErrInsecureBase) {
		t.Fatalf("InsecureSkipVerify base accepted: %v", err)
	}
	// Verify called directly on a state without verified chains fails
	// closed for a pinned host.
	err = New(Static(mustSet(t, pinned(host, h.Leaf.Pin()))), Options{}).Verify(tls.ConnectionState{ServerName: host, PeerCertificates: h.Leaf.Chain}, 443)
	var f *Failure
	if !errors.As(err, &f) || f.Port != 443 || len(f.VerifiedChains) != 0 {
		t.Fatalf("unverified state accepted: %v", err)
	}
}

func TestChainsBaseVerifyConnection(t *testing.T) {
	h := pki.Must(pki.NewHierarchy(pki.Template{}, host))
	srv := startServer(t, h.Leaf.TLSCertificate())
	sentinel := errors.New("base says no")
	calls := 0
	base := &tls.Config{RootCAs: h.Root.Pool(), ServerName: host, VerifyConnection: func(tls.ConnectionState) error { calls++; return sentinel }}
	e := New(Static(mustSet(t, pinned(host, h.Leaf.Pin()))), Options{})
	if _, err := dial(t, srv.addr, e.TLSConfig(base)); !errors.Is(err, sentinel) || calls != 1 {
		t.Fatalf("base VerifyConnection not chained: err %v, calls %d", err, calls)
	}
	// The pin check comes first: a mismatch is reported even if base would
	// also refuse, and base is not consulted.
	calls = 0
	e = New(Static(mustSet(t, pinned(host, otherPin))), Options{})
	if _, err := dial(t, srv.addr, e.TLSConfig(base)); !errors.Is(err, ErrPinMismatch) || calls != 0 {
		t.Fatalf("pin check did not run first: err %v, calls %d", err, calls)
	}
	if base.VerifyConnection == nil || base.ServerName != host {
		t.Fatal("TLSConfig modified its base")
	}
}

// TestResumedSessionCheckedAgain resumes a session after the pin set
// changed: the resumed handshake must be checked against the new set.
func TestResumedSessionCheckedAgain(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			h := pki.Must(pki.NewHierarchy(pki.Template{}, host))
			srv := startServer(t, h.Leaf.TLSCertificate())
			src := NewAtomicSource(mustSet(t, pinned(host, h.Intermediate.Pin())))
			var failures []*Failure
			e := New(src, Options{OnFailure: func(f *Failure) { failures = append(failures, f) }})
			cfg := e.TLSConfig(&tls.Config{
				RootCAs: h.Root.Pool(), ServerName: host, MaxVersion: v,
				ClientSessionCache: tls.NewLRUClientSessionCache(4),
			})
			cs, err := dial(t, srv.addr, cfg)
			if err != nil || cs.DidResume {
				t.Fatalf("first handshake: err %v, resumed %v", err, cs.DidResume)
			}
			cs, err = dial(t, srv.addr, cfg)
			if err != nil || !cs.DidResume {
				t.Fatalf("second handshake should resume and pass: err %v, resumed %v", err, cs.DidResume)
			}
			if len(cs.VerifiedChains) == 0 {
				t.Fatal("resumed session has no verified chains")
			}
			// The pin set rotates away from this server's keys.
			src.Store(mustSet(t, pinned(host, otherPin)))
			_, err = dial(t, srv.addr, cfg)
			var f *Failure
			if !errors.As(err, &f) {
				t.Fatalf("resumed session with a stale pin accepted: %v", err)
			}
			if !f.Resumed {
				t.Fatal("the refused handshake was not a resumption; the test proves nothing")
			}
			if len(failures) != 1 {
				t.Fatalf("%d failures recorded, want 1", len(failures))
			}
		})
	}
}

func TestDialTLSContextKnowsHostAndPort(t *testing.T) {
	h := pki.Must(pki.NewHierarchy(pki.Template{}, "127.0.0.1"))
	srv := startServer(t, h.Leaf.TLSCertificate())
	ctx := context.Background()

	ok := New(Static(mustSet(t, pinned("127.0.0.1", h.Root.Pin()))), Options{})
	c, err := ok.DialTLSContext(&tls.Config{RootCAs: h.Root.Pool()}, nil)(ctx, "tcp", srv.addr)
	if err != nil {
		t.Fatalf("pinned IP refused: %v", err)
	}
	c.Close()

	bad := New(Static(mustSet(t, pinned("127.0.0.1", otherPin))), Options{})
	_, err = bad.DialTLSContext(&tls.Config{RootCAs: h.Root.Pool()}, &net.Dialer{Timeout: 5 * time.Second})(ctx, "tcp", srv.addr)
	var f *Failure
	if !errors.As(err, &f) || f.Host != "127.0.0.1" || f.Port != srv.port() {
		t.Fatalf("want failure for 127.0.0.1:%d, got %v", srv.port(), err)
	}
	// TLSConfig without ServerName dialled at an IP: Go sends no SNI, and
	// the enforcer falls back to the verified leaf's IP addresses.
	if _, err := dial(t, srv.addr, bad.TLSConfig(&tls.Config{RootCAs: h.Root.Pool()})); !errors.Is(err, ErrPinMismatch) {
		t.Fatalf("IP literal without ServerName escaped pinning: %v", err)
	}
	if _, err := dial(t, srv.addr, ok.TLSConfig(&tls.Config{RootCAs: h.Root.Pool()})); err != nil {
		t.Fatalf("IP literal without ServerName: %v", err)
	}
	if _, err := bad.DialTLSContext(nil, nil)(ctx, "tcp", "no-port"); err == nil {
		t.Fatal("address without port accepted")
	}
}

// TestSeveralVerifiedChains: when Go builds more than one verified chain
// (a cross-signed intermediate), a pin in any of them is enough.
func TestSeveralVerifiedChains(t *testing.T) {
	rootA := pki.Must(pki.NewRoot(pki.Template{CommonName: "root A"}))
	rootB := pki.Must(pki.NewRoot(pki.Template{CommonName: "root B"}))
	inter := pki.Must(rootA.NewIntermediate(pki.Template{CommonName: "issuing CA"}))
	// The same intermediate subject and key, cross-signed by root B.
	crossTmpl := *inter.Cert
	crossDER, err := x509.CreateCertificate(nil, &crossTmpl, rootB.Cert, inter.Key.Public(), rootB.Key)
	if err != nil {
		t.Fatal(err)
	}
	cross, _ := x509.ParseCertificate(crossDER)
	leaf := pki.Must(inter.NewLeaf(pki.Template{Hosts: []string{host}}))
	srv := startServer(t, leaf.TLSCertificate(cross))
	e := New(Static(mustSet(t, pinned(host, rootB.Pin()))), Options{})
	cs, err := dial(t, srv.addr, e.TLSConfig(&tls.Config{RootCAs: pool(rootA, rootB), ServerName: host}))
	if err != nil {
		t.Fatalf("pin of the second verified chain's root refused: %v", err)
	}
	if len(cs.VerifiedChains) < 2 {
		t.Fatalf("expected several verified chains, got %d", len(cs.VerifiedChains))
	}
}

// TestHTTPClient runs a pinned http.Client against a loopback HTTPS
// server, through DialTLSContext and through TLSClientConfig.
func TestHTTPClient(t *testing.T) {
	h := pki.Must(pki.NewHierarchy(pki.Template{}, "127.0.0.1"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{h.Leaf.TLSCertificate()}},
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	url := "https://" + ln.Addr().String() + "/"
	base := &tls.Config{RootCAs: h.Root.Pool()}
	for _, tc := range []struct {
		name string
		pin  pin.Pin
		ok   bool
	}{{"pinned intermediate", h.Intermediate.Pin(), true}, {"wrong pin", otherPin, false}} {
		e := New(Static(mustSet(t, pinned("127.0.0.1", tc.pin))), Options{})
		for _, tr := range []*http.Transport{
			{DialTLSContext: e.DialTLSContext(base, nil)},
			{TLSClientConfig: e.TLSConfig(base)},
		} {
			resp, err := (&http.Client{Transport: tr}).Get(url)
			if tc.ok {
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "hello" {
					t.Fatalf("%s: body %q", tc.name, b)
				}
			} else if !errors.Is(err, ErrPinMismatch) {
				t.Fatalf("%s: got %v, want a pin mismatch", tc.name, err)
			}
			tr.CloseIdleConnections()
		}
	}
}
