package mobile

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	ct "pinset.dev/pinset/client/clienttest"
	"pinset.dev/pinset/enforce"
	"pinset.dev/pinset/enforce/enforcetest"
	"pinset.dev/pinset/internal/pki"
)

// nativeFixture is a mobile client enforcing the policies of the shared
// verdict table, reporting to a simulated pin service.
type nativeFixture struct {
	w    *enforcetest.World
	repo *ct.Repo
	c    *Client
	ev   *events
}

func newNativeFixture(t *testing.T) *nativeFixture {
	t.Helper()
	f := &nativeFixture{w: enforcetest.NewWorld(t), repo: ct.NewRepo(t, "com.example.native", "native"), ev: &events{}}
	m := f.repo.Publish(1, time.Now().UTC().Add(-time.Hour), 30*24*time.Hour, f.w.Policies()...)
	cfg := NewConfig()
	cfg.BundledRoot, cfg.BundledManifest = f.repo.RootBytes(1), m
	cfg.ServiceURL = f.repo.URL()
	cfg.Platform = "ANDROID"
	c, err := NewClient(cfg, f.ev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	f.c = c
	return f
}

// handshake connects to a server of the world as the platform would and
// returns what it verified and what the server sent.
func (f *nativeFixture) handshake(t *testing.T, host, server string) (verified, served []*x509.Certificate) {
	t.Helper()
	name := host
	if net.ParseIP(host) != nil {
		name = ""
	}
	conn, err := tls.Dial("tcp", f.w.Addr(server), &tls.Config{RootCAs: f.w.Roots, ServerName: name})
	if err != nil {
		t.Fatalf("the platform's own verification failed for %s on %s: %v", host, server, err)
	}
	defer conn.Close()
	cs := conn.ConnectionState()
	return cs.VerifiedChains[0], cs.PeerCertificates
}

func (e *events) count(kind, host string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.ev {
		if ev.Kind == kind && ev.Host == host {
			n++
		}
	}
	return n
}

func der(chain []*x509.Certificate) []byte {
	var b []byte
	for _, c := range chain {
		b = append(b, c.Raw...)
	}
	return b
}

// The shared table of package enforcetest through CheckServerTrusted, fed
// with the chain the "platform" (a Go TLS client trusting both roots)
// verified: the verdicts of enforce's own handshake hook
// (enforce.TestSharedVerdicts), every one.
func TestCheckServerTrustedSharedVerdicts(t *testing.T) {
	f := newNativeFixture(t)
	for i, c := range enforcetest.Cases() {
		t.Run(c.Host+"/"+c.Server, func(t *testing.T) {
			verified, _ := f.handshake(t, c.Host, c.Server)
			chain := der(verified)
			if i%2 == 1 {
				chain = pki.CertPEM(verified...) // both spellings gomobile can carry
			}
			host := strings.ToLower(c.Host)
			before := f.ev.count("pin-failure", host)
			err := f.c.CheckServerTrusted(c.Host, f.w.Port(c.Server), chain)
			failures := f.ev.count("pin-failure", host) - before
			var got enforcetest.Verdict
			switch {
			case err != nil && errors.Is(err, enforce.ErrPinMismatch) && failures == 1:
				got = enforcetest.Refuse
			case err != nil:
				t.Fatalf("refused, but not by pinning (%d pin-failure events): %v", failures, err)
			case failures == 1:
				got = enforcetest.ReportOnly
			case failures == 0:
				got = enforcetest.Accept
			default:
				t.Fatalf("%d pin-failure events for one check", failures)
			}
			if got != c.Want {
				t.Fatalf("%s on the %s server: %v, want %v (%s); err %v", c.Host, c.Server, got, c.Want, c.Why, err)
			}
		})
	}
}

// Only a chain the platform verified is taken. The CVE-2016-2402 server's
// own list (a rogue chain with the genuine pinned leaf appended) holds the
// pinned key; were it taken as given, the check would pass. It is refused
// as not a verified chain, before pins are looked at, and nothing is
// reported (it is an integration mistake, not a pin failure). The chain
// the platform verified from the same server is refused by pinning.
func TestCheckServerTrustedVerifiedChainOnly(t *testing.T) {
	f := newNativeFixture(t)
	const host = "api.pinset.test"
	verified, served := f.handshake(t, host, "cve")
	err := f.c.CheckServerTrusted(host, 443, der(served))
	if !errors.Is(err, ErrChainNotVerified) || !strings.Contains(err.Error(), "not the one the server sent") {
		t.Fatalf("served list with the pinned leaf appended: %v, want ErrChainNotVerified", err)
	}
	if n := f.ev.count("pin-failure", host); n != 0 {
		t.Fatalf("%d pin-failure events for a chain that is not verified", n)
	}
	if err := f.c.CheckServerTrusted(host, 443, der(verified)); !errors.Is(err, enforce.ErrPinMismatch) {
		t.Fatalf("verified rogue chain: %v, want ErrPinMismatch", err)
	}

	genuine, _ := f.handshake(t, host, "genuine")
	sep := append(pki.CertPEM(genuine...), "trailing text"...)
	keyBlock := append(pki.CertPEM(genuine[0]), pki.KeyPEM(f.w.Genuine.Leaf.Key)...)
	long := make([]*x509.Certificate, MaxChainCerts+1)
	for i := range long {
		long[i] = genuine[0]
	}
	bad := map[string][]byte{
		"empty":                 nil,
		"garbage":               []byte("not a certificate"),
		"text after PEM":        sep,
		"a private key block":   keyBlock,
		"too many certificates": der(long),
		"too many bytes":        make([]byte, MaxChainBytes+1),
		"reversed":              der([]*x509.Certificate{genuine[2], genuine[1], genuine[0]}),
	}
	for name, b := range bad {
		if err := f.c.CheckServerTrusted(host, 443, b); !errors.Is(err, ErrChainNotVerified) {
			t.Errorf("%s: %v, want ErrChainNotVerified", name, err)
		}
	}
	if err := f.c.CheckServerTrusted("", 443, der(genuine)); !errors.Is(err, ErrNoHost) {
		t.Errorf("no host: %v, want ErrNoHost", err)
	}
	// The leaf alone, and the chain without its root, are chains too.
	if err := f.c.CheckServerTrusted(host, 443, der(genuine[:1])); err != nil {
		t.Errorf("leaf alone: %v", err)
	}
	if err := f.c.CheckServerTrusted(host, 443, pki.CertPEM(genuine[:2]...)); err != nil {
		t.Errorf("leaf and intermediate: %v", err)
	}
}

// A refusal and a report-only failure each raise a pin-failure event and
// queue a TrustKit report through the client's report path; the
// report-only one returns nil.
func TestCheckServerTrustedReports(t *testing.T) {
	f := newNativeFixture(t)
	verified, _ := f.handshake(t, "api.pinset.test", "rogue")
	if err := f.c.CheckServerTrusted("api.pinset.test", 8443, der(verified)); !errors.Is(err, enforce.ErrPinMismatch) {
		t.Fatalf("rogue chain: %v", err)
	}
	checkReport(t, f.repo.WaitReport(t, 5*time.Second), "api.pinset.test", 8443, true)

	verified, _ = f.handshake(t, "report.pinset.test", "rogue")
	if err := f.c.CheckServerTrusted("report.pinset.test", 443, der(verified)); err != nil {
		t.Fatalf("report-only host: %v, want nil", err)
	}
	checkReport(t, f.repo.WaitReport(t, 5*time.Second), "report.pinset.test", 443, false)
	for _, h := range []string{"api.pinset.test", "report.pinset.test"} {
		if f.ev.count("pin-failure", h) != 1 {
			t.Errorf("pin-failure events for %s: %d, want 1", h, f.ev.count("pin-failure", h))
		}
	}
}

func checkReport(t *testing.T, rep ct.Report, host string, port int, enforced bool) {
	t.Helper()
	var r struct {
		Hostname  string   `json:"hostname"`
		Port      int      `json:"port"`
		Enforce   bool     `json:"enforce-pinning"`
		Platform  string   `json:"app-platform"`
		Validated []string `json:"validated-certificate-chain"`
	}
	if err := json.Unmarshal(rep.Body, &r); err != nil {
		t.Fatalf("report %s: %v", rep.Body, err)
	}
	if r.Hostname != host || r.Port != port || r.Enforce != enforced || r.Platform != "ANDROID" || len(r.Validated) != 3 {
		t.Errorf("report for %s:%d (enforced %v): %s", host, port, enforced, rep.Body)
	}
}

// FuzzParseVerifiedChain: whatever the bytes, parsing returns a linked
// chain within the limits or ErrChainNotVerified, and never panics.
func FuzzParseVerifiedChain(f *testing.F) {
	h := pki.Must(pki.NewHierarchy(pki.Template{Rand: pki.NewDeterministicRand("fuzz")}, "a.example"))
	f.Add(der(h.Leaf.Chain))
	f.Add(pki.CertPEM(h.Leaf.Chain...))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{0x30, 0x82, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		chain, err := parseVerifiedChain(b)
		if err != nil {
			if !errors.Is(err, ErrChainNotVerified) {
				t.Fatalf("error %v is not ErrChainNotVerified", err)
			}
			return
		}
		if len(chain) == 0 || len(chain) > MaxChainCerts {
			t.Fatalf("%d certificates", len(chain))
		}
	})
}
