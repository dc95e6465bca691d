package client

import (
	"crypto/tls"
	"io"
	"net/http"
	"sort"
	"testing"
	"time"

	ct "pinset.dev/pinset/client/clienttest"
	"pinset.dev/pinset/internal/pki"
)

// BenchmarkTransport compares a GET through the pinned transport with the
// same GET through a plain http.Transport (same roots, same session cache
// size) to the same loopback HTTPS server, over a kept-alive connection
// and over a new connection per request (TLS 1.3, resumed sessions on
// both sides).
//
//	go test -run '^$' -bench Transport -benchtime 2s ./client
func BenchmarkTransport(b *testing.B) {
	plain, pinned, url := benchSetup(b)
	get := benchGet
	for _, mode := range []struct {
		name  string
		close bool
	}{{"keepalive", false}, {"newconn", true}} {
		for _, tr := range []struct {
			name string
			rt   http.RoundTripper
		}{{"plain", plain}, {"pinned", pinned}} {
			b.Run(mode.name+"/"+tr.name, func(b *testing.B) {
				get(b, tr.rt, url, mode.close) // warm up: a session to resume, a connection to keep
				b.ResetTimer()
				for b.Loop() {
					get(b, tr.rt, url, mode.close)
				}
			})
		}
	}
}

// BenchmarkTransportPaired alternates a plain and a pinned request in one
// loop, so that load from other processes falls on both alike, and
// reports the median time of each and the pinned/plain ratio.
//
//	go test -run '^$' -bench TransportPaired -benchtime 3000x ./client
func BenchmarkTransportPaired(b *testing.B) {
	plain, pinned, url := benchSetup(b)
	for _, mode := range []struct {
		name  string
		close bool
	}{{"keepalive", false}, {"newconn", true}} {
		b.Run(mode.name, func(b *testing.B) {
			benchGet(b, plain, url, mode.close)
			benchGet(b, pinned, url, mode.close)
			var dp, dq []time.Duration
			i := 0
			for b.Loop() {
				rts := []http.RoundTripper{plain, pinned}
				if i%2 == 1 {
					rts[0], rts[1] = pinned, plain
				}
				for _, rt := range rts {
					start := time.Now()
					benchGet(b, rt, url, mode.close)
					d := time.Since(start)
					if rt == plain {
						dp = append(dp, d)
					} else {
						dq = append(dq, d)
					}
				}
				i++
			}
			mp, mq := median(dp), median(dq)
			b.ReportMetric(float64(mp.Nanoseconds()), "plain-median-ns")
			b.ReportMetric(float64(mq.Nanoseconds()), "pinned-median-ns")
			b.ReportMetric(float64(mq)/float64(mp), "pinned/plain")
		})
	}
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func benchSetup(b *testing.B) (plain, pinned http.RoundTripper, url string) {
	ca := pki.Must(pki.NewRoot(pki.Template{Rand: pki.NewDeterministicRand("bench ca")}))
	inter := pki.Must(ca.NewIntermediate(pki.Template{Rand: pki.NewDeterministicRand("bench inter")}))
	live := pki.Must(inter.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("bench live")}))
	backup := pki.Must(inter.NewLeaf(pki.Template{Hosts: []string{"127.0.0.1"}, Rand: pki.NewDeterministicRand("bench backup")}))
	backend := ct.NewBackend(b, live)
	repo := ct.NewRepo(b, "com.example.bench", "bench")
	m := repo.Publish(1, time.Now().Add(-time.Hour), 24*time.Hour, ct.Pol("127.0.0.1", live.Pin(), backup.Pin()))
	c, err := New(Config{BundledRoot: repo.RootBytes(1), BundledManifest: m, TLS: &tls.Config{RootCAs: ca.Pool()}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	pinned = c.Transport()
	plain = &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: ca.Pool(), ClientSessionCache: tls.NewLRUClientSessionCache(256)},
		ForceAttemptHTTP2: true,
	}
	return plain, pinned, backend.URL("/")
}

// benchGet makes one request; closeConn closes the connection afterwards,
// so that the next request makes a new one (resuming the TLS session).
func benchGet(b *testing.B, rt http.RoundTripper, url string, closeConn bool) {
	req, _ := http.NewRequest("GET", url, nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if closeConn {
		rt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	}
}
