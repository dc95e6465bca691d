package client

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	ct "pinset.dev/pinset/client/clienttest"
	"pinset.dev/pinset/enforce"
	"pinset.dev/pinset/report/trustkit"
)

// Reports travel over plain CA validation: a report URI on a host whose
// own pins do not match (here the pinned 127.0.0.1 with an unpinned key)
// still receives the report.
func TestReportBypassesPins(t *testing.T) {
	w := newWorld(t)
	got := make(chan []byte, 4)
	rsrv := newHTTPSReportServer(t, w.ca, got) // 127.0.0.1, a key the manifest does not pin
	p := ct.Pol("127.0.0.1", w.live.Pin(), w.backup.Pin())
	p.ReportURI = rsrv + "/r"
	w.m1 = w.repo.Publish(1, ct.T0.Add(-time.Hour), 30*24*time.Hour, p)
	c := w.newClient(nil)
	w.serveUnpinned()
	mustRefuse(t, c.HTTPClient(), w.backend.URL("/"))
	select {
	case b := <-got:
		var tk trustkit.Body
		if err := json.Unmarshal(b, &tk); err != nil || tk.NotedHostname != "127.0.0.1" {
			t.Fatalf("report %s: %v", b, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("report did not reach the report URI")
	}
	// and the pinned transport itself refuses that same report server
	mustRefuse(t, c.HTTPClient(), rsrv+"/r")
}

// The queue is bounded and enqueueing never waits, even when the report
// endpoint hangs: excess reports are dropped with an event.
func TestReportQueueNeverBlocks(t *testing.T) {
	w := newWorld(t)
	release := make(chan struct{})
	arrived := make(chan struct{}, 100)
	hang := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		<-release
	})
	srv := ct.NewBackend(t, reportLeaf(w.ca))
	srv.Srv.Config.Handler = hang
	defer close(release)

	cfg := w.config(nil)
	cfg.ReportURL = "https://" + srv.Srv.Listener.Addr().String() + "/reports"
	cfg.ServiceURL = ""
	cfg.ReportQueue = 2
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	pset := c.Policies().Policies()[0]
	pset.ReportURI = ""
	mk := func(port int) *enforce.Failure {
		return &enforce.Failure{Host: "127.0.0.1", Port: port, Policy: pset, Expected: pset.Pins, Time: w.clock.Now(),
			VerifiedChains: [][]*x509.Certificate{w.live.Chain}, ServedChain: w.live.Chain[:2]}
	}
	// The first report is taken by the worker and hangs in the endpoint.
	c.onFailure(mk(1))
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatalf("first report never arrived: %v", w.eventsOf(EventReportDropped))
	}
	start := time.Now()
	for port := 2; port < 12; port++ {
		c.onFailure(mk(port))
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("enqueueing 10 reports took %v", el)
	}
	dropped := w.eventsOf(EventReportDropped)
	if len(dropped) != 8 { // 2 fit in the queue
		t.Fatalf("%d dropped events, want 8", len(dropped))
	}
	if dropped[0].Reason != "report queue full" {
		t.Errorf("reason %q", dropped[0].Reason)
	}
	// A duplicate of a queued report is not queued again, nor dropped.
	c.onFailure(mk(2))
	if n := len(w.eventsOf(EventReportDropped)); n != 8 {
		t.Errorf("duplicate produced a drop event")
	}
	if n := len(w.eventsOf(EventPinFailure)); n != 12 {
		t.Errorf("%d pin-failure events, want 12", n)
	}
}

// Without any report URI, a failure is dropped with a reason.
func TestNoReportURI(t *testing.T) {
	w := newWorld(t)
	cfg := w.config(nil)
	cfg.ServiceURL = ""
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w.serveUnpinned()
	mustRefuse(t, c.HTTPClient(), w.backend.URL("/"))
	d := w.eventsOf(EventReportDropped)
	if len(d) != 1 {
		t.Fatalf("dropped events: %v", d)
	}
	if err := c.FlushReports(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(context.Background()); err != ErrNoService {
		t.Errorf("Refresh without a service: %v", err)
	}
}

// A failing report endpoint is an event, not an error anywhere else.
func TestReportEndpointFailure(t *testing.T) {
	w := newWorld(t)
	w.repo.Mode.Store(ct.Mode500) // the service also takes reports: make POST fail
	cfg := w.config(nil)
	cfg.ReportURL = w.repo.URL() + "/nowhere"
	w.repo.Srv.Config.Handler = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		http.Error(rw, "no", http.StatusServiceUnavailable)
	})
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w.serveUnpinned()
	mustRefuse(t, c.HTTPClient(), w.backend.URL("/"))
	if err := c.FlushReports(context.Background()); err != nil {
		t.Fatal(err)
	}
	d := w.eventsOf(EventReportDropped)
	if len(d) != 1 || d[0].Err == nil {
		t.Fatalf("dropped events: %v", d)
	}
}
