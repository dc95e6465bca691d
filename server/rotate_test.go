package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/internal/checktest"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/rotate"
	"pinset.dev/pinset/telemetry"
	"pinset.dev/pinset/trust"
	"pinset.dev/pinset/trust/trusttest"
)

const rotHost = "api.rotate.test"

// rotEnv is a service whose app pins rotHost, served by a fleet of three
// loopback addresses presenting the "old" key.
type rotEnv struct {
	*env
	world *checktest.World
	fleet *checktest.Fleet
	opts  check.Options

	v0 uint64 // the manifest version before any plan

	mu         sync.Mutex
	deploys    []DeployRequest
	deploySkip int // an address the switch leaves on the old key (-1: none)
}

// newRotEnv: pinsThreshold 1 lets the service sign (its key is
// PinsKeys[0]); 2 makes plans await signatures. deploy adds a deploy hook
// that switches the fleet; mods change the service's configuration.
func newRotEnv(t *testing.T, pinsThreshold int, deploy bool, mods ...func(*Config)) *rotEnv {
	r := &rotEnv{world: checktest.NewWorld(t, rotHost), deploySkip: -1}
	r.fleet = checktest.NewFleet(t, rotHost, r.leaf("old"), r.leaf("old"), r.leaf("old"))
	r.opts = checktest.Options(r.world, r.fleet)
	repo := trusttest.New("shop", 11)
	repo.Now = checktest.Epoch.Add(time.Hour)
	repo.RotatePinsKeys(2, pinsThreshold)
	repo.Hosts = []policy.Policy{{Pattern: rotHost, Pins: []pin.Pin{r.world.Pin("old"), r.world.Pin("backup")}}}
	repo.PublishManifest(nil)
	r.env = newEnv(t, func(c *Config) {
		gate := r.opts
		c.PublishGate = check.ManifestGate(gate)
		c.Rotation.Check = r.opts
		c.Rotation.Signer = repo.PinsKeys[0]
		if deploy {
			c.Rotation.Deploy = func(ctx context.Context, d DeployRequest) error {
				r.mu.Lock()
				r.deploys = append(r.deploys, d)
				skip := r.deploySkip
				r.mu.Unlock()
				name := map[pin.Pin]string{r.world.Pin("old"): "old", r.world.Pin("next"): "next"}[d.Pin]
				for i := range r.fleet.Addrs {
					if i != skip || d.Action != "switch" {
						r.fleet.SetCert(i, r.leaf(name))
					}
				}
				return nil
			}
		}
		for _, m := range mods {
			m(c)
		}
	})
	r.repo = repo
	r.v0 = repo.ManifestVersion
	r.clock.Set(checktest.Epoch.Add(24 * time.Hour))
	r.opts.Now = r.clock.Now
	for _, root := range repo.Roots {
		r.mustPublish("root", root)
	}
	r.mustPublish("pins", repo.Manifest())
	return r
}

func (r *rotEnv) leaf(name string) tls.Certificate { return r.world.Leaf(name, 365*24*time.Hour) }

// installs makes n installs (ids from first) fetch the manifest,
// reporting they hold manifest version v.
func (r *rotEnv) installs(first, n int, v uint64) {
	for i := first; i < first+n; i++ {
		info := telemetry.Info{ID: fmt.Sprintf("%032x", i), RootVersion: 2, ManifestVersion: v, SDK: "test/1"}
		if res := r.do("GET", "/v1/apps/shop/pins.json", nil, telemetry.Header, info.String()); res.code != 200 {
			r.t.Fatalf("pins.json: %d", res.code)
		}
	}
	if err := r.srv.FlushAdoption(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rotEnv) status(id int64) PlanStatus {
	r.t.Helper()
	res := r.admin("GET", fmt.Sprintf("/v1/admin/rotations/%d", id), nil)
	if res.code != 200 {
		r.t.Fatalf("status: %d %s", res.code, res.body)
	}
	var st PlanStatus
	res.json(r.t, &st)
	return st
}

func (r *rotEnv) step(id int64) PlanStatus {
	r.t.Helper()
	if err := r.srv.StepRotations(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	return r.status(id)
}

func (r *rotEnv) expect(st PlanStatus, state rotate.State, blocked string) {
	r.t.Helper()
	if st.State != state || !strings.Contains(st.BlockedBy, blocked) || (blocked == "") != (st.BlockedBy == "") {
		r.t.Fatalf("plan %s (blocked by %q); want %s blocked by %q", st.State, st.BlockedBy, state, blocked)
	}
}

func (r *rotEnv) manifest() *trust.Manifest {
	// From the store: a GET of pins.json would count as an install.
	d, err := r.st.Manifest(context.Background(), "shop")
	if err != nil {
		r.t.Fatal(err)
	}
	m, err := trust.DecodeManifestUnverified(d.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return m
}

func (r *rotEnv) start(body string) PlanStatus {
	r.t.Helper()
	res := r.admin("POST", "/v1/admin/apps/shop/rotations", []byte(body))
	if res.code != 201 {
		r.t.Fatalf("start: %d %s", res.code, res.body)
	}
	var st PlanStatus
	res.json(r.t, &st)
	return st
}

// TestRotationPlanOnlineSigning walks a plan through every state with
// the service signing (pins threshold 1) and an operator confirming the
// switch: the announcement and the retirement are published through the
// publish gate, adoption, hold-down and min-clients hold the plan, the
// verification names the address that does not serve the next key, and
// every transition is audited with the token's name.
func TestRotationPlanOnlineSigning(t *testing.T) {
	r := newRotEnv(t, 1, false)
	next, old, backup := r.world.Pin("next"), r.world.Pin("old"), r.world.Pin("backup")
	st := r.start(fmt.Sprintf(`{"host":%q,"next_pin":%q,"old_pin":%q,"min_clients":10,"hold_down_seconds":86400}`, rotHost, next, old))
	r.expect(st, rotate.Adopting, "at least 10 active installs (0 seen)")
	if m := r.manifest(); m.Version != r.v0+1 || !pin.Contains(m.Hosts[0].Pins, next) || !pin.Contains(m.Hosts[0].Pins, old) {
		t.Fatalf("announcing manifest %+v", m)
	}
	// Nine installs hold the new manifest, one the old: 0.9 < 0.99, and
	// fewer than ten; the hold-down runs.
	r.installs(0, 9, r.v0+1)
	r.installs(9, 1, r.v0)
	st = r.step(st.ID)
	r.expect(st, rotate.Adopting, "adoption 0.99 of active installs holding the next pin (now 0.9: 9 of 10)")
	r.expect(st, rotate.Adopting, "the hold-down until")
	if st.Adoption != 0.9 || st.ActiveClients != 10 || st.Clients != 9 {
		t.Fatalf("status adoption %+v", st)
	}
	r.installs(9, 1, r.v0+1)
	st = r.step(st.ID)
	r.expect(st, rotate.Adopting, "the hold-down until")
	if strings.Contains(st.BlockedBy, "adoption") {
		t.Fatalf("adoption met but still blocking: %q", st.BlockedBy)
	}
	r.clock.Add(24 * time.Hour)
	r.installs(0, 10, r.v0+1) // still active in the window
	st = r.step(st.ID)
	r.expect(st, rotate.Ready, "pinset rotate advance")

	// The operator switches only one address, then confirms.
	r.fleet.SetCert(0, r.leaf("next"))
	res := r.admin("POST", fmt.Sprintf("/v1/admin/rotations/%d/advance", st.ID), nil)
	if res.code != 200 {
		t.Fatalf("advance: %d %s", res.code, res.body)
	}
	res.json(t, &st)
	r.expect(st, rotate.Verifying, "does not serve the next key yet")
	if !strings.Contains(st.BlockedBy, "127.0.0.3") || !strings.Contains(st.BlockedBy, "127.0.0.4") || strings.Contains(st.BlockedBy, "127.0.0.2") {
		t.Fatalf("verification names the wrong addresses: %q", st.BlockedBy)
	}
	r.fleet.SetCert(1, r.leaf("next"))
	r.fleet.SetCert(2, r.leaf("next"))
	st = r.step(st.ID)
	r.expect(st, rotate.Done, "")
	m := r.manifest()
	if m.Version != r.v0+2 || pin.Contains(m.Hosts[0].Pins, old) || !pin.Contains(m.Hosts[0].Pins, next) || !pin.Contains(m.Hosts[0].Pins, backup) {
		t.Fatalf("retiring manifest %+v", m.Hosts)
	}
	var hist struct{ Manifests []struct{ Source string } }
	r.admin("GET", "/v1/admin/apps/shop/manifests", nil).json(t, &hist)
	if hist.Manifests[0].Source != "rotate" || hist.Manifests[1].Source != "rotate" {
		t.Errorf("manifest sources %+v", hist.Manifests)
	}

	st = r.status(st.ID)
	var trail []string
	for _, a := range st.Audit {
		trail = append(trail, a.What+":"+a.From+">"+a.To)
		if a.Token == "" || a.Why == "" || a.At.IsZero() {
			t.Errorf("audit entry without who, why or when: %+v", a)
		}
	}
	want := "start:>new publish-announce:new>new step:new>announced step:announced>adopting step:adopting>ready " +
		"advance:ready>switching advance:switching>verifying verify:verifying>verifying verify:verifying>verifying step:verifying>retiring " +
		"publish-retire:retiring>retiring step:retiring>done"
	if got := strings.Join(trail, " "); got != want {
		t.Errorf("audit trail\n got %s\nwant %s", got, want)
	}
	if st.Audit[5].Token != tokenNameOf(t, r) {
		t.Errorf("advance audited as %q", st.Audit[5].Token)
	}
	// A finished plan cannot be aborted; a new one may start.
	if res := r.admin("POST", fmt.Sprintf("/v1/admin/rotations/%d/abort", st.ID), nil); res.code != 409 {
		t.Errorf("abort of a finished plan: %d", res.code)
	}
}

func tokenNameOf(t *testing.T, r *rotEnv) string {
	toks, err := r.st.Tokens(context.Background())
	if err != nil || len(toks) != 1 {
		t.Fatal(err)
	}
	return toks[0].Name
}

// TestRotationAwaitingSignatures: with the pins threshold at 2 the plan
// waits, the unsigned envelope is downloadable, and signing and
// publishing it (as pinset sign and pinset publish do) moves it on.
func TestRotationAwaitingSignatures(t *testing.T) {
	r := newRotEnv(t, 2, false)
	next := r.world.Pin("next")
	st := r.start(fmt.Sprintf(`{"host":%q,"next_pin":%q,"old_pin":%q,"min_clients":1}`, rotHost, next, r.world.Pin("old")))
	r.expect(st, rotate.AwaitingSignatures, "needs 2 signatures")
	if st.Awaiting != "announce" || st.Envelope == "" {
		t.Fatalf("status %+v", st)
	}
	if m := r.manifest(); m.Version != r.v0 {
		t.Fatalf("published without signatures: v%d", m.Version)
	}
	res := r.admin("GET", st.Envelope, nil)
	if res.code != 200 {
		t.Fatalf("envelope: %d", res.code)
	}
	env, err := trust.ParseEnvelope(res.body)
	if err != nil || len(env.Signatures) != 0 {
		t.Fatalf("envelope %v, %d signatures", err, len(env.Signatures))
	}
	for _, k := range r.repo.PinsKeys {
		env.Sign(k, r.repo.Rand())
	}
	b, _ := env.Marshal()
	r.mustPublish("pins", b)
	st = r.step(st.ID)
	r.expect(st, rotate.Adopting, "at least 1 active installs")
	if st.Envelope != "" {
		t.Errorf("envelope still offered: %q", st.Envelope)
	}
}

// TestRotationAbortAfterSwitch: with a deploy hook the switch needs no
// confirmation; an abort after it runs the hook with the old key, and
// every address serves the old key again.
func TestRotationAbortAfterSwitch(t *testing.T) {
	r := newRotEnv(t, 1, true)
	next, old := r.world.Pin("next"), r.world.Pin("old")
	r.deploySkip = 2 // a node the deploy misses: verification fails
	st := r.start(fmt.Sprintf(`{"host":%q,"next_pin":%q,"old_pin":%q,"min_clients":1,"hold_down_seconds":0}`, rotHost, next, old))
	r.installs(0, 1, r.v0+1)
	st = r.step(st.ID)
	r.expect(st, rotate.Verifying, "127.0.0.4:")
	if len(r.deploys) != 1 || r.deploys[0].Pin != next || r.deploys[0].Action != "switch" {
		t.Fatalf("deploys %+v", r.deploys)
	}
	res := r.admin("POST", fmt.Sprintf("/v1/admin/rotations/%d/abort", st.ID), nil)
	if res.code != 200 {
		t.Fatalf("abort: %d %s", res.code, res.body)
	}
	res.json(t, &st)
	r.expect(st, rotate.Aborted, "")
	if len(r.deploys) != 2 || r.deploys[1].Pin != old || r.deploys[1].Action != "rollback" {
		t.Fatalf("deploys %+v", r.deploys)
	}
	rep, err := check.Run(context.Background(), []policy.Policy{{Pattern: rotHost, Pins: []pin.Pin{old}}}, nil, r.opts)
	if err != nil || rep.Summary.Accepted != 3 {
		t.Fatalf("after the abort: %+v %v", rep.Summary, err)
	}
	// The old pin was never dropped.
	if m := r.manifest(); !pin.Contains(m.Hosts[0].Pins, old) {
		t.Fatal("old pin dropped by an aborted plan")
	}
	// A new plan may start for the host.
	r.deploySkip = -1
	st = r.start(fmt.Sprintf(`{"host":%q,"next_pin":%q,"old_pin":%q,"min_clients":1,"hold_down_seconds":0}`, rotHost, next, old))
	st = r.step(st.ID)
	r.expect(st, rotate.Done, "")
}

// TestRotationStartRefusals: what a start request is refused for.
func TestRotationStartRefusals(t *testing.T) {
	r := newRotEnv(t, 1, false)
	next, old := r.world.Pin("next"), r.world.Pin("old")
	for _, c := range []struct {
		body string
		code int
	}{
		{`{"host":"nope.test","next_pin":"` + next.String() + `"}`, 422},
		{`{"host":"` + rotHost + `","next_pin":"` + next.String() + `"}`, 422}, // two other pins: name the old one
		{`{"host":"` + rotHost + `","next_pin":"` + next.String() + `","old_pin":"` + next.String() + `"}`, 422},
		{`{"host":"` + rotHost + `","next_pin":"` + next.String() + `","old_pin":"` + old.String() + `","threshold":1.5}`, 400},
		{`{"host":"` + rotHost + `","next_pin":"` + next.String() + `","extra":1}`, 400},
		{`{"host":"` + rotHost + `"}`, 400},
		// One strict reader of request bodies (input.DecodeJSON): no key
		// twice, nothing after the object, no empty body.
		{`{"host":"nope.test","host":"` + rotHost + `","next_pin":"` + next.String() + `","old_pin":"` + old.String() + `"}`, 400},
		{`{"host":"` + rotHost + `","next_pin":"` + next.String() + `","old_pin":"` + old.String() + `"} {}`, 400},
		{``, 400},
	} {
		if res := r.admin("POST", "/v1/admin/apps/shop/rotations", []byte(c.body)); res.code != c.code {
			t.Errorf("%s: %d %s, want %d", c.body, res.code, res.body, c.code)
		}
	}
	r.start(`{"host":"` + rotHost + `","next_pin":"` + next.String() + `","old_pin":"` + old.String() + `"}`)
	if res := r.admin("POST", "/v1/admin/apps/shop/rotations", []byte(`{"host":"`+rotHost+`","next_pin":"`+next.String()+`","old_pin":"`+old.String()+`"}`)); res.code != 409 {
		t.Errorf("second plan for the host: %d", res.code)
	}
	if res := r.do("POST", "/v1/admin/apps/shop/rotations", nil); res.code != 401 {
		t.Errorf("without a token: %d", res.code)
	}
}

// TestRotationConcurrentSteps: the background steps racing with start,
// advance and abort requests never make those requests fail.
func TestRotationConcurrentSteps(t *testing.T) {
	r := newRotEnv(t, 1, false)
	next, old := r.world.Pin("next"), r.world.Pin("old")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				r.srv.StepRotations(context.Background())
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for i := range 20 {
		st := r.start(fmt.Sprintf(`{"host":%q,"next_pin":%q,"old_pin":%q,"min_clients":1000}`, rotHost, next, old))
		if res := r.admin("POST", fmt.Sprintf("/v1/admin/rotations/%d/advance", st.ID), nil); res.code != 200 {
			t.Fatalf("round %d: advance: %d %s", i, res.code, res.body)
		}
		if res := r.admin("POST", fmt.Sprintf("/v1/admin/rotations/%d/abort", st.ID), nil); res.code != 200 {
			t.Fatalf("round %d: abort: %d %s", i, res.code, res.body)
		}
	}
}

// TestRotationAdoptionHistory: the steps of an active plan store its
// next pin's adoption over time, at most one sample per SampleInterval
// (DefaultAdoptionSampleInterval here), and the plan's status shows them
// oldest first; a finished plan's steps add none.
func TestRotationAdoptionHistory(t *testing.T) {
	r := newRotEnv(t, 1, false)
	next, old := r.world.Pin("next"), r.world.Pin("old")
	start := r.clock.Now()
	st := r.start(fmt.Sprintf(`{"host":%q,"next_pin":%q,"old_pin":%q,"min_clients":10,"hold_down_seconds":3600}`, rotHost, next, old))
	r.installs(0, 4, r.v0+1)
	r.installs(4, 6, r.v0)
	r.step(st.ID) // within the interval of the first sample: none
	r.clock.Add(DefaultAdoptionSampleInterval)
	r.step(st.ID)
	r.clock.Add(DefaultAdoptionSampleInterval)
	r.installs(4, 6, r.v0+1)
	st = r.step(st.ID)
	type pt struct {
		at              time.Duration
		clients, active int64
	}
	var got []pt
	for _, a := range st.AdoptionHistory {
		got = append(got, pt{a.At.Sub(start), a.Clients, a.Active})
	}
	want := []pt{{0, 0, 0}, {DefaultAdoptionSampleInterval, 4, 10}, {2 * DefaultAdoptionSampleInterval, 10, 10}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("adoption history %v, want %v", got, want)
	}
	// Done: further steps store nothing.
	r.clock.Add(time.Hour)
	st = r.step(st.ID)
	r.expect(st, rotate.Ready, "pinset rotate advance")
	n := len(st.AdoptionHistory)
	r.srv.AbortRotation(context.Background(), st.ID)
	r.clock.Add(time.Hour)
	if _, err := r.srv.StepRotation(context.Background(), st.ID, false); err != nil {
		t.Fatal(err)
	}
	if st = r.status(st.ID); st.State != rotate.Aborted || len(st.AdoptionHistory) != n {
		t.Fatalf("a finished plan's step stored a sample: %s, %d samples, want %d", st.State, len(st.AdoptionHistory), n)
	}
}
