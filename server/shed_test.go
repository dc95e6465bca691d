package server

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// senderResult is what the report sender process counted.
type senderResult struct {
	Stored, Shed, NoRetryAfter, Other int64
}

// TestShedSenderProcess is not a test: TestShedKeepsManifestFast runs the
// test binary with PINSET_SHED_URL set to send reports from another
// process (so that the sender's own TLS and scheduling do not run in the
// server's process): PINSET_SHED_RATE reports/s (0: as fast as 64
// connections go) for PINSET_SHED_FOR, then it prints its counts as JSON.
func TestShedSenderProcess(t *testing.T) {
	u := os.Getenv("PINSET_SHED_URL")
	if u == "" {
		t.Skip("helper process of TestShedKeepsManifestFast")
	}
	rate, _ := strconv.ParseFloat(os.Getenv("PINSET_SHED_RATE"), 64)
	dur, _ := time.ParseDuration(os.Getenv("PINSET_SHED_FOR"))
	ca, _ := os.ReadFile(os.Getenv("PINSET_SHED_CA"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 64}}
	body, err := os.ReadFile(filepath.Join("..", "report", "testdata", "reports", "trustkit-android.json"))
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	var res senderResult
	var mu sync.Mutex
	tokens := make(chan struct{}, 1024)
	go func() {
		defer close(tokens)
		end := time.Now().Add(dur)
		if rate == 0 {
			for time.Now().Before(end) {
				tokens <- struct{}{}
			}
			return
		}
		const tick = 5 * time.Millisecond
		tk := time.NewTicker(tick)
		defer tk.Stop()
		owed := 0.0
		for time.Now().Before(end) {
			<-tk.C
			for owed += rate * tick.Seconds(); owed >= 1; owed-- {
				select {
				case tokens <- struct{}{}:
				default: // every sender busy: the excess is not sent
				}
			}
		}
	}()
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range tokens {
				b := bytes.Replace(body, []byte(`"4.2.0"`), fmt.Appendf(nil, `"%d"`, n.Add(1)%1000), 1)
				resp, err := hc.Post(u, "application/json", bytes.NewReader(b))
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				switch {
				case resp.StatusCode == 200 || resp.StatusCode == 201:
					res.Stored++
				case resp.StatusCode == 503 || resp.StatusCode == 429:
					res.Shed++
					if resp.Header.Get("Retry-After") == "" {
						res.NoRetryAfter++
					}
				default:
					res.Other++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	json.NewEncoder(os.Stdout).Encode(res)
}

// TestShedKeepsManifestFast: over real TLS on loopback, reports arrive
// (from another process) at twice the rate the service stores them; the
// excess is answered 503 overloaded with Retry-After, and manifest GETs
// meanwhile keep a p99 under 10 ms. Bounded: one second to measure the
// capacity, three of overload, 300 GETs.
func TestShedKeepsManifestFast(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	// Other processes' load on the machine alone delays a GET past 10ms
	// (the kernel's time slices; measured: p99 17-21 ms at a load average
	// of 1.8 on 2 CPUs with and without shedding): say so rather than
	// measure it. The bound needs a mostly idle machine.
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		var load float64
		fmt.Sscan(string(b), &load)
		if load > float64(runtime.NumCPU())/2 {
			t.Skipf("load average %.1f on %d CPUs: the 10ms latency bound cannot be measured here (docs/benchmarks.md)", load, runtime.NumCPU())
		}
	}
	e := newEnv(t, func(c *Config) {
		c.ReportRate, c.ReportBurst, c.ReportAppRate, c.ReportAppBurst = 1e9, 1e9, 1e9, 1e9
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	})
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	ts := httptest.NewTLSServer(e.srv)
	t.Cleanup(ts.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	send := func(rate float64, d time.Duration) (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestShedSenderProcess$")
		cmd.Env = append(os.Environ(), "PINSET_SHED_URL="+ts.URL+"/v1/apps/shop/reports", "PINSET_SHED_CA="+caFile,
			fmt.Sprintf("PINSET_SHED_RATE=%g", rate), "PINSET_SHED_FOR="+d.String())
		out := &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, out
	}
	result := func(cmd *exec.Cmd, out *bytes.Buffer) senderResult {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("sender: %v\n%s", err, out)
		}
		var r senderResult
		if err := json.NewDecoder(out).Decode(&r); err != nil {
			t.Fatalf("sender output: %v\n%s", err, out)
		}
		return r
	}

	// Capacity: what the service stores when 64 connections send as fast
	// as they can for a second.
	cap1 := result(send(0, time.Second))
	capacity := float64(cap1.Stored)
	if capacity == 0 {
		t.Fatalf("no report stored: %+v", cap1)
	}

	// Twice that, paced, while this process reads the manifest.
	cmd, out := send(2*capacity, 3*time.Second)
	time.Sleep(300 * time.Millisecond) // the overload is on
	hc := ts.Client()
	var lat []time.Duration
	for range 300 {
		t0 := time.Now()
		resp, err := hc.Get(ts.URL + "/v1/apps/shop/pins.json")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("manifest: %d", resp.StatusCode)
		}
		lat = append(lat, time.Since(t0))
	}
	r := result(cmd, out)
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("capacity %.0f reports/s (%+v); at twice that: %+v; manifest GET p50 %v, p99 %v", capacity, cap1, r, p50, p99)
	if p99 > 10*time.Millisecond {
		t.Errorf("manifest GET p99 %v under report overload, want < 10ms", p99)
	}
	if r.Shed == 0 {
		t.Error("nothing shed at twice the capacity")
	}
	if r.NoRetryAfter > 0 || r.Other > 0 {
		t.Errorf("%d shed answers without Retry-After, %d other answers", r.NoRetryAfter, r.Other)
	}
}

// TestShedAnswers: a report that finds the parsing slots taken (past
// ReportParseWait) or the commit queue full is answered 503 overloaded
// with Retry-After, without its body being read, and counted; with room
// again it is stored.
func TestShedAnswers(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.ReportRate, c.ReportBurst = 1e9, 1e9
		c.ReportParsers, c.ReportParseWait, c.ReportPending = 1, time.Millisecond, 1
	})
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	body, err := os.ReadFile(filepath.Join("..", "report", "testdata", "reports", "trustkit-android.json"))
	if err != nil {
		t.Fatal(err)
	}
	post := func() resp { return e.do("POST", "/v1/apps/shop/reports", body) }
	check := func(what string) {
		t.Helper()
		r := post()
		if r.code != 503 || r.h.Get("Retry-After") != "1" || r.apiErr(t).Code != "overloaded" {
			t.Errorf("%s: %d %s %q", what, r.code, r.body, r.h.Get("Retry-After"))
		}
	}
	if !e.srv.shedder.acquireParse() {
		t.Fatal("no parsing slot")
	}
	check("parsing slot taken")
	e.srv.shedder.releaseParse()
	if !e.srv.shedder.acquirePending() {
		t.Fatal("no commit place")
	}
	check("commit queue full")
	e.srv.shedder.releasePending()
	if r := post(); r.code != 201 {
		t.Fatalf("with room again: %d %s", r.code, r.body)
	}
	if m := e.do("GET", "/metrics", nil); !bytes.Contains(m.body, []byte(`pinset_reports_received_total{format="",result="shed"} 2`)) {
		t.Errorf("shed reports not counted:\n%s", m.body)
	}
}
