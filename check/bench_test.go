package check_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/internal/checktest"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
)

// benchEndpoints is the number of loopback endpoints: 1,000 distinct
// addresses 127.1.x.y, each with its own listener, each the only address
// of its own host name hNNNN.bench.test (all on one port, all serving one
// *.bench.test certificate).
const benchEndpoints = 1000

type benchFleet struct {
	f       *checktest.Fleet
	w       *checktest.World
	targets []check.Target
	opts    check.Options
	pols    []policy.Policy
}

func newBenchFleet(b *testing.B) *benchFleet {
	w := checktest.NewWorld(b, "bench.test")
	leaf := pki.Must(w.Inter.NewLeaf(pki.Template{Hosts: []string{"*.bench.test"}, Key: w.Key("live"),
		Now: func() time.Time { return checktest.Epoch }, Rand: pki.NewDeterministicRand("bench leaf")}))
	ips := make([]string, benchEndpoints)
	certs := make([]tls.Certificate, benchEndpoints)
	for i := range ips {
		ips[i] = fmt.Sprintf("127.1.%d.%d", i/250, i%250+1)
		certs[i] = leaf.TLSCertificate()
	}
	f, err := checktest.Start("bench.test", ips, certs)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(f.Close)
	bf := &benchFleet{f: f, w: w}
	resolve := map[string][]string{}
	for i, ip := range ips {
		h := fmt.Sprintf("h%04d.bench.test", i)
		bf.targets = append(bf.targets, check.Target{Host: h, Port: f.Port})
		resolve[net.JoinHostPort(h, strconv.Itoa(f.Port))] = []string{ip}
	}
	bf.opts = check.Options{RootCAs: w.Pool(), Timeout: 10 * time.Second, Resolve: resolve, DefaultPort: f.Port,
		Now: func() time.Time { return checktest.Epoch.Add(24 * time.Hour) }}
	bf.pols = []policy.Policy{{Pattern: "*.bench.test", Pins: []pin.Pin{w.Pin("live"), w.Pin("backup")}}}
	return bf
}

// BenchmarkCheck1000 checks 1,000 loopback endpoints with pinset's check
// (resolve override, probe, verification, pin decision, findings) at the
// default concurrency.
func BenchmarkCheck1000(b *testing.B) {
	bf := newBenchFleet(b)
	b.ResetTimer()
	for b.Loop() {
		bf.check(b)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/benchEndpoints, "µs/endpoint")
}

// BenchmarkBareHandshake1000 is the baseline: plain verified TLS
// handshakes with the same 1,000 endpoints at the same concurrency, with
// nothing recorded or decided.
func BenchmarkBareHandshake1000(b *testing.B) {
	bf := newBenchFleet(b)
	b.ResetTimer()
	for b.Loop() {
		bf.bare(b)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/benchEndpoints, "µs/endpoint")
}

// BenchmarkCheckVsBare1000 alternates the two within each iteration, so
// that both see the same machine load, and reports their ratio.
func BenchmarkCheckVsBare1000(b *testing.B) {
	bf := newBenchFleet(b)
	var tc, tb time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		bf.bare(b)
		t1 := time.Now()
		bf.check(b)
		tc += time.Since(t1)
		tb += t1.Sub(t0)
	}
	b.ReportMetric(tc.Seconds()/float64(b.N), "check-s/op")
	b.ReportMetric(tb.Seconds()/float64(b.N), "bare-s/op")
	b.ReportMetric(tc.Seconds()/tb.Seconds(), "check/bare")
}

func (bf *benchFleet) check(b *testing.B) {
	rep, err := check.Run(context.Background(), bf.pols, bf.targets, bf.opts)
	if err != nil {
		b.Fatal(err)
	}
	if rep.Summary.Accepted != benchEndpoints {
		b.Fatalf("accepted %d of %d: %s", rep.Summary.Accepted, benchEndpoints, rep.SummaryLine())
	}
}

func (bf *benchFleet) bare(b *testing.B) {
	{
		sem := make(chan struct{}, check.DefaultConcurrency)
		errs := make(chan error, benchEndpoints)
		for _, t := range bf.targets {
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				d := &net.Dialer{Timeout: 10 * time.Second}
				addr := net.JoinHostPort(bf.opts.Resolve[t.String()][0], strconv.Itoa(t.Port))
				c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: t.Host, RootCAs: bf.opts.RootCAs, Time: bf.opts.Now, MinVersion: tls.VersionTLS12})
				if err == nil {
					c.Close()
				}
				errs <- err
			}()
		}
		for range bf.targets {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
	}
}
