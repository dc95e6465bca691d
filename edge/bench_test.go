package edge

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"syscall"
	"testing"
	"time"

	"pinset.dev/pinset/internal/pki"
)

// BenchmarkEdgeOverhead compares, in one run, a request through a bare
// httputil.ReverseProxy and through the edge on a route that verifies an
// ES256 access token with a required scope and applies per-user and
// per-address limits (memory), access log on: both over TLS on loopback
// with keep-alive, to the same upstream, with the same transport. "edge"
// uses the default token cache (tokens.cache: 1m); "edge-no-cache"
// verifies the signature on every request. docs/benchmarks.md has the
// figures.
func BenchmarkEdgeOverhead(b *testing.B) {
	f := newEdgeFixture(b)
	// The upstream answers at once, so the figures are the proxies' cost.
	f.upstream = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	b.Cleanup(f.upstream.Close)
	up, _ := url.Parse(f.upstream.URL)
	rp := httputil.NewSingleHostReverseProxy(up)
	rp.Transport = NewTransport(0)
	bare := httptest.NewUnstartedServer(rp)
	leaf := pki.Must(f.root.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}}))
	bare.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}}
	bare.StartTLS()
	b.Cleanup(bare.Close)
	f.issuer.add(b, "k", "ES256")
	token := f.issuer.token(b, "k", claims("alice", "read"))
	limits := "rate_limits:\n  user: {requests: 1000000000, per: 1s}\n  address: {requests: 1000000000, per: 1s}\n"

	b.Run("bare", func(b *testing.B) {
		benchRequests(b, f.client(), bare.URL+"/v1/items", token)
	})
	for _, c := range []struct{ name, cache string }{{"edge", "1m"}, {"edge-no-cache", `"off"`}} {
		g := f.another()
		g.logTo, g.tokenCache, g.slow = io.Discard, c.cache, true
		g.start(b, limits)
		b.Run(c.name, func(b *testing.B) {
			benchRequests(b, g.client(), "https://"+g.addr+"/v1/items", token)
		})
		// The same, alternating blocks of 50 bare and 50 edge requests, so
		// that the load other processes put on the machine falls on both
		// alike, with the process's CPU time for each: on a shared machine
		// the CPU ratio is the figure to read.
		b.Run(c.name+"-vs-bare", func(b *testing.B) {
			var tb, te, cb, ce time.Duration
			bc, ec := f.client(), g.client()
			for i := 0; i < b.N; i += 50 {
				t0, c0 := time.Now(), cpuTime()
				for j := 0; j < 50; j++ {
					benchOne(b, bc, bare.URL+"/v1/items", token)
				}
				t1, c1 := time.Now(), cpuTime()
				for j := 0; j < 50; j++ {
					benchOne(b, ec, "https://"+g.addr+"/v1/items", token)
				}
				tb, te = tb+t1.Sub(t0), te+time.Since(t1)
				cb, ce = cb+c1-c0, ce+cpuTime()-c1
			}
			b.ReportMetric(float64(tb.Nanoseconds())/float64(b.N), "bare-ns/req")
			b.ReportMetric(float64(te.Nanoseconds())/float64(b.N), "edge-ns/req")
			b.ReportMetric(float64(te)/float64(tb), "edge/bare")
			b.ReportMetric(float64(cb.Nanoseconds())/float64(b.N), "bare-cpu-ns/req")
			b.ReportMetric(float64(ce.Nanoseconds())/float64(b.N), "edge-cpu-ns/req")
			b.ReportMetric(float64(ce)/float64(cb), "edge/bare-cpu")
		})
	}
}

// cpuTime is the CPU time (user and system) the process has used: client,
// proxy and upstream together, the same for both sides but for the proxy.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchOne(b *testing.B, c *http.Client, url, token string) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

func benchRequests(b *testing.B, c *http.Client, url, token string) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		benchOne(b, c, url, token)
	}
}
