package enforce

import (
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/policy"
)

// benchSet is a realistic pin set: the benchmark host pinned on its root
// (the last certificate the check reaches, so the most hashing), plus
// unrelated exact and wildcard policies that the matcher has to rank.
func benchSet(b *testing.B, h *pki.Hierarchy) *policy.Set {
	pols := []policy.Policy{pinned(host, h.Root.Pin())}
	for i := range 20 {
		pols = append(pols,
			pinned(fmt.Sprintf("svc%d.pinset.test", i), otherPin),
			pinned(fmt.Sprintf("*.region%d.pinset.test", i), otherPin),
		)
	}
	pols = append(pols, pinned("**.other.test", otherPin))
	return mustSet(b, pols...)
}

// BenchmarkHandshake measures a full TLS 1.3 handshake over loopback TCP
// (ECDSA P-256 chain of three, no session resumption), with and without
// the pin check. Compare the two with benchstat -col /pin.
func BenchmarkHandshake(b *testing.B) {
	h := pki.Must(pki.NewHierarchy(pki.Template{}, host))
	srv := startServer(b, h.Leaf.TLSCertificate())
	base := &tls.Config{RootCAs: h.Root.Pool(), ServerName: host, MinVersion: tls.VersionTLS13}
	e := New(Static(benchSet(b, h)), Options{})
	for _, bc := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"pin=off", base},
		{"pin=on", e.TLSConfig(base)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				raw, err := net.Dial("tcp", srv.addr)
				if err != nil {
					b.Fatal(err)
				}
				c := tls.Client(raw, bc.cfg)
				if err := c.Handshake(); err != nil {
					b.Fatal(err)
				}
				if c.ConnectionState().DidResume {
					b.Fatal("resumed")
				}
				c.Close()
			}
		})
	}
}

// BenchmarkVerify measures the pin check alone on a captured connection
// state: host matching in a set of 42 policies and hashing the verified
// chain up to the pinned root.
func BenchmarkVerify(b *testing.B) {
	h := pki.Must(pki.NewHierarchy(pki.Template{}, host))
	srv := startServer(b, h.Leaf.TLSCertificate())
	cs, err := dial(b, srv.addr, &tls.Config{RootCAs: h.Root.Pool(), ServerName: host})
	if err != nil {
		b.Fatal(err)
	}
	e := New(Static(benchSet(b, h)), Options{})
	for b.Loop() {
		if err := e.Verify(cs, 443); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandshakePaired alternates plain and pinned handshakes within
// one loop, so that load from other processes falls on both alike, and
// reports each one's mean time and the overhead of pinning in percent.
// One op is one plain plus one pinned handshake.
func BenchmarkHandshakePaired(b *testing.B) {
	h := pki.Must(pki.NewHierarchy(pki.Template{}, host))
	srv := startServer(b, h.Leaf.TLSCertificate())
	base := &tls.Config{RootCAs: h.Root.Pool(), ServerName: host, MinVersion: tls.VersionTLS13}
	pinnedCfg := New(Static(benchSet(b, h)), Options{}).TLSConfig(base)
	handshake := func(cfg *tls.Config) time.Duration {
		raw, err := net.Dial("tcp", srv.addr)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		c := tls.Client(raw, cfg)
		if err := c.Handshake(); err != nil {
			b.Fatal(err)
		}
		d := time.Since(start)
		c.Close()
		return d
	}
	var off, on []time.Duration
	for b.Loop() {
		// Alternate the order so neither side always runs second.
		if len(off)%2 == 0 {
			off = append(off, handshake(base))
			on = append(on, handshake(pinnedCfg))
		} else {
			on = append(on, handshake(pinnedCfg))
			off = append(off, handshake(base))
		}
	}
	// Medians: a handshake slowed by another process's burst does not
	// move them.
	mOff, mOn := median(off), median(on)
	b.ReportMetric(float64(mOff.Nanoseconds()), "off-median-ns")
	b.ReportMetric(float64(mOn.Nanoseconds()), "on-median-ns")
	b.ReportMetric(100*(float64(mOn)-float64(mOff))/float64(mOff), "overhead-%")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
