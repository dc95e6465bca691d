package demo

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/client"
	"pinset.dev/pinset/enforce"
	"pinset.dev/pinset/internal/pki"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/probe"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/trust"
)

// step is one step of the story. run returns what was observed and whether
// it is what was expected; an error means the step could not finish.
type step struct {
	title, intro, expected string
	run                    func(d *world, ctx context.Context) (observed string, ok bool, err error)
}

var steps = []step{
	{
		title: "Root keys, root v1",
		intro: `An app trusts one root document: it lists the keys allowed to sign roots (three
offline "root" keys, any two of which must sign) and the key that signs pin
manifests (the "pins" key).`,
		expected: "2 of 3 signed: valid; 1 of 3: refused",
		run:      (*world).stepRoot,
	},
	{
		title: "Backend, held-back key",
		intro: `The app's backend, api.demo.test, serves HTTPS with a certificate from a demo CA.
A second key is made now and kept off the server: pinning it in advance is
what will let the backend rotate later without breaking any app.`,
		expected: "serves key 1, verified",
		run:      (*world).stepBackend,
	},
	{
		title: "Pin service, publish v1",
		intro: `Manifest v1 pins the live key and the held-back key, signed by the pins key. The
pin service starts (SQLite, publish gate on) and root v1 and manifest v1 are
uploaded through its admin API, as 'pinset publish' does.`,
		expected: "published, served",
		run:      (*world).stepPublish,
	},
	{
		title: "Pinned client calls",
		intro: `An app built with the client SDK ships root v1 and manifest v1 inside it, and
calls https://api.demo.test.`,
		expected: "accepted",
		run:      (*world).stepClient,
	},
	{
		title: "Interceptor",
		intro: `The network now sends api.demo.test to an interceptor. Its certificate comes from
an inspection CA that the device trusts (as on many managed devices), so
ordinary TLS would accept it; but its key is not pinned.`,
		expected: "refused, reported",
		run:      (*world).stepIntercept,
	},
	{
		title: "Rotation, manifest v2",
		intro: `The backend rotates to the held-back key. Manifest v2 pins that key plus a new
held-back key. The publish gate probes the live server before accepting it
(and refuses a manifest that forgets the live key). The running client
refreshes and keeps working, without a restart.`,
		expected: "gate: bad 409, v2 201; client v2, accepted",
		run:      (*world).stepRotate,
	},
	{
		title: "Pin service down",
		intro: `The pin service stops. Pinning must never depend on it being up: the client
keeps the last pins it verified, and a client started afresh loads them from
its cache directory.`,
		expected: "refresh fails; v2 kept, accepted",
		run:      (*world).stepServiceDown,
	},
	{
		title: "Manifest v1 replayed",
		intro: `A hostile endpoint takes over the pin service's address and serves the old
manifest v1, validly signed, hoping to bring back pins it can defeat.`,
		expected: "refused (rollback); v2 kept",
		run:      (*world).stepReplay,
	},
}

// Step 1.
func (d *world) stepRoot(ctx context.Context) (string, bool, error) {
	var ids []string
	var keys []*trust.Key
	for i, name := range []string{"root-a", "root-b", "root-c"} {
		s, err := trust.GenerateKey(trust.ECDSAP256SHA256, d.rand)
		if err != nil {
			return "", false, err
		}
		if err := d.writeSigner(name, s); err != nil {
			return "", false, err
		}
		d.rootKeys[i] = s
		ids = append(ids, s.Key.ID)
		keys = append(keys, s.Key)
	}
	pk, err := trust.GenerateKey(trust.ECDSAP256SHA256, d.rand)
	if err != nil {
		return "", false, err
	}
	if err := d.writeSigner("pins", pk); err != nil {
		return "", false, err
	}
	d.pinsKey = pk
	d.say("made root keys A, B, C and the pins key (ECDSA P-256): root-a.key ... pins.key, mode 0600")

	root := &trust.Root{
		AppID:    appID,
		Version:  1,
		Expires:  d.now().Add(365 * 24 * time.Hour).UTC().Truncate(time.Second),
		Keys:     append(keys, pk.Key),
		RootRole: trust.Role{KeyIDs: ids, Threshold: 2},
		PinsRole: trust.Role{KeyIDs: []string{pk.Key.ID}, Threshold: 1},
	}
	env, err := root.Envelope()
	if err != nil {
		return "", false, err
	}
	if _, err := env.Sign(d.rootKeys[0], d.rand); err != nil {
		return "", false, err
	}
	oneSig, err := env.Marshal()
	if err != nil {
		return "", false, err
	}
	if _, err := env.Sign(d.rootKeys[1], d.rand); err != nil {
		return "", false, err
	}
	if d.root, err = env.Marshal(); err != nil {
		return "", false, err
	}
	if err := d.write("root.json", d.root, 0o644); err != nil {
		return "", false, err
	}
	d.say("root v1 for app %s: root role A, B, C with threshold 2; pins role: the pins key", appID)
	d.say("signed by A, then by B (each signer could sit on a separate machine): root.json")

	// Verify both versions as an app would when it starts.
	st, errTwo := trust.NewState(d.root, nil)
	valid := 0
	if errTwo == nil {
		valid, errTwo = st.Root().VerifyRole(trust.RoleRoot, env)
	}
	_, errOne := trust.NewState(oneSig, nil)
	if errTwo != nil {
		d.say("root v1 with two signatures does not verify: %v", errTwo)
	} else {
		d.say("root v1 verifies: %d of 3 root keys signed, threshold 2", valid)
	}
	d.say("the same root signed by A alone: %v", errOr(errOne, "accepted"))
	ok := errTwo == nil && valid == 2 && errors.Is(errOne, trust.ErrThreshold)
	obs := fmt.Sprintf("%d of 3: valid; 1 of 3: %s", valid, verdictOf(errOne, trust.ErrThreshold, "threshold not met"))
	if errTwo != nil {
		obs = "root v1 refused: " + errTwo.Error()
	}
	return obs, ok, nil
}

// Step 2.
func (d *world) stepBackend(ctx context.Context) (string, bool, error) {
	var err error
	if d.demoCA, err = pki.NewRoot(pki.Template{CommonName: "pinset demo CA", Now: d.now, Rand: d.rand}); err != nil {
		return "", false, err
	}
	if d.inspectionCA, err = pki.NewRoot(pki.Template{CommonName: "Corporate TLS Inspection CA", Now: d.now, Rand: d.rand}); err != nil {
		return "", false, err
	}
	d.roots = x509.NewCertPool()
	d.roots.AddCert(d.demoCA.Cert)
	if d.fault != "inspection-ca-untrusted" {
		d.roots.AddCert(d.inspectionCA.Cert)
	}
	if err := d.write("demo-ca.pem", d.demoCA.CertPEM(), 0o644); err != nil {
		return "", false, err
	}
	if err := d.write("inspection-ca.pem", d.inspectionCA.CertPEM(), 0o644); err != nil {
		return "", false, err
	}
	d.say("the client trusts two CAs: the demo CA, and an inspection CA (demo-ca.pem, inspection-ca.pem)")

	for i := 1; i <= 2; i++ {
		if _, err := d.newBackendKey(); err != nil {
			return "", false, err
		}
	}
	if err := d.issueBackend(1); err != nil {
		return "", false, err
	}
	d.backend, err = listen("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from the api.demo.test backend (key %d)\n", d.backendKey.Load())
	}), &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return d.backendCert.Load(), nil
		},
	})
	if err != nil {
		return "", false, err
	}
	d.port = d.backend.port
	name := net.JoinHostPort(host, fmt.Sprint(d.port))
	d.net = &network{name: name}
	d.net.set(d.backend.addr)
	if d.resolve, err = probe.ParseResolve([]string{fmt.Sprintf("%s:%d:127.0.0.1", host, d.port)}); err != nil {
		return "", false, err
	}
	d.say("backend listening on %s; the demo network routes %s there", d.backend.addr, name)
	d.say("key 1 is live: %s (backend-1.pem, backend-1.key)", short(d.backendPin(1)))
	d.say("key 2 is held back, on no server yet: %s (backend-2.key)", short(d.backendPin(2)))

	// Observe what the backend really serves, as `pinset pin --connect` would.
	res, err := probe.Probe(ctx, host, d.port, probe.Options{RootCAs: d.roots, Resolve: d.resolve, Timeout: probeTimeout, Now: d.now})
	if err != nil {
		return "", false, err
	}
	if len(res) != 1 || res[0].Problem() != nil || len(res[0].ServedChain) == 0 {
		return fmt.Sprintf("probe failed: %v", probeProblem(res)), false, nil
	}
	served := pin.FromCertificate(res[0].ServedChain[0])
	servedKey := slices.Index(d.backendPins(), served) + 1
	d.say("probe of %s: serves %s, chain verified: %v", res[0].Addr, short(served), res[0].Verified())
	ok := res[0].Verified() && servedKey == 1
	return fmt.Sprintf("serves key %d, %s", servedKey, map[bool]string{true: "verified", false: "NOT verified"}[res[0].Verified()]), ok, nil
}

// Step 3.
func (d *world) stepPublish(ctx context.Context) (string, bool, error) {
	v1, err := d.signManifest("pins-v1.json", 1, d.backendPin(1), d.backendPin(2))
	if err != nil {
		return "", false, err
	}
	d.say("manifest v1 pins %s with key 1 (live) and key 2 (held back): pins-v1.json", host)

	st, err := store.OpenSQLite(ctx, store.DefaultSQLitePath(d.dir+"/data"))
	if err != nil {
		return "", false, err
	}
	d.store = st
	// The publish gate as `pinset serve` wires it (check.ManifestGate), with
	// the client's CAs and the demo's resolve override; DefaultPort is the
	// backend's port, since the demo cannot listen on 443.
	d.gate = check.Options{RootCAs: d.roots, Timeout: probeTimeout, Resolve: d.resolve, DefaultPort: d.port, Now: d.now}
	srv, err := server.New(server.Config{Store: st, Now: d.now, PublishGate: check.ManifestGate(d.gate)})
	if err != nil {
		return "", false, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", false, err
	}
	d.serviceAddr = ln.Addr().String()
	d.serviceURL = "http://" + d.serviceAddr
	sctx, stop := context.WithCancel(context.Background())
	d.serviceStop, d.serviceDone = stop, make(chan error, 1)
	go func() { d.serviceDone <- srv.Serve(sctx, ln, nil) }()
	d.say("pin service listening on %s, SQLite in data/pinset.db, publish gate on", d.serviceURL)

	secret, hash, err := store.NewToken(d.rand)
	if err != nil {
		return "", false, err
	}
	if err := st.AddToken(ctx, "demo", hash, d.now()); err != nil {
		return "", false, err
	}
	d.token = secret
	d.say("admin token %q created (stored hashed; as 'pinset token new' does)", "demo")

	ra, err := d.publish(ctx, "root", d.root)
	if err != nil {
		return "", false, err
	}
	d.say("PUT /v1/admin/apps/%s/root: %s", appID, ra)
	ma, err := d.publish(ctx, "pins", v1)
	if err != nil {
		return "", false, err
	}
	d.say("PUT /v1/admin/apps/%s/pins: %s", appID, ma)
	code, served, err := d.get(ctx, "/v1/apps/"+appID+"/pins.json")
	if err != nil {
		return "", false, err
	}
	same := code == http.StatusOK && string(served) == string(v1)
	d.say("GET /v1/apps/%s/pins.json: HTTP %d, the exact bytes of manifest v1: %v", appID, code, same)
	ok := ra.Status == http.StatusCreated && ma.Status == http.StatusCreated && same
	return fmt.Sprintf("root %d, manifest %d, served: %v", ra.Status, ma.Status, same), ok, nil
}

// Step 4.
func (d *world) stepClient(ctx context.Context) (string, bool, error) {
	c, err := d.newClient(d.serviceURL)
	if err != nil {
		return "", false, err
	}
	d.client = c
	d.httpClient = d.httpFor(c)
	s := c.State()
	d.say("client enforces manifest v%d under root v%d (%s)", s.ManifestVersion, s.RootVersion, s.Source)
	body, err := d.call(ctx, d.httpClient)
	if err != nil {
		d.say("GET %s: %v", d.apiURL(), err)
		return "refused: " + err.Error(), false, nil
	}
	d.say("GET %s: %q", d.apiURL(), body)
	return fmt.Sprintf("accepted (key %d)", keyOf(body)), s.ManifestVersion == 1 && keyOf(body) == 1, nil
}

// Step 5.
func (d *world) stepIntercept(ctx context.Context) (string, bool, error) {
	k, err := pki.NewKey(pki.P256, d.rand)
	if err != nil {
		return "", false, err
	}
	leaf, err := d.inspectionCA.NewLeaf(pki.Template{Hosts: []string{host}, Key: k, Now: d.now, Rand: d.rand})
	if err != nil {
		return "", false, err
	}
	d.interceptPk = leaf.Pin()
	cert := leaf.TLSCertificate()
	d.interceptor, err = listen("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "intercepted")
	}), &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}})
	if err != nil {
		return "", false, err
	}
	defer d.net.set(d.backend.addr)
	d.net.set(d.interceptor.addr)
	d.say("interceptor on %s serves %s, issued by the inspection CA", d.interceptor.addr, short(d.interceptPk))

	// Ordinary TLS would accept it: the chain verifies against the client's CAs.
	ires, err := probe.ParseResolve([]string{fmt.Sprintf("%s:%d:127.0.0.1", host, d.interceptor.port)})
	if err != nil {
		return "", false, err
	}
	res, err := probe.Probe(ctx, host, d.interceptor.port, probe.Options{RootCAs: d.roots, Resolve: ires, Timeout: probeTimeout, Now: d.now})
	if err != nil {
		return "", false, err
	}
	verified := len(res) == 1 && res[0].Verified()
	d.say("without pins its chain verifies against the client's CAs: %v", verified)

	_, callErr := d.call(ctx, d.httpClient)
	refused := errors.Is(callErr, enforce.ErrPinMismatch)
	var f *enforce.Failure
	if errors.As(callErr, &f) {
		d.say("the client refused: %v", f)
	} else {
		d.say("GET %s: %v", d.apiURL(), errOr(callErr, "accepted"))
	}

	// The report travels in the background; wait for it (a few seconds at
	// most, and not at all when there was no pin failure to report), then
	// ask the service's admin API what it stored.
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := d.client.FlushReports(fctx); err != nil {
		d.say("reports not flushed: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	if !refused {
		deadline = time.Now()
	}
	var found *store.StoredReport
	var total int
	for {
		reps, n, err := d.reports(ctx)
		if err != nil {
			return "", false, err
		}
		total = n
		for i := range reps {
			if slices.Contains(reps[i].Report.PresentedPins(), d.interceptPk) {
				found = &reps[i]
			}
		}
		if found != nil || !time.Now().Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return "", false, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if found != nil {
		r := found.Report
		d.say("GET /v1/admin/apps/%s/reports?host=%s: %d report(s); host %s, platform %s, app %s, presented %s, expected %d pins",
			appID, host, total, r.Host, r.Platform, r.AppVersion, short(d.interceptPk), len(r.ExpectedPins))
	} else {
		d.say("GET /v1/admin/apps/%s/reports?host=%s: no report presenting the interceptor's key", appID, host)
	}
	obs := "accepted"
	switch {
	case refused:
		obs = "refused (pin mismatch)"
	case callErr != nil:
		obs = "failed otherwise: " + callErr.Error()
	}
	if found != nil {
		obs += ", reported"
	} else {
		obs += ", no report"
	}
	return obs, verified && refused && found != nil, nil
}

// reports asks the service's admin API for the reports about host.
func (d *world) reports(ctx context.Context) ([]store.StoredReport, int, error) {
	a, err := d.admin(ctx, http.MethodGet, "/v1/admin/apps/"+appID+"/reports?host="+url.QueryEscape(host), nil)
	if err != nil {
		return nil, 0, err
	}
	if a.Status != http.StatusOK {
		return nil, 0, fmt.Errorf("reports: HTTP %d %s", a.Status, a.Error)
	}
	var body struct {
		Reports []store.StoredReport `json:"reports"`
	}
	if err := json.Unmarshal(a.Body, &body); err != nil {
		return nil, 0, fmt.Errorf("reports: %w", err)
	}
	return body.Reports, len(body.Reports), nil
}

// Step 6.
func (d *world) stepRotate(ctx context.Context) (string, bool, error) {
	if err := d.issueBackend(2); err != nil {
		return "", false, err
	}
	d.say("the backend now serves key 2, the held-back key: %s (backend-2.pem)", short(d.backendPin(2)))
	body, err := d.call(ctx, d.httpClient)
	d.say("the client, still on manifest v1, calls the backend: %s", errOr(err, fmt.Sprintf("accepted, %q (key 2 was pinned in advance)", body)))
	if _, err := d.newBackendKey(); err != nil {
		return "", false, err
	}
	d.say("key 3 is made and held back: %s (backend-3.key)", short(d.backendPin(3)))

	// A careless manifest: the old key and the new backup, not the live key.
	bad, err := d.signManifest("pins-v2-refused.json", 2, d.backendPin(1), d.backendPin(3))
	if err != nil {
		return "", false, err
	}
	ba, err := d.publish(ctx, "pins", bad)
	if err != nil {
		return "", false, err
	}
	badRefused := ba.Status == http.StatusConflict && strings.Contains(ba.Error, d.backend.addr)
	d.say("PUT a manifest pinning keys 1 and 3 (forgetting live key 2): %s", ba)

	v2, err := d.signManifest("pins-v2.json", 2, d.backendPin(2), d.backendPin(3))
	if err != nil {
		return "", false, err
	}
	m, err := trust.DecodeManifestUnverified(v2)
	if err != nil {
		return "", false, err
	}
	// What the gate sees, for the narration: the check it runs, with the
	// service's options.
	rep, gateErr := check.Gate(ctx, m.Hosts, d.gate)
	if rep != nil {
		d.say("publish gate on manifest v2 (keys 2 and 3): %s", rep.SummaryLine())
	}
	gateOK := gateErr == nil && rep != nil && rep.Summary.Accepted == 1 && !rep.Incomplete()
	ga, err := d.publish(ctx, "pins", v2)
	if err != nil {
		return "", false, err
	}
	d.say("PUT manifest v2: %s", ga)

	before := d.client.State().ManifestVersion
	rerr := d.client.Refresh(ctx)
	s := d.client.State()
	d.say("client.Refresh: %s; manifest v%d -> v%d (%s)", errOr(rerr, "ok"), before, s.ManifestVersion, s.Source)
	body, err = d.call(ctx, d.httpClient)
	d.say("GET %s: %s", d.apiURL(), errOr(err, fmt.Sprintf("%q", body)))

	ok := badRefused && gateOK && ga.Status == http.StatusCreated && rerr == nil && s.ManifestVersion == 2 && err == nil && keyOf(body) == 2
	obs := fmt.Sprintf("gate: bad %d, v2 %d (%s); client v%d, %s",
		ba.Status, ga.Status, gateWord(gateOK), s.ManifestVersion, acceptedWord(err))
	return obs, ok, nil
}

// Step 7.
func (d *world) stepServiceDown(ctx context.Context) (string, bool, error) {
	if d.fault != "service-stays-up" {
		d.stopService()
	}
	d.say("pin service stopped (%s no longer answers)", d.serviceURL)
	rerr := d.client.Refresh(ctx)
	s := d.client.State()
	d.say("client.Refresh: %s", errOr(rerr, "ok (unexpected)"))
	body, err := d.call(ctx, d.httpClient)
	d.say("the running client, on manifest v%d: %s", s.ManifestVersion, errOr(err, fmt.Sprintf("%q", body)))

	fresh, ferr := d.newClient(d.serviceURL)
	if ferr != nil {
		return "", false, ferr
	}
	d.others = append(d.others, fresh)
	fs := fresh.State()
	fbody, ferr := d.call(ctx, d.httpFor(fresh))
	d.say("a fresh client (bundled v1, cache in client-cache/) starts on manifest v%d from %s: %s",
		fs.ManifestVersion, fs.Source, errOr(ferr, fmt.Sprintf("%q", fbody)))
	ok := rerr != nil && s.ManifestVersion == 2 && err == nil && fs.ManifestVersion == 2 && fs.Source == "cache" && ferr == nil
	obs := fmt.Sprintf("refresh %s; v%d %s; fresh client: v%d (%s), %s",
		failedWord(rerr), s.ManifestVersion, acceptedWord(err), fs.ManifestVersion, fs.Source, acceptedWord(ferr))
	return obs, ok, nil
}

// Step 8.
func (d *world) stepReplay(ctx context.Context) (string, bool, error) {
	v1 := d.manifests["pins-v1.json"]
	if d.fault == "replay-current" {
		v1 = d.manifests["pins-v2.json"]
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/apps/"+appID+"/pins.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(v1)
	})
	// Take over the service's address, so that the running client's own
	// update path reaches the hostile endpoint.
	target := d.client
	var err error
	d.hostile, err = listen(d.serviceAddr, h, nil)
	if err != nil {
		// The port was taken meanwhile: stand up the endpoint elsewhere and
		// point a client started from the same cache at it.
		if d.hostile, err = listen("127.0.0.1:0", h, nil); err != nil {
			return "", false, err
		}
		if target, err = d.newClient("http://" + d.hostile.addr); err != nil {
			return "", false, err
		}
		d.others = append(d.others, target)
		d.say("(the service's address was taken; a client from the same cache is used)")
	}
	d.say("hostile endpoint on %s serves manifest v1 at /v1/apps/%s/pins.json", d.hostile.addr, appID)
	rerr := target.Refresh(ctx)
	s := target.State()
	rollback := errors.Is(rerr, trust.ErrRollback)
	d.say("client.Refresh: %s", errOr(rerr, "ok"))
	body, err := d.call(ctx, d.httpFor(target))
	d.say("the client stays on manifest v%d and calls the backend: %s", s.ManifestVersion, errOr(err, fmt.Sprintf("%q", body)))
	obs := "no error"
	switch {
	case rollback:
		obs = "refused (rollback)"
	case rerr != nil:
		obs = "refused, but not as a rollback: " + rerr.Error()
	}
	obs += fmt.Sprintf("; v%d kept, %s", s.ManifestVersion, acceptedWord(err))
	return obs, rollback && s.ManifestVersion == 2 && err == nil, nil
}

// Helpers of the steps.

// probeTimeout bounds each TLS connection of the probes and the publish
// gate. Loopback handshakes take milliseconds; the margin is for loaded CI
// machines, where a gate probe that timed out would let any manifest
// through (the gate judges manifests, not the network).
const probeTimeout = 10 * time.Second

// newBackendKey makes the next backend key and writes it (0600).
func (d *world) newBackendKey() (crypto.Signer, error) {
	k, err := pki.NewKey(pki.P256, d.rand)
	if err != nil {
		return nil, err
	}
	d.backendKeys = append(d.backendKeys, k)
	return k, d.writeTLSKey(fmt.Sprintf("backend-%d", len(d.backendKeys)), k)
}

// issueBackend issues a demo-CA certificate for backend key n and makes
// the backend serve it from its next handshake on.
func (d *world) issueBackend(n int) error {
	leaf, err := d.demoCA.NewLeaf(pki.Template{Hosts: []string{host}, Key: d.backendKeys[n-1], Now: d.now, Rand: d.rand})
	if err != nil {
		return err
	}
	if err := d.write(fmt.Sprintf("backend-%d.pem", n), leaf.ChainPEM(), 0o644); err != nil {
		return err
	}
	cert := leaf.TLSCertificate()
	d.backendCert.Store(&cert)
	d.backendKey.Store(int32(n))
	return nil
}

// backendPin returns the pin of backend key n (1-based).
func (d *world) backendPin(n int) pin.Pin {
	return d.backendPins()[n-1]
}

func (d *world) backendPins() []pin.Pin {
	var out []pin.Pin
	for _, k := range d.backendKeys {
		p, err := pin.FromPublicKey(k.Public())
		if err != nil {
			panic(err) // pki makes only keys pin can hash
		}
		out = append(out, p)
	}
	return out
}

// signManifest writes and signs a manifest pinning host to pins.
func (d *world) signManifest(file string, version uint64, pins ...pin.Pin) ([]byte, error) {
	now := d.now().UTC().Truncate(time.Second)
	m := &trust.Manifest{
		AppID:       appID,
		Version:     version,
		RootVersion: 1,
		IssuedAt:    now,
		Expires:     now.Add(30 * 24 * time.Hour),
		Hosts:       []policy.Policy{{Pattern: host, Pins: pins}},
	}
	env, err := m.Envelope()
	if err != nil {
		return nil, err
	}
	if _, err := env.Sign(d.pinsKey, d.rand); err != nil {
		return nil, err
	}
	b, err := env.Marshal()
	if err != nil {
		return nil, err
	}
	d.manifests[file] = b
	return b, d.write(file, b, 0o644)
}

func probeProblem(res []probe.Result) error {
	if len(res) == 0 {
		return errNotFound
	}
	return res[0].Problem()
}

// errOr returns err's text, or ok when err is nil.
func errOr(err error, ok string) string {
	if err != nil {
		return err.Error()
	}
	return ok
}

// verdictOf says whether err is the expected refusal.
func verdictOf(err, want error, word string) string {
	switch {
	case err == nil:
		return "accepted"
	case errors.Is(err, want):
		return word
	default:
		return "refused otherwise"
	}
}

func acceptedWord(err error) string {
	if err != nil {
		if errors.Is(err, enforce.ErrPinMismatch) {
			return "refused (pin mismatch)"
		}
		return "failed"
	}
	return "accepted"
}

func failedWord(err error) string {
	if err != nil {
		return "failed"
	}
	return "succeeded"
}

func gateWord(ok bool) string {
	if ok {
		return "live check passed"
	}
	return "live check did not pass"
}

// keyOf reads which backend key answered from the backend's greeting
// ("... (key 2)"); 0 when it is not the backend.
func keyOf(body string) int {
	_, after, ok := strings.Cut(body, "(key ")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSuffix(after, ")"))
	if err != nil {
		return 0
	}
	return n
}

// Compile-time check: the demo's clients are enforce sources, as the SDK
// promises.
var _ enforce.Source = (*client.Client)(nil)
