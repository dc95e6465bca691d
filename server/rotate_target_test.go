package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/certs"
	"pinset.dev/pinset/check"
	"pinset.dev/pinset/deploy"
	"pinset.dev/pinset/internal/nginxtest"
	"pinset.dev/pinset/internal/pebbletest"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/keyring"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/renew"
	"pinset.dev/pinset/rotate"
	"pinset.dev/pinset/telemetry"
	"pinset.dev/pinset/trust/trusttest"
)

const acmeHost = "api.pinset.test"

// startNginx runs a real nginx on loopback serving acmeHost on 127.0.0.1
// and 127.0.0.2 from certFile and keyFile (internal/nginxtest).
// It returns its port and its reload command.
func startNginx(t testing.TB, certFile, keyFile string) (int, []string) {
	t.Helper()
	n := nginxtest.Start(t, acmeHost, certFile, keyFile)
	return n.Port, n.Reload()
}

// served is the leaf pin each address of nginx serves.
func served(t testing.TB, opts check.Options, port int) []pin.Pin {
	t.Helper()
	n := &nginxtest.Server{Host: acmeHost, Port: port}
	return n.Served(t, opts)
}

func allServe(t testing.TB, got []pin.Pin, want pin.Pin, what string) {
	t.Helper()
	if len(got) != 2 || got[0] != want || got[1] != want {
		t.Fatalf("%s: nginx serves %v, want %s on both addresses", what, got, want)
	}
}

// targetEnv is a service whose app pins acmeHost {key 1, key 2}, a real
// nginx serving key 1, a key ring (key 1 live, key 2 next), a real Pebble
// and a rotation target for acmeHost; one install holds the manifest.
type targetEnv struct {
	*env
	key1, key2, key3, other *pki.Leaf
	ring                    *keyring.Ring
	certFile                string
	port                    int
	// fault, while it exists, makes the next reload first copy the chain
	// and key files it names over the server's files (then it is
	// removed): the deploy's files are not what the server loads
	// (injectFault).
	fault string
	opts  check.Options
	peb   *pebbletest.Pebble
}

// injectFault makes the next reload load chainPEM and keyPEM instead of
// what the deploy wrote.
func (te *targetEnv) injectFault(t testing.TB, chainPEM, keyPEM []byte) {
	t.Helper()
	dir := t.TempDir()
	chain, key := filepath.Join(dir, "fault.chain.pem"), filepath.Join(dir, "fault.key")
	for f, b := range map[string][]byte{chain: chainPEM, key: keyPEM} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(te.fault, []byte(chain+" "+key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// newTargetEnv: extraAddr adds an address (127.0.0.3, where nothing
// listens) to the plan's verification but not to the target's, so the
// plan stays in verifying after a good switch.
func newTargetEnv(t testing.TB, extraAddr bool) *targetEnv {
	peb := pebbletest.Start(t, pebbletest.Options{AlwaysValid: true})
	ca := pki.Must(pki.NewRoot(pki.Template{}))
	inter := pki.Must(ca.NewIntermediate(pki.Template{}))
	gen := func(seed string) *pki.Leaf {
		k := pki.Must(keyring.Generate(keyring.P256, pki.NewDeterministicRand(seed)))
		return pki.Must(inter.NewLeaf(pki.Template{Hosts: []string{acmeHost}, Key: k}))
	}
	key1, key2, key3, other := gen("acme key 1"), gen("acme key 2"), gen("acme key 3"), gen("acme other key")

	// The key ring: key 1 live, key 2 next.
	ringDir := t.TempDir()
	ring, err := keyring.Create(ringDir, acmeHost)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []*pki.Leaf{key1, key2} {
		if _, err := ring.Add(l.Key); err != nil {
			t.Fatal(err)
		}
	}
	srvDir := t.TempDir()
	certFile, keyFile := filepath.Join(srvDir, "chain.pem"), filepath.Join(srvDir, "key.pem")
	os.WriteFile(certFile, key1.ChainPEM(), 0o600)
	os.WriteFile(keyFile, key1.KeyPEM(), 0o600)
	port, reload := startNginx(t, certFile, keyFile)
	fault := filepath.Join(srvDir, "fault")
	script := fmt.Sprintf(`if [ -e %[1]s ]; then read c k < %[1]s; rm %[1]s; cp "$c" %[2]s; cp "$k" %[3]s; fi; exec "$@"`, fault, certFile, keyFile)
	reload = append([]string{"sh", "-c", script, "reload"}, reload...)

	roots := peb.IssuerRoots(t).Clone()
	roots.AddCert(ca.Cert)
	resolve := map[string][]string{fmt.Sprintf("%s:%d", acmeHost, port): {"127.0.0.1", "127.0.0.2"}}
	planResolve := resolve
	if extraAddr {
		planResolve = map[string][]string{fmt.Sprintf("%s:%d", acmeHost, port): {"127.0.0.1", "127.0.0.2", "127.0.0.3"}}
	}
	accountKey, _, err := certs.LoadAccountKey(filepath.Join(t.TempDir(), "acme-account.key"), nil)
	if err != nil {
		t.Fatal(err)
	}

	repo := trusttest.New("shop", 21)
	repo.Now = time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	repo.RotatePinsKeys(2, 1)
	repo.Hosts = []policy.Policy{{Pattern: acmeHost, Pins: []pin.Pin{key1.Pin(), key2.Pin()}}}
	repo.PublishManifest(nil)
	var opts check.Options
	e := newEnv(t, func(c *Config) {
		opts = check.Options{RootCAs: roots, Resolve: resolve, DefaultPort: port, Timeout: 5 * time.Second, Now: c.Now}
		c.PublishGate = check.ManifestGate(opts)
		c.Rotation.Check = opts
		c.Rotation.Check.Resolve = planResolve
		c.Rotation.Signer = repo.PinsKeys[0]
		c.Rotation.Targets = []RotationTarget{{
			Host:    acmeHost,
			KeyRing: ringDir,
			Deploy: deploy.Target{Port: port, CertFile: certFile, KeyFile: keyFile, Reload: reload, RootCAs: roots,
				Resolve: resolve, Settle: 5 * time.Second, Interval: 100 * time.Millisecond},
			ACME: certs.Options{DirectoryURL: peb.DirectoryURL, HTTPClient: peb.HTTPClient, AccountKey: accountKey,
				AgreeTerms: true, Timeout: 2 * time.Minute, Logf: t.Logf},
			HTTP01Listen: "127.0.0.1:0", // Pebble does not validate here (AlwaysValid)
		}}
	})
	// The injected clock runs a minute ahead of the wall clock: Pebble's
	// certificates are valid from the moment they are issued, and the
	// verification reads this clock.
	e.clock.Set(time.Now().UTC().Add(time.Minute))
	e.repo = repo
	for _, root := range repo.Roots {
		e.mustPublish("root", root)
	}
	e.mustPublish("pins", repo.Manifest())
	allServe(t, served(t, opts, port), key1.Pin(), "before")

	te := &targetEnv{env: e, key1: key1, key2: key2, key3: key3, other: other, ring: ring, certFile: certFile, port: port, opts: opts, fault: fault, peb: peb}
	// One install holds the manifest pinning key 2: adoption is complete.
	te.holdCurrent(t, uint64(repo.ManifestVersion))
	return te
}

// holdCurrent: install 1 fetches the pins, saying it holds manifest
// version v; its sighting is written to the adoption tables. It fetches
// from 127.0.0.1, the network of the end-to-end test's population: alone
// on a network of its own, an install that never fetches again would weigh
// as much as the whole population in the per-network gate.
func (te *targetEnv) holdCurrent(t testing.TB, v uint64) {
	t.Helper()
	info := telemetry.Info{ID: fmt.Sprintf("%032x", 1), RootVersion: 2, ManifestVersion: v, SDK: "test/1"}
	if res := te.do("GET", "/v1/apps/shop/pins.json", nil, telemetry.Header, info.String(), "RemoteAddr", "127.0.0.1:1"); res.code != 200 {
		t.Fatalf("pins.json: %d", res.code)
	}
	if err := te.srv.FlushAdoption(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (te *targetEnv) start(t testing.TB) *PlanStatus {
	t.Helper()
	st, err := te.srv.StartRotation(context.Background(), "shop", StartRotation{Host: acmeHost, NextPin: te.key2.Pin(),
		FollowingPin: ptr(te.key3.Pin()), MinClients: 1, HoldDownSeconds: ptr(int64(0))})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestRotationTargetNginxPebble drives one plan through switching,
// verifying, retiring and done with the host's deploy target: a real
// nginx on loopback serves key 1 (under the manifest {key 1, key 2}); the
// switch takes key 2 from the key ring, gets a certificate for it from a
// real Pebble and deploys it with deploy.Deploy. Two forced faults come
// first, each leaving the plan in switching with the failure in its audit
// trail and nginx on key 1:
//   - the ring's file named by key 2's pin holds another key: the ring
//     (keyring.Ring.Key) refuses it before any certificate is asked for;
//   - the reload makes nginx load another key's files than the deploy
//     wrote: the verification catches the other key and the previous
//     files come back.
func TestRotationTargetNginxPebble(t *testing.T) {
	te := newTargetEnv(t, false)
	e, key1, key2, other, ring, certFile, port, opts := te.env, te.key1, te.key2, te.other, te.ring, te.certFile, te.port, te.opts
	ctx := context.Background()
	lastAudit := func(id int64) string {
		t.Helper()
		audit, err := e.st.PlanAudit(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		a := audit[len(audit)-1]
		if a.What != string(rotate.Deploy) || !strings.HasPrefix(a.Why, "failed: ") {
			t.Fatalf("last audit row %+v, want a failed deploy", a)
		}
		return a.Why
	}

	// Fault 1: the ring's file named by key 2's pin holds another key.
	next := ring.KeyPath(key2.Pin())
	good, _ := os.ReadFile(next)
	if err := os.WriteFile(next, other.KeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	st := te.start(t)
	if st.State != rotate.Switching {
		t.Fatalf("after the damaged ring the plan is %s (%s), want switching", st.State, st.BlockedBy)
	}
	if why := lastAudit(st.ID); !strings.Contains(why, "the ring is damaged") {
		t.Fatalf("audit of the damaged ring: %s", why)
	}
	if b, _ := os.ReadFile(certFile); string(b) != string(key1.ChainPEM()) {
		t.Fatal("the server's chain was touched")
	}
	allServe(t, served(t, opts, port), key1.Pin(), "after the damaged ring")
	if err := os.WriteFile(next, good, 0o600); err != nil {
		t.Fatal(err)
	}

	// Fault 2: the reload loads the other key's files.
	te.injectFault(t, other.ChainPEM(), other.KeyPEM())
	st, err := e.srv.StepRotation(ctx, st.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != rotate.Switching {
		t.Fatalf("after the faulty reload the plan is %s (%s), want switching", st.State, st.BlockedBy)
	}
	if why := lastAudit(st.ID); !strings.Contains(why, "serves key "+other.Pin().String()) || !strings.Contains(why, "restored") {
		t.Fatalf("audit of the faulty reload: %s", why)
	}
	allServe(t, served(t, opts, port), key1.Pin(), "after the faulty reload")
	if b, _ := os.ReadFile(certFile); string(b) != string(key1.ChainPEM()) {
		t.Fatal("key 1's chain not restored")
	}

	// Repaired: the next step switches, verifies, retires.
	e.clock.Add(time.Minute)
	st, err = e.srv.StepRotation(ctx, st.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	// nginx serves Pebble's certificate for key 2; the manifest {key 2, key 3}.
	te.expectRotated(t, st, key2.Pin(), te.key3.Pin(), "the switch")
	audit, _ := e.st.PlanAudit(ctx, st.ID)
	var path []string
	for _, a := range audit {
		path = append(path, a.What+":"+a.To)
		t.Logf("audit %s %s→%s: %s", a.What, a.From, a.To, a.Why)
	}
	for _, want := range []string{"deploy:switching", "step:verifying", "verify:verifying", "step:retiring", "step:done"} {
		if !strings.Contains(strings.Join(path, " "), want) {
			t.Errorf("audit %v lacks %s", path, want)
		}
	}
	// The switch kept key 1's files for a rollback.
	if b, err := os.ReadFile(filepath.Join(ring.Dir(), fmt.Sprintf(keptChain, key1.Pin().Format(pin.Hex)))); err != nil || string(b) != string(key1.ChainPEM()) {
		t.Fatalf("kept chain of key 1: %v", err)
	}
}

// TestRotationTargetAbortRollsBack: the switch deploys key 2, the plan's
// verification waits on an address the target does not cover, and an
// abort deploys the files the switch kept (key 1's chain and key) back
// through deploy.Deploy: nginx serves key 1 again and the plan is aborted.
func TestRotationTargetAbortRollsBack(t *testing.T) {
	te := newTargetEnv(t, true)
	st := te.start(t)
	if st.State != rotate.Verifying || !strings.Contains(st.BlockedBy, "127.0.0.3") {
		t.Fatalf("plan %s (%s), want verifying, waiting on 127.0.0.3", st.State, st.BlockedBy)
	}
	allServe(t, served(t, te.opts, te.port), te.key2.Pin(), "after the switch")
	st, err := te.srv.AbortRotation(context.Background(), st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != rotate.Aborted {
		t.Fatalf("plan %s (%s), want aborted", st.State, st.BlockedBy)
	}
	allServe(t, served(t, te.opts, te.port), te.key1.Pin(), "after the abort")
	if b, _ := os.ReadFile(te.certFile); string(b) != string(te.key1.ChainPEM()) {
		t.Fatal("key 1's chain not back on the server")
	}
	audit, _ := te.st.PlanAudit(context.Background(), st.ID)
	var rb bool
	for _, a := range audit {
		rb = rb || a.What == "rollback" && strings.Contains(a.Why, "returned to "+te.key1.Pin().String())
	}
	if !rb {
		t.Fatalf("no rollback row in the audit %+v", audit)
	}
}

func ptr[T any](v T) *T { return &v }

// TestRotationTargetAbortBeforeWrite: a switch that failed before it
// wrote anything (the ring's next-key file holds another key) kept no
// files; the abort checks that every address still serves key 1 and ends
// the plan.
func TestRotationTargetAbortBeforeWrite(t *testing.T) {
	te := newTargetEnv(t, false)
	if err := os.WriteFile(te.ring.KeyPath(te.key2.Pin()), te.other.KeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	st := te.start(t)
	if st.State != rotate.Switching {
		t.Fatalf("plan %s (%s), want switching", st.State, st.BlockedBy)
	}
	st, err := te.srv.AbortRotation(context.Background(), st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != rotate.Aborted {
		t.Fatalf("plan %s (%s), want aborted", st.State, st.BlockedBy)
	}
	allServe(t, served(t, te.opts, te.port), te.key1.Pin(), "after the abort")
}

// TestRotationTargetSwitchUsesCertificateAhead: the ACME schedule
// (package renew) gets the next key's certificate into the key ring before
// the plan starts; with the CA then down, the switch still deploys key 2
// with exactly that certificate: it needs no issuance. The switch waits
// for the target's lock (renew.Target.Lock) before it writes.
func TestRotationTargetSwitchUsesCertificateAhead(t *testing.T) {
	te := newTargetEnv(t, false)
	sched, err := renew.New(renew.Config{Targets: te.srv.cfg.Rotation.Targets, Now: te.clock.Now, Rand: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	if err := sched.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	ahead, err := te.ring.Chain(te.key2.Pin())
	if err != nil {
		t.Fatalf("the schedule kept no certificate for the next key: %v", err)
	}
	allServe(t, served(t, te.opts, te.port), te.key1.Pin(), "after the schedule's tick")
	te.peb.Stop()
	// While the target's lock is held (as the schedule holds it during a
	// renewal), the switch waits: it writes nothing.
	unlock := te.srv.cfg.Rotation.Targets[0].Lock()
	started := make(chan *PlanStatus, 1)
	go func() {
		st, err := te.srv.StartRotation(context.Background(), "shop", StartRotation{Host: acmeHost, NextPin: te.key2.Pin(),
			FollowingPin: ptr(te.key3.Pin()), MinClients: 1, HoldDownSeconds: ptr(int64(0))})
		if err != nil {
			t.Error(err)
		}
		started <- st
	}()
	time.Sleep(500 * time.Millisecond)
	if b, _ := os.ReadFile(te.certFile); string(b) != string(te.key1.ChainPEM()) || len(started) != 0 {
		t.Fatal("the switch went on while the target was locked")
	}
	unlock()
	st := <-started
	if st == nil {
		t.FailNow()
	}
	if st.State != rotate.Done {
		t.Fatalf("plan %s (%s), want done with the CA down", st.State, st.BlockedBy)
	}
	allServe(t, served(t, te.opts, te.port), te.key2.Pin(), "after the switch")
	if b, _ := os.ReadFile(te.certFile); string(b) != string(ahead) {
		t.Fatal("the server does not have the certificate issued ahead of the switch")
	}
}
