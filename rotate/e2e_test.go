package rotate_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/client"
	"pinset.dev/pinset/internal/checktest"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/internal/testtool"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/rotate"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/trust"
	"pinset.dev/pinset/trust/trusttest"
)

// The end-to-end tests of a rotation: real SDK clients (each with its own
// cache directory), real HTTP to a real pin service on loopback, a fleet
// of HTTPS servers on 127.0.0.2-4 for the rotated host, and one injected
// clock for everything.

const host = "api.rotate.test"

// clock is testtool.Clock.
type clock = testtool.Clock

// world is one service, one fleet and the app's signing repository.
type world struct {
	t      *testing.T
	clock  *clock
	pki    *checktest.World
	fleet  *checktest.HTTPSFleet
	repo   *trusttest.Repo
	srv    *server.Server
	st     store.Store
	url    string
	root   []byte
	bundle []byte // the manifest the app ships with
	v0     uint64

	mu         sync.Mutex
	deploys    []server.DeployRequest
	deploySkip int // an address the switch misses (-1: none)
	failures   atomic.Int64
	requests   atomic.Int64
	errs       []error
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, clock: testtool.NewClock(checktest.Epoch.Add(24 * time.Hour)), pki: checktest.NewWorld(t, host), deploySkip: -1}
	w.fleet = checktest.NewHTTPSFleet(t, host, 3, w.leaf("old"))
	w.repo = trusttest.New("shop", 13)
	w.repo.Now = w.clock.Now()
	w.repo.ManifestLifetime = 90 * 24 * time.Hour
	w.repo.RotatePinsKeys(1, 1) // the service may sign
	w.repo.Hosts = []policy.Policy{{Pattern: host, Pins: []pin.Pin{w.pki.Pin("old"), w.pki.Pin("backup")}}}
	w.bundle = w.repo.PublishManifest(nil)
	w.root = w.repo.Root()
	w.v0 = w.repo.ManifestVersion
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w.st = st
	opts := check.Options{RootCAs: w.pki.Pool(), Timeout: 5 * time.Second, Resolve: w.fleet.Resolve(), DefaultPort: w.fleet.Port, Now: w.clock.Now}
	w.srv, err = server.New(server.Config{
		Store: st, Now: w.clock.Now, RefreshInterval: time.Nanosecond,
		PublishGate: check.ManifestGate(opts),
		// Flushed by the test, once per simulated day. Every SDK client
		// fetches from 127.0.0.1, one client network: the cap of installs
		// per network is lifted so that all 200 count (the cap and the
		// per-network gate: server.TestForgedTelemetryHoldsThePlan).
		Adoption: server.AdoptionConfig{FlushInterval: time.Hour, MaxInstallsPerNetwork: 1000},
		Rotation: server.RotationConfig{Signer: w.repo.PinsKeys[0], Check: opts, Deploy: func(ctx context.Context, d server.DeployRequest) error {
			w.mu.Lock()
			w.deploys = append(w.deploys, d)
			skip := w.deploySkip
			w.mu.Unlock()
			name := map[pin.Pin]string{w.pki.Pin("old"): "old", w.pki.Pin("next"): "next"}[d.Pin]
			for i := range w.fleet.Addrs { // a rolling deploy, one node at a time
				if i != skip || d.Action != "switch" {
					w.fleet.SetCert(i, w.leaf(name))
					time.Sleep(20 * time.Millisecond)
				}
			}
			return nil
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(w.srv)
	t.Cleanup(hs.Close)
	w.url = hs.URL
	ctx := context.Background()
	if _, err := w.srv.PublishRoot(ctx, "shop", w.root); err != nil {
		t.Fatal(err)
	}
	if _, err := w.srv.PublishManifest(ctx, "shop", w.bundle, server.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) leaf(name string) tls.Certificate { return w.pki.Leaf(name, 365*24*time.Hour) }

// app is one install of the app: an SDK client with its own cache.
type app struct {
	w *world
	c *client.Client
	i int
}

func (w *world) newApp(i int, dir string) *app {
	a := &app{w: w, i: i}
	addr := net.JoinHostPort(w.fleet.Addrs[i%len(w.fleet.Addrs)], strconv.Itoa(w.fleet.Port))
	c, err := client.New(client.Config{
		BundledRoot: w.root, BundledManifest: w.bundle, ServiceURL: w.url,
		Store: client.NewDirStore(filepath.Join(dir, strconv.Itoa(i))),
		TLS:   &tls.Config{RootCAs: w.pki.Pool()},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr) // this install's node of the host
		},
		Now: w.clock.Now, Rand: pki.NewDeterministicRand("app " + strconv.Itoa(i)),
		ReportURL: w.url + "/v1/apps/shop/reports",
		OnEvent: func(e client.Event) {
			if e.Kind == client.EventPinFailure {
				w.failures.Add(1)
			}
		},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { c.Close() })
	a.c = c
	return a
}

// refresh fetches the pins, as an app does at start and every interval.
func (a *app) refresh() {
	if err := a.c.Refresh(context.Background()); err != nil {
		a.w.fail(fmt.Errorf("app %d refresh: %w", a.i, err))
	}
}

// request makes one pinned request to the rotated host.
func (a *app) request() {
	a.w.requests.Add(1)
	resp, err := a.c.HTTPClient().Get("https://" + net.JoinHostPort(host, strconv.Itoa(a.w.fleet.Port)) + "/")
	if err != nil {
		a.w.fail(fmt.Errorf("app %d request: %w", a.i, err))
		return
	}
	resp.Body.Close()
}

func (w *world) fail(err error) {
	w.mu.Lock()
	w.errs = append(w.errs, err)
	w.mu.Unlock()
}

func (w *world) checkNoFailures() {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) > 0 || w.failures.Load() > 0 {
		w.t.Fatalf("%d errors, %d pin failures; first: %v", len(w.errs), w.failures.Load(), errors.Join(w.errs[:min(3, len(w.errs))]...))
	}
}

// day runs one simulated day: the given apps refresh and make a request
// (in parallel), the service writes the telemetry and steps its plans.
func (w *world) day(apps []*app, during func()) {
	w.t.Helper()
	w.clock.Add(24 * time.Hour)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, a := range apps {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			a.refresh()
			a.request()
		}()
	}
	wg.Wait()
	if err := w.srv.FlushAdoption(context.Background()); err != nil {
		w.t.Fatal(err)
	}
	// While the service steps (and may switch the servers), apps keep
	// making requests.
	stop := make(chan struct{})
	var hammer sync.WaitGroup
	for k := range 4 {
		hammer.Add(1)
		go func() {
			defer hammer.Done()
			for j := k; ; j += 4 {
				select {
				case <-stop:
					return
				default:
				}
				apps[j%len(apps)].request()
			}
		}()
	}
	if during != nil {
		during()
	}
	if err := w.srv.StepRotations(context.Background()); err != nil {
		w.t.Fatal(err)
	}
	close(stop)
	hammer.Wait()
}

func (w *world) plan(id int64) *server.PlanStatus {
	list, err := w.srv.Rotations(context.Background(), "shop", false)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, p := range list {
		if p.ID == id {
			return p
		}
	}
	w.t.Fatalf("no plan %d", id)
	return nil
}

// published is the current manifest, read from the store (a GET of
// pins.json would count as an install).
func (w *world) published() *trust.Manifest {
	d, err := w.st.Manifest(context.Background(), "shop")
	if err != nil {
		w.t.Fatal(err)
	}
	m, err := trust.DecodeManifestUnverified(d.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	return m
}

// TestRotationWaitsForTheFleet: 200 installs, 180 online every day, 12
// offline for five days after the announcement (still active, holding the
// old manifest: the plan waits for them) and 8 offline for twelve days
// (they leave the 7-day window, then come back, refresh at start and
// request). The plan stays adopting while adoption is under 0.99, moves on
// once it passes, switches the servers while apps make requests, retires
// the old pin, and no pinned request fails at any moment.
func TestRotationWaitsForTheFleet(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	var all, daily, short, long []*app
	for i := range 200 {
		a := w.newApp(i, dir)
		all = append(all, a)
		switch {
		case i < 180:
			daily = append(daily, a)
		case i < 192:
			short = append(short, a)
		default:
			long = append(long, a)
		}
	}
	w.day(all, nil) // day 0: everyone fetches v0
	if rep, _ := w.srv.Adoption(context.Background(), "shop"); rep.ActiveClients != 200 {
		t.Fatalf("active installs %d, want 200", rep.ActiveClients)
	}
	st, err := w.srv.StartRotation(context.Background(), "shop", server.StartRotation{
		Host: host, NextPin: w.pki.Pin("next"), OldPin: ptr(w.pki.Pin("old")),
		HoldDownSeconds: ptr(int64(3 * 24 * 3600)), MinClients: 150})
	if err != nil {
		t.Fatal(err)
	}
	if st.State != rotate.Adopting || w.published().Version != w.v0+1 {
		t.Fatalf("after start: %s, manifest v%d", st.State, w.published().Version)
	}
	states := []string{}
	for d := 1; d <= 14; d++ {
		online := append([]*app(nil), daily...)
		if d > 5 {
			online = append(online, short...)
		}
		if d > 12 {
			online = append(online, long...)
		}
		w.day(online, nil)
		p := w.plan(st.ID)
		states = append(states, fmt.Sprintf("day %d: %s %.3f of %d", d, p.State, p.Adoption, p.ActiveClients))
		switch {
		case d <= 7:
			// Day 7: 180 + 12 of 200 hold the next pin (the 8 long-offline
			// installs were last seen 7 days ago: still in the window).
			if p.State != rotate.Adopting || p.Adoption >= 0.99 || p.ActiveClients != 200 {
				t.Fatalf("day %d: plan %s at adoption %g, want adopting (%v)", d, p.State, p.Adoption, states)
			}
		case d == 8:
			// The long-offline installs left the window: 192 of 192.
			if p.State != rotate.Done || p.ActiveClients != 192 {
				t.Fatalf("day 8: plan %s, %d active (%v; %s)", p.State, p.ActiveClients, states, p.BlockedBy)
			}
		}
	}
	t.Logf("%v", states)
	if w.plan(st.ID).State != rotate.Done {
		t.Fatal("plan not done")
	}
	m := w.published()
	pins := m.Hosts[0].Pins
	if m.Version != w.v0+2 || pin.Contains(pins, w.pki.Pin("old")) || !pin.Contains(pins, w.pki.Pin("next")) {
		t.Fatalf("retired manifest v%d pins %v", m.Version, pins)
	}
	if len(w.deploys) != 1 || w.deploys[0].Action != "switch" {
		t.Fatalf("deploys %+v", w.deploys)
	}
	for _, a := range all {
		if s := a.c.State(); s.ManifestVersion != int64(w.v0+2) {
			t.Errorf("app %d holds manifest v%d", a.i, s.ManifestVersion)
		}
	}
	w.checkNoFailures()
	t.Logf("%d pinned requests, none failed", w.requests.Load())
}

// TestRotationMinClientsAndAbort: with fewer active installs than
// --min-clients the plan never reaches ready, whatever the adoption; once
// enough installs are seen it switches; an address the deploy missed keeps
// it verifying; an abort then returns every address to the old key, and no
// pinned request fails throughout.
func TestRotationMinClientsAndAbort(t *testing.T) {
	w := newWorld(t)
	w.deploySkip = 2
	dir := t.TempDir()
	var apps []*app
	for i := range 20 {
		apps = append(apps, w.newApp(i, dir))
	}
	w.day(apps, nil)
	st, err := w.srv.StartRotation(context.Background(), "shop", server.StartRotation{
		Host: host, NextPin: w.pki.Pin("next"), OldPin: ptr(w.pki.Pin("old")), HoldDownSeconds: ptr(int64(0)), MinClients: 21})
	if err != nil {
		t.Fatal(err)
	}
	for d := 1; d <= 3; d++ {
		w.day(apps, nil)
	}
	p := w.plan(st.ID)
	if p.State != rotate.Adopting || p.Adoption != 1 || p.BlockedBy != "waiting for at least 21 active installs (20 seen)" {
		t.Fatalf("with 20 of 21 installs: %s %g %q", p.State, p.Adoption, p.BlockedBy)
	}
	apps = append(apps, w.newApp(20, dir))
	w.day(apps, nil) // the new install reports the bundled version...
	w.day(apps, nil) // ...then the announced one
	p = w.plan(st.ID)
	if p.State != rotate.Verifying {
		t.Fatalf("plan %s (%s), want verifying", p.State, p.BlockedBy)
	}
	w.day(apps, nil) // requests to every node, one still on the old key
	w.day(apps, func() {
		if _, err := w.srv.AbortRotation(context.Background(), st.ID); err != nil {
			t.Error(err)
		}
	})
	if p := w.plan(st.ID); p.State != rotate.Aborted {
		t.Fatalf("plan %s after abort", p.State)
	}
	if len(w.deploys) != 2 || w.deploys[1].Action != "rollback" || w.deploys[1].Pin != w.pki.Pin("old") {
		t.Fatalf("deploys %+v", w.deploys)
	}
	rep, err := check.Run(context.Background(), []policy.Policy{{Pattern: host, Pins: []pin.Pin{w.pki.Pin("old")}}}, nil,
		check.Options{RootCAs: w.pki.Pool(), Resolve: w.fleet.Resolve(), DefaultPort: w.fleet.Port, Now: w.clock.Now})
	if err != nil || rep.Summary.Accepted != 3 {
		t.Fatalf("after the abort, addresses on the old key: %+v %v", rep.Summary, err)
	}
	w.day(apps, nil)
	w.checkNoFailures()
}

func ptr[T any](v T) *T { return &v }
