package edge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/internal/redistest"
)

// TestGCRA: a burst of Burst, then one request per Period/Requests, with
// Retry-After the time to the next allowed one.
func TestGCRA(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	m := &MemoryLimiter{Now: func() time.Time { return now }}
	r := Rate{Requests: 6, Period: time.Minute, Burst: 3}
	for i := 0; i < 3; i++ {
		d, err := m.Allow(context.Background(), "k", r)
		if err != nil || !d.Allowed || d.Remaining != 2-i {
			t.Fatalf("request %d: %+v %v", i+1, d, err)
		}
	}
	d, _ := m.Allow(context.Background(), "k", r)
	if d.Allowed || d.RetryAfter != 10*time.Second {
		t.Fatalf("fourth: %+v, want refused for 10s", d)
	}
	if d, _ := m.Allow(context.Background(), "other", r); !d.Allowed {
		t.Fatalf("another key shares the budget")
	}
	now = now.Add(10 * time.Second)
	if d, _ := m.Allow(context.Background(), "k", r); !d.Allowed {
		t.Fatalf("after 10s: %+v", d)
	}
	if d, _ := m.Allow(context.Background(), "k", r); d.Allowed {
		t.Fatalf("second after 10s allowed")
	}
	// Keys whose budget is whole again are forgotten; the map stays bounded.
	small := &MemoryLimiter{Now: func() time.Time { return now }, MaxKeys: 2}
	small.Allow(context.Background(), "a", r)
	small.Allow(context.Background(), "b", r)
	if _, err := small.Allow(context.Background(), "c", r); !errors.Is(err, ErrLimiterFull) {
		t.Fatalf("third key in a limiter of two: %v", err)
	}
	now = now.Add(time.Minute)
	if d, err := small.Allow(context.Background(), "c", r); err != nil || !d.Allowed {
		t.Fatalf("after the others' budgets refilled: %+v %v", d, err)
	}
}

// TestAddrKey: IPv4 per address, IPv6 per /64, mapped IPv4 as IPv4.
func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                   "192.0.2.7",
		"::ffff:192.0.2.7":            "192.0.2.7",
		"2001:db8:1:2:3:4:5:6":        "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":        "2001:db8:1:2::/64",
		"fe80::1%eth0":                "fe80::/64",
		"2001:db8:1:3::1":             "2001:db8:1:3::/64",
		"::1":                         "::/64",
		"2001:0db8:0001:0002:0:0:0:1": "2001:db8:1:2::/64",
	} {
		if got := AddrKey(netip.MustParseAddr(in)); got != want {
			t.Errorf("AddrKey(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestRedisTwoInstances: two edges sharing one real redis-server hold a
// per-address limit of N per minute together, within 1.
func TestRedisTwoInstances(t *testing.T) {
	rd := redistest.Start(t)
	const n = 10
	f := newEdgeFixture(t)
	writeFile(t, filepath.Join(f.dir, "redis.pw"), []byte(rd.Password+"\n"), 0o600)
	extra := "rate_limits:\n  store: redis\n  redis:\n    address: " + rd.Addr + "\n    password_file: " + filepath.Join(f.dir, "redis.pw") + "\n  address:\n    requests: 10\n    per: 1m\n"
	f.start(t, extra)
	g2 := f.another()
	g2.start(t, extra)
	a, b := f.client(), g2.client()
	allowed := 0
	for i := 0; i < 3*n; i++ {
		fx, c := f, a
		if i%2 == 1 {
			fx, c = g2, b
		}
		code, _, _ := fx.do(t, c, fx.req(t, "GET", "/public/x", ""))
		switch code {
		case 200:
			allowed++
		case 429:
		default:
			t.Fatalf("request %d: %d", i, code)
		}
	}
	if allowed < n-1 || allowed > n+1 {
		t.Fatalf("two instances allowed %d of %d requests under a limit of %d per minute", allowed, 3*n, n)
	}
	t.Logf("two instances sharing redis allowed %d of %d (limit %d per minute)", allowed, 3*n, n)
	// Without Redis the limit is not waived: 503.
	f2 := newEdgeFixture(t)
	f2.start(t, "rate_limits:\n  store: redis\n  redis:\n    address: 127.0.0.1:1\n  address:\n    requests: 10\n    per: 1m\n")
	if code, _, _ := f2.do(t, f2.client(), f2.req(t, "GET", "/public/x", "")); code != 503 {
		t.Errorf("redis unreachable: %d, want 503", code)
	}
}

// TestCertificateReloadUnderLoad: while clients make new TLS connections
// and requests without pause, the edge's certificate is replaced ten times
// (and a half-written pair is refused in between); no request fails, and
// new handshakes see the new certificate.
func TestCertificateReloadUnderLoad(t *testing.T) {
	f := newEdgeFixture(t)
	f.start(t, "")
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c := f.client()
				if w%2 == 0 { // half of the workers keep their connection
					c.Transport.(interface{ CloseIdleConnections() }).CloseIdleConnections()
				}
				resp, err := c.Do(f.req(t, "GET", "/public/x", ""))
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = errors.New(resp.Status)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				} else {
					ok.Add(1)
				}
			}
		}(w)
	}
	var last *pki.Leaf
	for i := 0; i < 10; i++ {
		time.Sleep(60 * time.Millisecond)
		last = pki.Must(f.root.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}}))
		if i == 5 { // a key that does not match the certificate: refused, old pair stays
			writeFile(t, filepath.Join(f.dir, "key.pem.tmp"), pki.Must(f.root.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}})).KeyPEM(), 0o600)
			os.Rename(filepath.Join(f.dir, "key.pem.tmp"), filepath.Join(f.dir, "key.pem"))
			time.Sleep(120 * time.Millisecond)
		}
		writeFile(t, filepath.Join(f.dir, "cert.pem.tmp"), last.ChainPEM(), 0o644)
		writeFile(t, filepath.Join(f.dir, "key.pem.tmp"), last.KeyPEM(), 0o600)
		os.Rename(filepath.Join(f.dir, "key.pem.tmp"), filepath.Join(f.dir, "key.pem"))
		os.Rename(filepath.Join(f.dir, "cert.pem.tmp"), filepath.Join(f.dir, "cert.pem"))
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || ok.Load() < 20 {
		t.Fatalf("%d requests failed (first: %v), %d succeeded", failed.Load(), firstErr.Load(), ok.Load())
	}
	resp, err := f.client().Get("https://" + f.addr + "/public/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !resp.TLS.PeerCertificates[0].Equal(last.Cert) {
		t.Errorf("a new connection is served the old certificate")
	}
	if n := testutil.ToFloat64(f.srv.metrics.CertReloads.WithLabelValues("failed")); n < 1 {
		t.Errorf("the mismatched key was not counted as a failed reload")
	}
	t.Logf("%d requests during 10 reloads, none failed", ok.Load())
}

// TestReloadOnHUP: with the periodic checks a minute apart, a reload
// signal (SIGHUP in pinset edge) swaps the certificate and fetches the CRL
// at once.
func TestReloadOnHUP(t *testing.T) {
	f := newEdgeFixture(t)
	f.slow, f.hup = true, make(chan struct{})
	f.start(t, "")
	dev := deviceCert(t, f.deviceCA)
	c := f.client(dev)
	if code, _, _ := f.do(t, c, f.req(t, "GET", "/device/x", "")); code != 200 {
		t.Fatalf("device: %d", code)
	}
	next := pki.Must(f.root.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}}))
	writeFile(t, filepath.Join(f.dir, "key.pem"), next.KeyPEM(), 0o600)
	writeFile(t, filepath.Join(f.dir, "cert.pem"), next.ChainPEM(), 0o644)
	f.revoke(t, dev.Leaf.SerialNumber)
	f.hup <- struct{}{}
	deadline := time.Now().Add(3 * time.Second)
	for {
		resp, err := f.client().Get("https://" + f.addr + "/public/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		code, _, _ := f.do(t, c, f.req(t, "GET", "/device/x", ""))
		if resp.TLS.PeerCertificates[0].Equal(next.Cert) && code == http.StatusForbidden {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("3s after the reload signal: new certificate %v, revoked device %d",
				resp.TLS.PeerCertificates[0].Equal(next.Cert), code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSlowClientCut: a client that sends its headers slower than
// read_header_timeout is disconnected (slowloris).
func TestSlowClientCut(t *testing.T) {
	f := newEdgeFixture(t)
	f.start(t, "limits:\n  read_header_timeout: 300ms\n")
	pool := x509.NewCertPool()
	pool.AddCert(f.root.Cert)
	conn, err := tls.Dial("tcp", f.addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	io.WriteString(conn, "GET /public/x HTTP/1.1\r\nHost: x\r\n")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(conn)
	if d := time.Since(start); err != nil || d > 3*time.Second {
		t.Fatalf("connection with unfinished headers still open after %s (%v)", d, err)
	}
}
