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
	"pinset.dev/pinset/rotate"
	"pinset.dev/pinset/telemetry"
	"pinset.dev/pinset/trust/trusttest"
)

const acmeHost = "api.pinset.test"

// startNginx runs a real nginx on loopback serving acmeHost on 127.0.0.1
// and 127.0.0.2 from certFile and keyFile (internal/nginxtest).
// It returns its port and its reload command.
func startNginx(t *testing.T, certFile, keyFile string) (int, []string) {
	t.Helper()
	n := nginxtest.Start(t, acmeHost, certFile, keyFile)
	return n.Port, n.Reload()
}

// served is the leaf pin each address of nginx serves.
func served(t *testing.T, opts check.Options, port int) []pin.Pin {
	t.Helper()
	n := &nginxtest.Server{Host: acmeHost, Port: port}
	return n.Served(t, opts)
}

func allServe(t *testing.T, got []pin.Pin, want pin.Pin, what string) {
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
	// fault, while it exists, makes the next reload first copy the other
	// key's chain and key over the server's files (then it is removed):
	// the deploy's files are not what the server loads.
	fault string
	opts  check.Options
}

// newTargetEnv: extraAddr adds an address (127.0.0.3, where nothing
// listens) to the plan's verification but not to the target's, so the
// plan stays in verifying after a good switch.
func newTargetEnv(t *testing.T, extraAddr bool) *targetEnv {
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
	fault, otherChain, otherKey := filepath.Join(srvDir, "fault"), filepath.Join(srvDir, "other.pem"), filepath.Join(srvDir, "other.key")
	os.WriteFile(otherChain, other.ChainPEM(), 0o600)
	os.WriteFile(otherKey, other.KeyPEM(), 0o600)
	script := fmt.Sprintf(`if [ -e %[1]s ]; then rm %[1]s; cp %[2]s %[4]s; cp %[3]s %[5]s; fi; exec "$@"`, fault, otherChain, otherKey, certFile, keyFile)
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

	// One install holds the manifest pinning key 2: adoption is complete.
	info := telemetry.Info{ID: fmt.Sprintf("%032x", 1), RootVersion: 2, ManifestVersion: repo.ManifestVersion, SDK: "test/1"}
	if res := e.do("GET", "/v1/apps/shop/pins.json", nil, telemetry.Header, info.String()); res.code != 200 {
		t.Fatalf("pins.json: %d", res.code)
	}
	if err := e.srv.FlushAdoption(context.Background()); err != nil {
		t.Fatal(err)
	}

	return &targetEnv{env: e, key1: key1, key2: key2, key3: key3, other: other, ring: ring, certFile: certFile, port: port, opts: opts, fault: fault}
}

func (te *targetEnv) start(t *testing.T) *PlanStatus {
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
	os.WriteFile(te.fault, nil, 0o600)
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
	if st.State != rotate.Done {
		t.Fatalf("plan %s (%s), want done", st.State, st.BlockedBy)
	}
	allServe(t, served(t, opts, port), key2.Pin(), "after the switch")
	// nginx serves Pebble's certificate for key 2.
	rep, err := check.Run(ctx, nil, []check.Target{{Host: acmeHost, Port: port}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if iss := rep.Hosts[0].Addresses[0].Chain[0].Issuer; !strings.Contains(iss, "Pebble") {
		t.Fatalf("leaf issuer %q, want Pebble's", iss)
	}
	if m := (&rotEnv{env: e}).manifest(); !pin.Contains(m.Hosts[0].Pins, key2.Pin()) || pin.Contains(m.Hosts[0].Pins, key1.Pin()) {
		t.Fatalf("retired manifest pins %v", m.Hosts[0].Pins)
	}
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
