package check_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/internal/checktest"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/trust"
)

// TestServicePublishGate publishes through the pin service's admin API
// with the real gate: a manifest that omits the key one address serves is
// refused with 409 naming host, address and pin, the current manifest
// stays, and an explicit force publishes it.
func TestServicePublishGate(t *testing.T) {
	w, f := rotatedFleet(t)
	now := func() time.Time { return checktest.Epoch.Add(day) }
	g := newGateService(t, now, opts(w, f, now()))
	hs := g.hs
	put := func(path string, body []byte) (int, string) {
		t.Helper()
		code, _, raw := g.put(path, body)
		return code, raw
	}
	covering := []policy.Policy{{Pattern: host, Pins: []pin.Pin{w.Pin("live"), w.Pin("rotated"), w.Pin("backup")}}}
	omitting := []policy.Policy{{Pattern: host, Pins: []pin.Pin{w.Pin("live"), w.Pin("backup")}}}
	root, v1 := w.Documents(1, covering)
	_, v2 := w.Documents(2, omitting)
	app, err := trust.DecodeManifestUnverified(v1)
	if err != nil {
		t.Fatal(err)
	}
	base := "/v1/admin/apps/" + app.AppID
	if code, body := put(base+"/root", root); code != http.StatusCreated {
		t.Fatalf("root: %d %s", code, body)
	}
	if code, body := put(base+"/pins", v1); code != http.StatusCreated {
		t.Fatalf("covering manifest refused: %d %s", code, body)
	}
	code, body := put(base+"/pins", v2)
	if code != http.StatusConflict {
		t.Fatalf("omitting manifest: %d %s", code, body)
	}
	for _, want := range []string{host, f.Address(2), w.Pin("rotated").Format(pin.OkHttp)} {
		if !strings.Contains(body, want) && !strings.Contains(body, jsonEscape(want)) {
			t.Errorf("refusal does not name %q: %s", want, body)
		}
	}
	resp, err := hs.Client().Get(hs.URL + "/v1/apps/" + app.AppID + "/pins.json")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if m, err := trust.DecodeManifestUnverified(served); err != nil || m.Version != 1 {
		t.Fatalf("after the refusal the service serves %v, %v; want v1", m, err)
	}
	if code, body := put(base+"/pins?force=1", v2); code != http.StatusCreated {
		t.Fatalf("forced: %d %s", code, body)
	}
}

// jsonEscape spells s as encoding/json writes it inside a string.
func jsonEscape(s string) string {
	r := strings.NewReplacer("<", `\u003c`, ">", `\u003e`, "&", `\u0026`, `"`, `\"`)
	return r.Replace(s)
}

// gateService is a pin service on loopback with gate as its publish gate
// and an admin token; put uploads with it.
type gateService struct {
	t      *testing.T
	hs     *httptest.Server
	secret string
}

func newGateService(t *testing.T, now func() time.Time, gate check.Options) *gateService {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "pinset.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := server.New(server.Config{Store: st, Now: now, PublishGate: check.ManifestGate(gate)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	secret, hash, err := store.NewToken(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddToken(context.Background(), "gate-test", hash, now()); err != nil {
		t.Fatal(err)
	}
	return &gateService{t: t, hs: hs, secret: secret}
}

// gateAnswer is the part of a publish answer (201 or refusal) these tests read.
type gateAnswer struct {
	Code   string             `json:"code"`
	Error  string             `json:"error"`
	Forced bool               `json:"forced"`
	Gate   *check.GateSummary `json:"gate"`
}

func (g *gateService) put(path string, body []byte) (int, gateAnswer, string) {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, g.hs.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+g.secret)
	resp, err := g.hs.Client().Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var a gateAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		g.t.Fatalf("answer %d is not JSON: %s", resp.StatusCode, b)
	}
	return resp.StatusCode, a, string(b)
}

func verdicts(g *check.GateSummary) map[string]string {
	out := map[string]string{}
	for _, a := range g.Addresses {
		out[a.Address] = a.Verdict
	}
	return out
}

// The publish answer carries the gate's summary for every verdict, with
// real TLS servers on 127.0.0.2-4: one accepted, one unverifiable (a
// self-signed chain the gate's roots do not verify), one unreachable (its
// listener closed), and, for a manifest that omits the key a node serves,
// one refused by the pins. Without strict the unverifiable and
// unreachable addresses do not block the manifest but are counted and
// named; with publish_gate.strict they refuse it (409
// publish_gate_strict), and force=1 publishes it anyway, saying so.
func TestPublishAnswerCarriesGateSummary(t *testing.T) {
	w := checktest.NewWorld(t, host)
	f := checktest.NewFleet(t, host, w.Leaf("live", 90*day), w.SelfSigned("private"), w.Leaf("live", 90*day))
	f.Stop(2)
	now := func() time.Time { return checktest.Epoch.Add(day) }
	covering := []policy.Policy{{Pattern: host, Pins: []pin.Pin{w.Pin("live"), w.Pin("backup")}}}
	root, v1 := w.Documents(1, covering)
	_, v2 := w.Documents(2, covering)
	_, v3 := w.Documents(3, []policy.Policy{{Pattern: host, Pins: []pin.Pin{w.Pin("other"), w.Pin("backup")}}})
	base := "/v1/admin/apps/com.example.check"

	lax := newGateService(t, now, opts(w, f, now()))
	if code, _, body := lax.put(base+"/root", root); code != http.StatusCreated {
		t.Fatalf("root: %d %s", code, body)
	}
	code, a, body := lax.put(base+"/pins", v1)
	if code != http.StatusCreated || a.Gate == nil {
		t.Fatalf("v1: %d %s", code, body)
	}
	g := a.Gate
	if g.Strict || g.Hosts != 1 || g.Checked != 3 || g.Accepted != 1 || g.Unverifiable != 1 || g.Unreachable != 1 || g.Refused != 0 {
		t.Fatalf("summary %+v", g)
	}
	want := map[string]string{f.Address(0): "accepted", f.Address(1): "refused-untrusted", f.Address(2): "unreachable"}
	if got := verdicts(g); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("verdicts %v, want %v", got, want)
	}
	for _, ad := range g.Addresses {
		if ad.Reason == "" {
			t.Errorf("%s: no reason", ad.Address)
		}
		if ad.Verdict == "refused-untrusted" && !strings.Contains(ad.Reason, "does not verify") {
			t.Errorf("unverifiable reason %q", ad.Reason)
		}
	}
	if s := g.String(); !strings.Contains(s, "3 addresses of 1 host checked: 1 accepted") || !strings.Contains(s, "1 unverifiable") || !strings.Contains(s, "1 unreachable") {
		t.Errorf("summary line %q", s)
	}
	// A manifest that omits the served key: refused, with the summary.
	code, a, body = lax.put(base+"/pins", v3)
	if code != http.StatusConflict || a.Code != "publish_gate" || a.Gate == nil || a.Gate.Refused != 1 || verdicts(a.Gate)[f.Address(0)] != "refused-pin" {
		t.Fatalf("omitting manifest: %d %s", code, body)
	}

	so := opts(w, f, now())
	so.Strict = true
	strict := newGateService(t, now, so)
	strict.put(base+"/root", root)
	code, a, body = strict.put(base+"/pins", v1)
	if code != http.StatusConflict || a.Code != "publish_gate_strict" || a.Gate == nil || !a.Gate.Strict {
		t.Fatalf("strict: %d %s", code, body)
	}
	for _, want := range []string{f.Address(1), f.Address(2), "does not verify"} {
		if !strings.Contains(a.Error, want) {
			t.Errorf("strict refusal does not name %q: %s", want, a.Error)
		}
	}
	if strings.Contains(a.Error, f.Address(0)) {
		t.Errorf("strict refusal names the accepted address: %s", a.Error)
	}
	code, a, body = strict.put(base+"/pins?force=1", v2)
	if code != http.StatusCreated || !a.Forced || a.Gate == nil || a.Gate.Unverifiable != 1 {
		t.Fatalf("strict, forced: %d %s", code, body)
	}
}

// The case: a backend behind a private CA and no
// publish_gate.cafile. Every address is unverifiable; the manifest is
// published, and the answer says that nothing was verified.
func TestPublishGatePrivateCAWithoutCAFile(t *testing.T) {
	w, f := rotatedFleet(t)
	now := func() time.Time { return checktest.Epoch.Add(day) }
	o := opts(w, f, now())
	o.RootCAs = nil // the system roots, which do not know the private CA
	svc := newGateService(t, now, o)
	covering := []policy.Policy{{Pattern: host, Pins: []pin.Pin{w.Pin("live"), w.Pin("backup")}}}
	root, v1 := w.Documents(1, covering)
	svc.put("/v1/admin/apps/com.example.check/root", root)
	code, a, body := svc.put("/v1/admin/apps/com.example.check/pins", v1)
	if code != http.StatusCreated || a.Gate == nil || a.Gate.Checked != 3 || a.Gate.Unverifiable != 3 || a.Gate.Accepted != 0 {
		t.Fatalf("%d %s", code, body)
	}
}
