package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"pinset.dev/pinset/client"
	ct "pinset.dev/pinset/client/clienttest"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/store"
)

// Agreement with reality: the same fleet run twice, once by the model and
// once by real SDK clients (package client, one DirStore each) fetching
// over HTTP from the real pin service (package server on SQLite, in
// process, on loopback), all on one injected clock. The fleet's schedule
// is the model's: every session, fetch time, fetch failure, app update and
// reinstall is drawn by the simulation with the same seed and replayed by
// the real clients through Hooks; what each client then enforces is the
// client's own decision (Client.Refresh, trust, its cache after an app
// update), and the adoption is what the real service measures from the
// clients' telemetry (Server.Adoption, the rotation plan's measure). The
// adoption curves, the fraction of active installs holding the next pin at
// the end of every simulated hour, must agree within 2 percentage points
// at every hour, as must the fraction of all installs holding it.
//
// The simulator's plan (rotate.Decide) is fed in both runs by its model
// of the service's measurement; the real service measures alongside it.
func TestAgreementWithRealClients(t *testing.T) {
	if testing.Short() {
		t.Skip("500 real clients over 45 simulated days: skipped with -short (TestAgreementSmall runs)")
	}
	if raceEnabled {
		t.Skip("500 real clients over 45 simulated days take minutes under the race detector: skipped (TestAgreementSmall runs); run without -race")
	}
	c := Default()
	c.Installs, c.Days = 500, 45
	// A small fleet reaches 0.99 late (one install in a hundred): 0.95
	// lets the plan switch and retire within the run, so the self-heal
	// and the retiring manifest are replayed too.
	c.Plan.Threshold = 0.95
	agreement(t, c, true)
}

// The same with 100 clients over 32 days (past the 30-day replacement of
// install ids), always run, under the race detector too.
func TestAgreementSmall(t *testing.T) {
	c := Default()
	c.Installs, c.Days = 100, 32
	c.Plan.Threshold, c.Plan.MinClients = 0.95, 30
	agreement(t, c, false)
}

// The fraction each curve may differ by, at any hour.
const agreementBound = 0.02

// agreement runs c by the model and by real clients and compares them
// hour by hour; wantSwitch: the plan must switch within the run.
func agreement(t *testing.T, c Config, wantSwitch bool) {
	model, err := Run(c)
	if err != nil {
		t.Fatal(err)
	}
	rf := newRealFleet(t, c.Installs)
	real, err := RunWithHooks(c, rf)
	if err != nil {
		t.Fatal(err)
	}
	if len(rf.measured) != len(model.Hourly) {
		t.Fatalf("measured %d hours, the model %d", len(rf.measured), len(model.Hourly))
	}
	t.Logf("model: %s", model.Summary())
	t.Logf("real clients: %d refreshes (%d failed as drawn), %d app updates, %d reinstalls", rf.refreshes, rf.failed, rf.updates, rf.reinstalls)
	var worstActive, worstAll float64
	var worstActiveHour, worstAllHour int
	for h, m := range model.Hourly {
		if d := math.Abs(m.Measured - rf.measured[h]); d > worstActive {
			worstActive, worstActiveHour = d, h
		}
		if d := math.Abs(m.NextPin - real.Hourly[h].NextPin); d > worstAll {
			worstAll, worstAllHour = d, h
		}
	}
	t.Logf("largest difference of the adoption among active installs: %.2f pp at hour %d (model %.4f, real service %.4f of %d active)",
		100*worstActive, worstActiveHour, model.Hourly[worstActiveHour].Measured, rf.measured[worstActiveHour], rf.active[worstActiveHour])
	t.Logf("largest difference of the next pin among all installs: %.2f pp at hour %d", 100*worstAll, worstAllHour)
	var worstCount int64
	worstCountHour := 0
	for h, m := range model.Hourly {
		if d := m.Active - rf.active[h]; max(d, -d) > worstCount {
			worstCount, worstCountHour = max(d, -d), h
		}
	}
	t.Logf("largest difference of the active installs counted: %d at hour %d (model %d, real service %d)",
		worstCount, worstCountHour, model.Hourly[worstCountHour].Active, rf.active[worstCountHour])
	// The active installs the service counts (the fraction's denominator)
	// within 2 % of the fleet too: ids replaced every
	// telemetry.RotateAfter, counted twice within the window.
	badCount := float64(worstCount) > agreementBound*float64(c.Installs)
	if worstActive > agreementBound || worstAll > agreementBound || badCount {
		for h := range model.Hourly {
			if h%24 == 0 || h == worstActiveHour || h == worstAllHour {
				t.Logf("hour %4d: active: model %.4f (%d) real %.4f (%d); all installs: model %.4f real %.4f", h,
					model.Hourly[h].Measured, model.Hourly[h].Active, rf.measured[h], rf.active[h], model.Hourly[h].NextPin, real.Hourly[h].NextPin)
			}
		}
		t.Fatalf("the curves differ by more than %.0f pp (or the active installs by more than %.0f %% of the fleet)", 100*agreementBound, 100*agreementBound)
	}
	if wantSwitch && model.SwitchHour < 0 {
		t.Fatalf("the plan did not switch within the run: %s", model.BlockedBy)
	}
	if real.SwitchHour != model.SwitchHour || real.BrickedInstalls != model.BrickedInstalls {
		t.Fatalf("the rotation: switched at hour %d by the model, %d with real clients; bricked %d and %d",
			model.SwitchHour, real.SwitchHour, model.BrickedInstalls, real.BrickedInstalls)
	}
}

// realFleet is the install side of the simulation played by real clients.
type realFleet struct {
	t       *testing.T
	clock   *ct.Clock
	srv     *server.Server
	hs      *httptest.Server
	token   string
	dir     string
	hc      *http.Client
	failing atomic.Bool

	root    []byte
	envs    map[int][]byte
	clients []*client.Client
	gen     []int // how many times install i was installed (its DirStore)
	starts  int   // clients started, for distinct random streams

	measured   []float64 // the service's adoption of the next pin, per hour
	active     []int64
	refreshes  int
	failed     int
	updates    int
	reinstalls int
}

func newRealFleet(t *testing.T, installs int) *realFleet {
	ctx := context.Background()
	f := &realFleet{t: t, clock: ct.NewClock(Epoch.Add(-time.Hour)), dir: storeDir(t), envs: map[int][]byte{},
		clients: make([]*client.Client, installs), gen: make([]int, installs)}
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// The documents are read from the store at every request (the
	// simulated clock jumps): a publication is served at once, as the
	// model assumes.
	f.srv, err = server.New(server.Config{Store: st, Now: f.clock.Now, RefreshInterval: time.Nanosecond,
		// Every real client fetches from 127.0.0.1, one client network: the
		// per-network cap (adoption.max_installs_per_network) is lifted so
		// that the service counts each of them, as the model does.
		Adoption: server.AdoptionConfig{FlushInterval: time.Hour, Rand: pki.NewDeterministicRand("fleet salt"), MaxInstallsPerNetwork: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	secret, hash, err := store.NewToken(pki.NewDeterministicRand("fleet token"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddToken(ctx, "fleet", hash, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	f.token = secret
	f.hs = httptest.NewServer(f.srv)
	t.Cleanup(f.hs.Close)

	// A fetch the model draws as failed fails in the network: the
	// connection is refused by a loopback port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = 4
	t.Cleanup(base.CloseIdleConnections)
	f.hc = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if f.failing.Load() {
			conn, err := net.Dial("tcp", closed)
			if err == nil {
				conn.Close()
				err = errors.New("a listener appeared on the closed port")
			}
			return nil, err
		}
		return base.RoundTrip(r)
	})}
	t.Cleanup(func() {
		for _, c := range f.clients {
			if c != nil {
				c.Close()
			}
		}
	})
	return f
}

// storeDir is where the clients' DirStores live: on /dev/shm when there
// is one (tmpfs: the DirStore's fsyncs cost nothing there, and this test
// measures agreement, not the disk), else in the test's temporary
// directory.
func storeDir(t *testing.T) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "pinset-fleet-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (f *realFleet) admin(path string, body []byte) {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, f.hs.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		f.t.Fatalf("PUT %s: %d %s", path, resp.StatusCode, b)
	}
}

func (f *realFleet) Publish(at time.Time, version int, root, manifest []byte) {
	f.clock.Set(at)
	if f.root == nil {
		f.root = root
		f.admin("/v1/admin/apps/dev.pinset.fleet/root", root)
	}
	f.envs[version] = manifest
	f.admin("/v1/admin/apps/dev.pinset.fleet/pins", manifest)
}

// install returns install i's client, starting it (bundling manifest v1)
// the first time.
func (f *realFleet) install(i int) *client.Client {
	if f.clients[i] == nil {
		f.start(i, 1)
	}
	return f.clients[i]
}

// start runs install i's app bundling manifest version bundled, on its
// current DirStore: what it enforces is the client's choice between the
// bundled manifest and its cache.
func (f *realFleet) start(i, bundled int) {
	if f.clients[i] != nil {
		f.clients[i].Close()
	}
	c, err := client.New(client.Config{
		BundledRoot: f.root, BundledManifest: f.envs[bundled], ServiceURL: f.hs.URL,
		Store:      client.NewDirStore(filepath.Join(f.dir, fmt.Sprintf("%d.%d", i, f.gen[i]))),
		HTTPClient: f.hc, Now: f.clock.Now,
		// Each start its own stream: a client started again on the same
		// DirStore must not draw the install id it drew before.
		Rand: pki.NewDeterministicRand(fmt.Sprintf("install %d.%d start %d", i, f.gen[i], f.starts)),
	})
	f.starts++
	if err != nil {
		f.t.Fatalf("install %d: %v", i, err)
	}
	f.clients[i] = c
}

func (f *realFleet) Refresh(i int, at time.Time, fail bool) (bool, int) {
	c := f.install(i)
	f.clock.Set(at)
	f.failing.Store(fail)
	err := c.Refresh(context.Background())
	f.failing.Store(false)
	f.refreshes++
	if fail {
		f.failed++
		if err == nil {
			f.t.Fatalf("install %d: a refresh drawn as failed succeeded", i)
		}
	}
	return err == nil, int(c.State().ManifestVersion)
}

func (f *realFleet) AppUpdate(i int, at time.Time, bundled int) int {
	f.install(i)
	f.clock.Set(at)
	f.start(i, bundled)
	f.updates++
	return int(f.clients[i].State().ManifestVersion)
}

func (f *realFleet) Reinstall(i int, at time.Time, bundled int) {
	f.install(i)
	f.clock.Set(at)
	f.gen[i]++ // a new DirStore: no cache, a new install id
	f.start(i, bundled)
	f.reinstalls++
}

// HourEnd reads the service's adoption of the next pin at the end of hour
// h: the fetches of the hour written (FlushAdoption), the window ending
// with the hour.
func (f *realFleet) HourEnd(h int) {
	f.clock.Set(Epoch.Add(time.Duration(h+1)*time.Hour - time.Second))
	ctx := context.Background()
	if err := f.srv.FlushAdoption(ctx); err != nil {
		f.t.Fatal(err)
	}
	rep, err := f.srv.Adoption(ctx, "dev.pinset.fleet")
	if err != nil {
		f.t.Fatal(err)
	}
	_, frac := rep.HostPinFraction(Host, keyPin(keyNext))
	f.measured = append(f.measured, frac)
	f.active = append(f.active, rep.ActiveClients)
}
