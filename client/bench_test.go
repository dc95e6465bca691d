package client

import (
	"crypto/tls"
	"io"
	"net/http"
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
	defer c.Close()
	pinned := c.Transport().(*pinnedTransport)
	plain := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: ca.Pool(), ClientSessionCache: tls.NewLRUClientSessionCache(256)},
		ForceAttemptHTTP2: true,
	}
	url := backend.URL("/")
	get := func(b *testing.B, rt http.RoundTripper, closeConn bool) {
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
	for _, mode := range []struct {
		name  string
		close bool
	}{{"keepalive", false}, {"newconn", true}} {
		for _, tr := range []struct {
			name string
			rt   http.RoundTripper
		}{{"plain", plain}, {"pinned", pinned}} {
			b.Run(mode.name+"/"+tr.name, func(b *testing.B) {
				get(b, tr.rt, mode.close) // warm up: a session to resume, a connection to keep
				b.ResetTimer()
				for b.Loop() {
					get(b, tr.rt, mode.close)
				}
			})
		}
	}
}
