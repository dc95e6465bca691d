package server

import (
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/client"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/keyring"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/rotate"
)

// The end-to-end rotation of a real server's key (issue "ACME issuance
// and deployment", what it must show): the rotation-target environment
// (targetEnv: nginx on loopback serving key 1 under the manifest {key 1,
// key 2}, a key ring, Pebble) with the service on a loopback listener and
// a population of real SDK clients requesting through nginx all along.

// population is installs of the app: SDK clients (package client), each
// with its own store, requesting https://acmeHost/ through nginx until
// halted.
type population struct {
	t    testing.TB
	apps []*client.Client

	stop    chan struct{}
	wg      sync.WaitGroup
	halted  bool
	started bool

	requests, pinFailures atomic.Int64
	mu                    sync.Mutex
	errs                  []error
}

// newPopulation makes n installs of the app shipping te's root and its
// current manifest, fetching from the service at url; install i connects
// to nginx at 127.0.0.1 or 127.0.0.2 (i odd).
func (te *targetEnv) newPopulation(t testing.TB, n int, url string) *population {
	p := &population{t: t, stop: make(chan struct{})}
	root, bundle, dir := te.repo.Root(), te.repo.Manifest(), t.TempDir()
	for i := range n {
		addr := net.JoinHostPort(fmt.Sprintf("127.0.0.%d", 1+i%2), strconv.Itoa(te.port))
		c, err := client.New(client.Config{
			BundledRoot: root, BundledManifest: bundle, ServiceURL: url,
			Store: client.NewDirStore(filepath.Join(dir, strconv.Itoa(i))),
			TLS:   &tls.Config{RootCAs: te.opts.RootCAs},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
			Now: te.clock.Now, Rand: pki.NewDeterministicRand("install " + strconv.Itoa(i)),
			ReportURL: url + "/v1/apps/shop/reports",
			OnEvent: func(e client.Event) {
				if e.Kind == client.EventPinFailure {
					p.pinFailures.Add(1)
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		p.apps = append(p.apps, c)
	}
	t.Cleanup(p.halt)
	return p
}

func (p *population) fail(err error) {
	p.mu.Lock()
	p.errs = append(p.errs, err)
	p.mu.Unlock()
}

// run starts every install requesting, one request every 20 ms each.
func (p *population) run(host string, port int) {
	p.started = true
	u := "https://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/"
	for i, c := range p.apps {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			hc := c.HTTPClient()
			for {
				select {
				case <-p.stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				p.requests.Add(1)
				res, err := hc.Get(u)
				if err != nil {
					p.fail(fmt.Errorf("install %d: %w", i, err))
					continue
				}
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					p.fail(fmt.Errorf("install %d: %s", i, res.Status))
				}
			}
		}()
	}
}

// halt stops the requests and sends the queued pin-failure reports.
func (p *population) halt() {
	if p.halted || !p.started {
		return
	}
	p.halted = true
	close(p.stop)
	p.wg.Wait()
	for _, c := range p.apps {
		if err := c.FlushReports(context.Background()); err != nil {
			p.fail(fmt.Errorf("sending reports: %w", err))
		}
	}
}

// refresh makes every install fetch its pins once (as at a launch).
func (p *population) refresh() {
	p.t.Helper()
	var wg sync.WaitGroup
	for i, c := range p.apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Refresh(context.Background()); err != nil {
				p.fail(fmt.Errorf("install %d refresh: %w", i, err))
			}
		}()
	}
	wg.Wait()
}

// check fails the test on any failed request or pin failure so far.
func (p *population) check(what string) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errs) > 0 || p.pinFailures.Load() > 0 {
		p.t.Fatalf("%s: %d failed requests or refreshes, %d pin failures, of %d requests; first: %v",
			what, len(p.errs), p.pinFailures.Load(), p.requests.Load(), errors.Join(p.errs[:min(3, len(p.errs))]...))
	}
}

// newKey makes a server key (P-256) named by seed and returns it with its pin.
func newKey(t testing.TB, seed string) (crypto.Signer, pin.Pin) {
	t.Helper()
	k := pki.Must(keyring.Generate(keyring.P256, pki.NewDeterministicRand(seed)))
	p, err := keyring.Pin(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, p
}

// expectRotated: the plan is done, both addresses of nginx serve live
// in a certificate from Pebble, and the current manifest pins acmeHost to exactly {live, following}.
func (te *targetEnv) expectRotated(t testing.TB, st *PlanStatus, live, following pin.Pin, what string) {
	t.Helper()
	if st.State != rotate.Done {
		t.Fatalf("%s: plan %s (%s), want done", what, st.State, st.BlockedBy)
	}
	allServe(t, served(t, te.opts, te.port), live, "after "+what)
	// The certificate nginx serves is Pebble's.
	rep, err := check.Run(context.Background(), nil, []check.Target{{Host: acmeHost, Port: te.port}}, te.opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range rep.Hosts[0].Addresses {
		if len(a.Chain) == 0 || !strings.Contains(a.Chain[0].Issuer, "Pebble") {
			t.Fatalf("after %s %s serves a leaf not issued by Pebble: %+v", what, a.Address, a.Chain)
		}
	}
	_, m, err := te.srv.currentManifest(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	if pins := hostPolicy(m, acmeHost).Pins; len(pins) != 2 || !pin.Contains(pins, live) || !pin.Contains(pins, following) {
		t.Fatalf("after %s the manifest pins %v, want {%s, %s}", what, pins, live, following)
	}
}

// rotation starts a plan moving acmeHost to next (its key in the ring),
// announcing following at the retirement, with minClients and a threshold
// of 0.95: with the install of newTargetEnv, which never fetches again,
// every install of a population of 20 must hold next.
func (te *targetEnv) rotation(t testing.TB, next, following pin.Pin, minClients int64) *PlanStatus {
	t.Helper()
	if err := te.srv.FlushAdoption(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := te.srv.StartRotation(context.Background(), "shop", StartRotation{Host: acmeHost, NextPin: next,
		FollowingPin: &following, MinClients: minClients, Threshold: 0.95, HoldDownSeconds: ptr(int64(0))})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (te *targetEnv) step(t testing.TB, id int64) *PlanStatus {
	t.Helper()
	te.clock.Add(time.Minute)
	if err := te.srv.FlushAdoption(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := te.srv.StepRotation(context.Background(), id, false)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestRotationEndToEndNginxPebble: 20 real SDK clients (distinct stores)
// request through a real nginx every 20 ms each, all along, while the
// service rotates its key twice:
//
//  1. key 1 live under {key 1, key 2}: the plan moves to key 2 and
//     announces key 3. Adoption passes (every install holds key 2), and
//     the switch gets Pebble's certificate for key 2 — but a forced fault
//     makes nginx load a certificate for the wrong key (key 1's files
//     again): the verification inside deploy.Deploy catches it, restores
//     the previous files and the plan stays in switching. The next step
//     switches for real, verifies and retires key 1: {key 2, key 3}.
//  2. key 2 live: the plan moves to key 3 and announces key 4. It waits in
//     adopting while the installs hold the old manifest, moves on once they
//     fetched {key 2, key 3}, switches (Pebble, nginx), verifies, retires:
//     {key 3, key 4}.
//
// No client request fails, no pin failure happens and the service stores
// no pin-failure report across both rotations.
func TestRotationEndToEndNginxPebble(t *testing.T) {
	te := newTargetEnv(t, false)
	ctx := context.Background()
	hs := httptest.NewServer(te.srv)
	t.Cleanup(hs.Close)
	const installs = 20
	pop := te.newPopulation(t, installs, hs.URL)
	pop.refresh() // each install reports the bundled manifest {key 1, key 2}
	pop.run(acmeHost, te.port)
	// The installs and the one of newTargetEnv.
	minClients := int64(installs + 1)
	key1, key2, key3 := te.key1.Pin(), te.key2.Pin(), te.key3.Pin()

	// Rotation 1, with the forced fault at its first switch.
	te.injectFault(t, te.key1.ChainPEM(), te.key1.KeyPEM())
	st := te.rotation(t, key2, key3, minClients)
	if st.State != rotate.Switching {
		t.Fatalf("with the fault the plan is %s (%s), want switching", st.State, st.BlockedBy)
	}
	audit, err := te.st.PlanAudit(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	why := audit[len(audit)-1].Why
	if !strings.HasPrefix(why, "failed: ") || !strings.Contains(why, "serves key "+key1.String()) || !strings.Contains(why, "restored") {
		t.Fatalf("audit of the faulty deploy: %s", why)
	}
	allServe(t, served(t, te.opts, te.port), key1, "after the faulty deploy")
	pop.check("rotation 1, after the fault")
	te.expectRotated(t, te.step(t, st.ID), key2, key3, "rotation 1")
	pop.check("rotation 1")

	// Rotation 2: key 3 goes live, key 4 is announced.
	if _, err := te.ring.Add(te.key3.Key); err != nil {
		t.Fatal(err)
	}
	_, key4 := newKey(t, "acme key 4")
	st = te.rotation(t, key3, key4, minClients)
	if st.State != rotate.Adopting || !strings.Contains(st.BlockedBy, "adoption") {
		t.Fatalf("rotation 2 before the installs refreshed: %s (%s), want adopting", st.State, st.BlockedBy)
	}
	pop.refresh() // fetches {key 2, key 3}
	st = te.step(t, st.ID)
	if st.State != rotate.Adopting {
		t.Fatalf("rotation 2: %s (%s), want adopting until the installs report the new manifest", st.State, st.BlockedBy)
	}
	pop.refresh() // reports holding it
	te.expectRotated(t, te.step(t, st.ID), key3, key4, "rotation 2")
	pop.refresh()
	time.Sleep(200 * time.Millisecond) // requests under the new manifest
	pop.halt()
	pop.check("both rotations")
	reports, err := te.st.ReportEvents(ctx, "shop", time.Unix(0, 0), te.clock.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 0 {
		t.Fatalf("pin-failure reports stored: %v", reports)
	}
	if pop.requests.Load() < 500 {
		t.Fatalf("only %d requests during both rotations", pop.requests.Load())
	}
	t.Logf("%d installs, %d pinned requests through nginx during two rotations, none failed; no pin-failure report", installs, pop.requests.Load())
}

// BenchmarkRotationNginxPebble is the wall time of one full rotation of a
// real server's key on loopback, with the injected clock (hold-down 0, one
// install already holding the next pin): from pinset rotate start to done,
// that is the announcement (already published), the adoption check, the
// next key from the ring, Pebble's certificate for it (HTTP-01 always
// valid, nonce rejection on), the files written, nginx reloaded,
// deploy.Deploy's verification of both addresses, the plan's own
// verification through check, and the retiring manifest signed and
// published through the publish gate (which probes nginx). Each iteration
// rotates the live key to the next one and announces a new key, as a
// fleet on a schedule would; the install's telemetry is sent outside the
// timing.
//
// The baseline, alternated with it in the same run: the switch alone
// (targetSwitch: the ring, Pebble, the files, the reload and deploy.Deploy's
// verification) deploying the live key again, as a renewal does.
//
//	go test ./server -run XXX -bench RotationNginxPebble -benchtime 10x
func BenchmarkRotationNginxPebble(b *testing.B) {
	te := newTargetEnv(b, false)
	ctx := context.Background()
	tg := &te.srv.cfg.Rotation.Targets[0]
	next, following := te.key2.Pin(), te.key3.Pin()
	followingKey := crypto.Signer(te.key3.Key)
	var rotation, switchOnly time.Duration
	b.StopTimer()
	for i := range b.N {
		if i > 0 { // the key announced by the previous rotation goes live
			if _, err := te.ring.Add(followingKey); err != nil {
				b.Fatal(err)
			}
			next = following
			followingKey, following = newKey(b, fmt.Sprintf("bench key %d", i))
			cur, err := te.st.Manifest(ctx, "shop")
			if err != nil {
				b.Fatal(err)
			}
			te.holdCurrent(b, uint64(cur.Version))
		}
		te.clock.Add(time.Minute)
		start := time.Now()
		st := te.rotation(b, next, following, 1)
		rotation += time.Since(start)
		te.expectRotated(b, st, next, following, fmt.Sprintf("rotation %d", i+1))

		start = time.Now()
		if err := te.srv.targetSwitch(ctx, tg, next, next); err != nil {
			b.Fatal(err)
		}
		switchOnly += time.Since(start)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(rotation.Seconds()/float64(b.N), "s/rotation")
	b.ReportMetric(switchOnly.Seconds()/float64(b.N), "s/switch-only")
}
