package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/internal/testtool"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/store/storetest"
	"pinset.dev/pinset/trust"
	"pinset.dev/pinset/trust/trusttest"
)

// clock is testtool.Clock.
type clock = testtool.Clock

// syncBuffer is testtool.SyncBuffer.
type syncBuffer = testtool.SyncBuffer

type env struct {
	t     testing.TB
	srv   *Server
	st    store.Store
	clock *clock
	repo  *trusttest.Repo
	token string
	logs  *syncBuffer
}

func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newEnvStore(t, st, mod)
}

func newEnvStore(t testing.TB, st store.Store, mod func(*Config)) *env {
	t.Helper()
	e := &env{t: t, st: st, clock: testtool.NewClock(trusttest.Epoch.Add(time.Hour)), repo: trusttest.New("shop", 1), logs: &syncBuffer{}}
	cfg := Config{Store: st, Now: e.clock.Now, Logger: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	secret, hash, err := store.NewToken(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddToken(context.Background(), fmt.Sprintf("test-%x", hash[:4]), hash, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.token = secret
	return e
}

type resp struct {
	code int
	h    http.Header
	body []byte
}

func (r resp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response %d %q: %v", r.code, r.body, err)
	}
}

func (r resp) apiErr(t testing.TB) apiError {
	var a apiError
	r.json(t, &a)
	return a
}

func (e *env) do(method, path string, body []byte, hdr ...string) resp {
	e.t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "RemoteAddr" {
			req.RemoteAddr = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, req)
	return resp{w.Code, w.Header(), w.Body.Bytes()}
}

func (e *env) admin(method, path string, body []byte, hdr ...string) resp {
	return e.do(method, path, body, append([]string{"Authorization", "Bearer " + e.token}, hdr...)...)
}

func (e *env) publish(kind string, b []byte) resp {
	return e.admin("PUT", "/v1/admin/apps/shop/"+kind, b)
}

func (e *env) mustPublish(kind string, b []byte) {
	e.t.Helper()
	if r := e.publish(kind, b); r.code != http.StatusCreated {
		e.t.Fatalf("publish %s: %d %s", kind, r.code, r.body)
	}
}

func TestPublicDocuments(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.do("GET", "/v1/apps/shop/pins.json", nil); r.code != 404 {
		t.Fatalf("before publishing: %d", r.code)
	}
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())

	r := e.do("GET", "/v1/apps/shop/pins.json", nil)
	if r.code != 200 || !bytes.Equal(r.body, e.repo.Manifest()) {
		t.Fatalf("pins.json: %d %q", r.code, r.body)
	}
	etag := r.h.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, "W/") {
		t.Errorf("ETag %q is not strong", etag)
	}
	if cc := r.h.Get("Cache-Control"); !strings.Contains(cc, "public") || !strings.Contains(cc, "max-age=") {
		t.Errorf("Cache-Control %q", cc)
	}
	if r.h.Get("Vary") != "Accept-Encoding" || r.h.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", r.h)
	}
	if r := e.do("GET", "/v1/apps/shop/pins.json", nil, "If-None-Match", etag); r.code != 304 || len(r.body) != 0 || r.h.Get("ETag") != etag {
		t.Errorf("If-None-Match: %d %q", r.code, r.body)
	}
	if r := e.do("GET", "/v1/apps/shop/pins.json", nil, "If-None-Match", `"other", `+etag); r.code != 304 {
		t.Errorf("If-None-Match list: %d", r.code)
	}
	if r := e.do("GET", "/v1/apps/shop/pins.json", nil, "If-None-Match", `"stale"`); r.code != 200 {
		t.Errorf("stale If-None-Match: %d", r.code)
	}
	gz := e.do("GET", "/v1/apps/shop/pins.json", nil, "Accept-Encoding", "br, gzip")
	if gz.code != 200 || gz.h.Get("Content-Encoding") != "gzip" || gz.h.Get("ETag") == etag || len(gz.body) >= len(r.body) {
		t.Fatalf("gzip: %d %v", gz.code, gz.h)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz.body))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if !bytes.Equal(plain, e.repo.Manifest()) {
		t.Error("gzip body differs")
	}
	if r := e.do("GET", "/v1/apps/shop/pins.json", nil, "Accept-Encoding", "gzip;q=0"); r.h.Get("Content-Encoding") != "" {
		t.Error("gzip;q=0 got gzip")
	}
	if r := e.do("GET", "/v1/apps/shop/pins.json", nil, "Accept-Encoding", "gzip", "If-None-Match", gz.h.Get("ETag")); r.code != 304 {
		t.Errorf("gzip If-None-Match: %d", r.code)
	}
	if r := e.do("HEAD", "/v1/apps/shop/pins.json", nil); r.code != 200 || len(r.body) != 0 || r.h.Get("Content-Length") == "" {
		t.Errorf("HEAD: %d %d", r.code, len(r.body))
	}
	if r := e.do("GET", "/v1/apps/shop/root.json", nil); r.code != 200 || !bytes.Equal(r.body, e.repo.Root()) {
		t.Errorf("root.json %d", r.code)
	}
	r1 := e.do("GET", "/v1/apps/shop/roots/1.json", nil)
	if r1.code != 200 || !bytes.Equal(r1.body, e.repo.Roots[0]) || !strings.Contains(r1.h.Get("Cache-Control"), "immutable") {
		t.Errorf("roots/1.json %d %v", r1.code, r1.h)
	}
	for _, p := range []string{"/v1/apps/shop/roots/2.json", "/v1/apps/shop/roots/01.json", "/v1/apps/shop/roots/x.json",
		"/v1/apps/nope/pins.json", "/v1/apps/a%20b/pins.json", "/v1/apps/nope/root.json"} {
		if r := e.do("GET", p, nil); r.code != 404 || r.apiErr(t).Error == "" {
			t.Errorf("%s: %d", p, r.code)
		}
	}
	// A new manifest is served at once by the process that published it.
	m2 := e.repo.PublishManifest(nil)
	e.mustPublish("pins", m2)
	if r := e.do("GET", "/v1/apps/shop/pins.json", nil, "If-None-Match", etag); r.code != 200 || !bytes.Equal(r.body, m2) {
		t.Errorf("after publish: %d", r.code)
	}
}

func TestAdminAuth(t *testing.T) {
	e := newEnv(t, nil)
	for _, c := range []struct{ name, auth string }{
		{"none", ""}, {"basic", "Basic " + e.token}, {"empty", "Bearer "}, {"wrong", "Bearer pinset_wrong"},
		{"prefix", "Bearer " + e.token[:len(e.token)-2]},
	} {
		for _, p := range []string{"PUT /v1/admin/apps/shop/root", "PUT /v1/admin/apps/shop/pins", "GET /v1/admin/apps", "GET /v1/admin/apps/shop/reports"} {
			method, path, _ := strings.Cut(p, " ")
			var hdr []string
			if c.auth != "" {
				hdr = []string{"Authorization", c.auth}
			}
			r := e.do(method, path, e.repo.Root(), hdr...)
			if r.code != 401 || r.h.Get("WWW-Authenticate") == "" || r.apiErr(t).Code != "unauthorized" {
				t.Errorf("%s %s: %d %s", c.name, p, r.code, r.body)
			}
		}
	}
	if _, err := e.st.CheckToken(context.Background(), e.token); err != nil {
		t.Fatal(err)
	}
	e.mustPublish("root", e.repo.Root())
	if r := e.admin("GET", "/v1/admin/apps", nil); r.code != 200 || !strings.Contains(string(r.body), `"id": "shop"`) {
		t.Errorf("apps: %d %s", r.code, r.body)
	}
	h := store.HashToken(e.token)
	e.st.RevokeToken(context.Background(), fmt.Sprintf("test-%x", h[:4]), e.clock.Now())
	if r := e.admin("GET", "/v1/admin/apps", nil); r.code != 401 {
		t.Errorf("revoked token: %d", r.code)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"status":401`) || !strings.Contains(logs, "published root") {
		t.Fatalf("logs do not show the requests: %s", logs)
	}
	secretPart := strings.TrimPrefix(e.token, store.TokenPrefix)
	for i := 0; i+8 <= len(secretPart); i++ {
		if strings.Contains(logs, secretPart[i:i+8]) {
			t.Fatalf("8 characters of the token appear in the logs: %s", secretPart[i:i+8])
		}
	}
	if strings.Contains(logs, "Authorization") || strings.Contains(logs, "Bearer") {
		t.Fatal("a token appears in the logs")
	}
}

func TestPublishRefusals(t *testing.T) {
	e := newEnv(t, nil)
	repo := e.repo
	// Manifest before any root.
	if r := e.publish("pins", repo.Manifest()); r.code != 409 || r.apiErr(t).Code != "no_root" {
		t.Fatalf("manifest before root: %d %s", r.code, r.body)
	}
	e.mustPublish("root", repo.Root())
	if r := e.publish("root", repo.Root()); r.code != 200 {
		t.Errorf("same root again: %d %s", r.code, r.body)
	}
	e.mustPublish("pins", repo.Manifest())
	m1 := repo.Manifest()
	m2 := repo.PublishManifest(nil)
	e.mustPublish("pins", m2)
	if r := e.publish("pins", m2); r.code != 200 {
		t.Errorf("same manifest again: %d", r.code)
	}
	// The same payload with one more signature changes nothing either.
	env, err := trust.ParseEnvelope(m2)
	if err != nil {
		t.Fatal(err)
	}
	env.Sign(repo.PinsKeys[2], repo.Rand())
	m2more, _ := env.Marshal()
	if r := e.publish("pins", m2more); r.code != 200 || strings.Contains(string(r.body), `"changed": true`) {
		t.Errorf("same payload, more signatures: %d %s", r.code, r.body)
	}

	other := trusttest.New("blog", 2)
	tampered := bytes.Clone(repo.PublishManifest(nil))
	var envJSON map[string]any
	json.Unmarshal(tampered, &envJSON)
	// Flip one character of the base64 payload: still valid base64,
	// different signed bytes.
	p := envJSON["payload"].(string)
	i := strings.Index(p, "A")
	envJSON["payload"] = p[:i] + "B" + p[i+1:]
	tampered, _ = json.Marshal(envJSON)

	wrongApp := repo.PublishManifest(func(m *trust.Manifest) { m.AppID = "blog" })
	below := repo.PublishManifestSignedBy(repo.ManifestDoc(), repo.PinsKeys[0])
	expired := func() []byte {
		m := repo.ManifestDoc()
		m.IssuedAt = trusttest.Epoch.Add(-60 * 24 * time.Hour)
		m.Expires = trusttest.Epoch.Add(-30 * 24 * time.Hour)
		return repo.PublishManifestSignedBy(m, repo.PinsKeys[:2]...)
	}()
	future := func() []byte {
		m := repo.ManifestDoc()
		m.IssuedAt = e.clock.Now().Add(24 * time.Hour)
		m.Expires = m.IssuedAt.Add(24 * time.Hour)
		return repo.PublishManifestSignedBy(m, repo.PinsKeys[:2]...)
	}()
	cases := []struct {
		name   string
		kind   string
		body   []byte
		status int
		code   string
		msg    string
	}{
		{"rollback", "pins", m1, 409, "rollback", "rollback"},
		{"wrong app (other keys)", "pins", other.Manifest(), 422, "threshold_not_met", "threshold not met"},
		{"wrong app (same keys)", "pins", wrongApp, 422, "wrong_app", "another app"},
		{"below threshold", "pins", below, 422, "threshold_not_met", "threshold not met"},
		{"tampered", "pins", tampered, 422, "threshold_not_met", "threshold not met"},
		{"expired", "pins", expired, 422, "expired", "expired"},
		{"issued in future", "pins", future, 422, "issued_in_future", "future"},
		{"garbage", "pins", []byte("{not json"), 400, "malformed", "envelope"},
		{"root as manifest", "pins", repo.Root(), 422, "wrong_payload_type", "payload type"},
		{"manifest as root", "root", m2, 422, "wrong_payload_type", "payload type"},
		{"root of other app", "root", other.Root(), 422, "threshold_not_met", "threshold"},
		{"root below threshold", "root", repo.PublishRootSignedBy(repo.RootDoc(2), repo.RootKeys[0]), 422, "threshold_not_met", "threshold"},
		{"root gap", "root", repo.PublishRootSignedBy(repo.RootDoc(5), repo.RootSigners()...), 409, "root_version_gap", "not the next"},
		{"too large", "pins", bytes.Repeat([]byte(" "), trust.MaxEnvelopeSize+10), 413, "too_large", "more than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.publish(c.kind, c.body)
			a := r.apiErr(t)
			if r.code != c.status || a.Code != c.code || !strings.Contains(a.Error, c.msg) {
				t.Errorf("%d %+v; want %d %s containing %q", r.code, a, c.status, c.code, c.msg)
			}
		})
	}
	// Nothing refused changed what is served.
	if r := e.do("GET", "/v1/apps/shop/pins.json", nil); !bytes.Equal(r.body, m2) {
		t.Error("a refused publication changed the served manifest")
	}
	// A proper root rotation (v2 signed by the old and new root keys) and a
	// manifest under it are accepted; root v1 replayed is a rollback.
	repo2 := trusttest.New("shop", 1)
	e2 := newEnv(t, nil)
	e2.mustPublish("root", repo2.Root())
	e2.mustPublish("pins", repo2.Manifest())
	e2.mustPublish("root", repo2.RotateRootKeys(3, 2))
	if r := e2.publish("root", repo2.Roots[0]); r.code != 409 || r.apiErr(t).Code != "rollback" {
		t.Errorf("root rollback: %d %s", r.code, r.body)
	}
	oldBound := repo2.ManifestDoc()
	oldBound.RootVersion = 1
	if r := e2.publish("pins", repo2.PublishManifestSignedBy(oldBound, repo2.PinsKeys[:2]...)); r.code != 422 || r.apiErr(t).Code != "root_mismatch" {
		t.Errorf("manifest bound to the old root: %d %s", r.code, r.body)
	}
	e2.mustPublish("pins", repo2.PublishManifest(nil))
	if r := e2.do("GET", "/v1/apps/shop/roots/2.json", nil); r.code != 200 {
		t.Errorf("roots/2.json %d", r.code)
	}
}

func TestPublishGate(t *testing.T) {
	var calls int
	gateErr := errors.New("api.example.com 127.0.0.3:443 would be refused: no pin of the served chain is in the manifest")
	e := newEnv(t, func(c *Config) {
		c.PublishGate = func(ctx context.Context, m *trust.Manifest) (*check.GateSummary, error) {
			calls++
			if m.Version >= 2 {
				return &check.GateSummary{Checked: 3, Accepted: 2, Refused: 1}, gateErr
			}
			return &check.GateSummary{Checked: 3, Accepted: 3}, nil
		}
	})
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	m2 := e.repo.PublishManifest(nil)
	r := e.publish("pins", m2)
	a := r.apiErr(t)
	if r.code != 409 || a.Code != "publish_gate" || !a.Force || !strings.Contains(a.Error, "127.0.0.3:443") {
		t.Fatalf("gate refusal: %d %+v", r.code, a)
	}
	if a.Gate == nil || a.Gate.Refused != 1 || a.Gate.Checked != 3 {
		t.Fatalf("the refusal does not carry the gate's summary: %s", r.body)
	}
	r = e.admin("PUT", "/v1/admin/apps/shop/pins?force=1", m2)
	var res PublishResult
	r.json(t, &res)
	if r.code != 201 || !res.Forced || res.Gate == nil || res.Gate.Refused != 1 {
		t.Fatalf("forced: %d %s", r.code, r.body)
	}
	m3 := e.repo.PublishManifest(nil)
	if r := e.admin("PUT", "/v1/admin/apps/shop/pins", m3, "Pinset-Force", "1"); r.code != 201 {
		t.Fatalf("forced by header: %d %s", r.code, r.body)
	}
	if calls != 4 {
		t.Errorf("gate called %d times", calls)
	}
}

func TestReports(t *testing.T) {
	e := newEnv(t, nil)
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "report", "testdata", "reports", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ios, android, hpkp, gov := read("trustkit-ios.json"), read("trustkit-android.json"), read("hpkp.json"), read("pinset-go.json")
	for i, c := range []struct {
		path string
		body []byte
		code int
	}{
		{"/v1/apps/shop/reports", ios, 201},
		{"/v1/apps/shop/reports", ios, 200}, // duplicate
		{"/v1/apps/shop/reports", android, 201},
		{"/v1/reports", hpkp, 201}, // attributed by host to shop
		{"/v1/reports", gov, 201},  // app-bundle-id "shop"
	} {
		r := e.do("POST", c.path, c.body, "Content-Type", "application/json", "RemoteAddr", fmt.Sprintf("192.0.2.%d:5000", i+1))
		var out struct {
			ID        int64
			Duplicate bool
			App       string
		}
		r.json(t, &out)
		if r.code != c.code || out.App != "shop" || out.ID == 0 {
			t.Errorf("report %d: %d %s", i, r.code, r.body)
		}
	}
	if r := e.do("POST", "/v1/apps/nope/reports", ios); r.code != 404 {
		t.Errorf("unknown app: %d", r.code)
	}
	var list struct {
		Reports    []store.StoredReport
		Aggregates store.Aggregates
	}
	r := e.admin("GET", "/v1/admin/apps/shop/reports", nil)
	r.json(t, &list)
	if r.code != 200 || len(list.Reports) != 4 || list.Aggregates.Total.Events != 5 {
		t.Fatalf("reports: %d %d %+v", r.code, len(list.Reports), list.Aggregates.Total)
	}
	formats := map[string]bool{}
	for _, sr := range list.Reports {
		formats[sr.Report.Format] = true
	}
	if len(formats) != 4 {
		t.Errorf("formats stored: %v", formats)
	}
	// TrustKit-Android's date-time names no zone: that report counts on the
	// day the service received it (the test clock's), the others on theirs.
	if len(list.Aggregates.ByHost) != 1 || list.Aggregates.ByHost[0].Key != "api.example.com" || len(list.Aggregates.ByDay) != 2 ||
		len(list.Aggregates.ByAppVersion) != 4 || len(list.Aggregates.ByPin) != 2 {
		t.Errorf("aggregates %+v", list.Aggregates)
	}
	for q, want := range map[string]int{
		"platform=ANDROID": 1, "platform=ios": 1, "host=API.example.com": 4, "host=x.example.com": 0,
		"since=2026-03-14T09:27:30Z": 2, "until=2026-03-14T09:27:00Z": 2, "since=2026-03-15": 0, "limit=2": 2,
	} {
		r := e.admin("GET", "/v1/admin/apps/shop/reports?"+q, nil)
		r.json(t, &list)
		if r.code != 200 || len(list.Reports) != want {
			t.Errorf("%s: %d reports, want %d", q, len(list.Reports), want)
		}
	}
	if r := e.admin("GET", "/v1/admin/apps/shop/reports?since=yesterday", nil); r.code != 400 {
		t.Errorf("bad since: %d", r.code)
	}
	e.admin("GET", "/v1/admin/apps/shop/reports?platform=GO", nil).json(t, &list)
	raw := e.admin("GET", fmt.Sprintf("/v1/admin/reports/%d/raw", list.Reports[0].ID), nil)
	if raw.code != 200 || !bytes.Equal(raw.body, gov) {
		t.Errorf("raw: %d", raw.code)
	}
	for _, path := range []string{"/v1/admin/reports/999999/raw", "/v1/admin/reports/abc/raw", "/v1/admin/reports/99999999999999999999/samples", "/v1/admin/reports/x/samples"} {
		if r := e.admin("GET", path, nil); r.code != 404 {
			t.Errorf("%s: %d, want 404", path, r.code)
		}
	}
}

func TestReportAbuse(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ReportRate, c.ReportBurst = 1, 5 })
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	good, _ := os.ReadFile(filepath.Join("..", "report", "testdata", "reports", "trustkit-ios.json"))
	valid := func(addr string) int {
		return e.do("POST", "/v1/apps/shop/reports", good, "RemoteAddr", addr).code
	}
	// Malformed and oversized bodies are refused with reasons.
	for name, c := range map[string]struct {
		body []byte
		code int
	}{
		"not json":   {[]byte("<html>"), 400},
		"wrong type": {bytes.Replace(good, []byte(`"port": 0`), []byte(`"port": "0"`), 1), 400},
		"oversized":  {append(bytes.Repeat([]byte(" "), 64<<10), good...), 413},
	} {
		r := e.do("POST", "/v1/apps/shop/reports", c.body, "RemoteAddr", "198.51.100."+fmt.Sprint(len(name))+":1")
		if r.code != c.code || r.apiErr(t).Error == "" {
			t.Errorf("%s: %d %s", name, r.code, r.body)
		}
	}
	// A flood from one address: the burst passes, then 429 with Retry-After.
	flood := "203.0.113.9:4000"
	var limited resp
	for i := range 20 {
		r := e.do("POST", "/v1/apps/shop/reports", good, "RemoteAddr", flood)
		if i < 5 && r.code/100 != 2 {
			t.Fatalf("within burst %d: %d", i, r.code)
		}
		if i >= 5 {
			limited = r
			if r.code != 429 {
				t.Fatalf("flood request %d: %d", i, r.code)
			}
		}
	}
	if ra := limited.h.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q", ra)
	}
	// Other clients are unaffected, and so are the public documents.
	if c := valid("192.0.2.77:1"); c/100 != 2 {
		t.Errorf("valid report during flood: %d", c)
	}
	if r := e.do("GET", "/v1/apps/shop/pins.json", nil, "RemoteAddr", flood); r.code != 200 {
		t.Errorf("pins.json during flood: %d", r.code)
	}
	// The bucket refills with time.
	e.clock.Add(2 * time.Second)
	if c := valid(flood); c/100 != 2 {
		t.Errorf("after refill: %d", c)
	}
	rs, _ := e.st.Reports(context.Background(), store.ReportQuery{App: "shop"})
	if len(rs) != 1 || rs[0].Count != 7 {
		t.Errorf("stored: %d rows, count %d", len(rs), rs[0].Count)
	}
	m := e.do("GET", "/metrics", nil)
	for _, want := range []string{`pinset_reports_received_total{format="",result="rate_limited"} 15`,
		`pinset_reports_received_total{format="",result="too_large"} 1`, `pinset_http_requests_total{code="429"`,
		`pinset_manifest_version{app="shop"} 1`, "pinset_http_request_duration_seconds_bucket", "go_goroutines"} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.do("GET", "/healthz", nil); r.code != 200 {
		t.Error(r.code)
	}
	if r := e.do("GET", "/readyz", nil); r.code != 200 {
		t.Error(r.code)
	}
	e.st.Close()
	if r := e.do("GET", "/readyz", nil); r.code != 503 {
		t.Errorf("readyz with the store closed: %d", r.code)
	}
}

func TestResign(t *testing.T) {
	e := newEnv(t, nil)
	repo := e.repo
	e.mustPublish("root", repo.Root())
	// Root v2 gives the pins role one key and threshold 1: the service can
	// hold that key.
	e.mustPublish("root", repo.RotatePinsKeys(1, 1))
	e.mustPublish("pins", repo.PublishManifest(nil))
	srv, err := New(Config{Store: e.st, Now: e.clock.Now, Resign: &ResignConfig{Signer: repo.PinsKeys[0], Before: 7 * 24 * time.Hour, Lifetime: 30 * 24 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := srv.ResignDue(context.Background()); err != nil || len(res) != 0 {
		t.Fatalf("fresh manifest re-signed: %v %v", res, err)
	}
	e.clock.Add(25 * 24 * time.Hour) // 4 days before expiry
	res, err := srv.ResignDue(context.Background())
	if err != nil || len(res) != 1 || res[0].Version != 3 {
		t.Fatalf("resign: %+v %v", res, err)
	}
	cur, _ := e.st.Manifest(context.Background(), "shop")
	if cur.Source != "resign" || !cur.Expires.Equal(e.clock.Now().Truncate(time.Second).Add(30*24*time.Hour)) {
		t.Errorf("stored %+v", cur)
	}
	// A client holding manifest v2 accepts the re-signed one.
	st, err := trust.NewState(repo.Root(), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err = st.UpdateManifest(repo.Manifest(), trusttest.Epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	st2, err := st.UpdateManifest(cur.Body, e.clock.Now())
	if err != nil || st2.Manifest().Version != 3 || len(st2.Manifest().Hosts) != len(repo.Hosts) {
		t.Fatalf("client refuses the re-signed manifest: %v", err)
	}
	// With a threshold of 2 the service cannot re-sign alone, and says so.
	e2 := newEnv(t, nil)
	e2.mustPublish("root", e2.repo.Root())
	e2.mustPublish("pins", e2.repo.Manifest())
	srv2, _ := New(Config{Store: e2.st, Now: e2.clock.Now, Resign: &ResignConfig{Signer: e2.repo.PinsKeys[0]}})
	e2.clock.Add(28 * 24 * time.Hour)
	if _, err := srv2.ResignDue(context.Background()); err == nil || !strings.Contains(err.Error(), "threshold") {
		t.Errorf("threshold 2: %v", err)
	}
}

// TestTwoServersOnePostgres runs two servers on one PostgreSQL schema:
// what one publishes, the other serves within the refresh interval.
func TestTwoServersOnePostgres(t *testing.T) {
	url := postgresURL(t)
	ctx := context.Background()
	a, err := store.OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := store.OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ea := newEnvStore(t, a, nil)
	eb := newEnvStore(t, b, func(c *Config) { c.RefreshInterval = time.Second })
	eb.clock, eb.repo = ea.clock, ea.repo
	eb.srv.now, eb.srv.docs.now = ea.clock.Now, ea.clock.Now
	ea.mustPublish("root", ea.repo.Root())
	ea.mustPublish("pins", ea.repo.Manifest())
	if r := eb.do("GET", "/v1/apps/shop/pins.json", nil); r.code != 200 || !bytes.Equal(r.body, ea.repo.Manifest()) {
		t.Fatalf("b serves %d", r.code)
	}
	m2 := ea.repo.PublishManifest(nil)
	eb.mustPublish("pins", m2)
	ea.clock.Add(2 * time.Second)
	if r := ea.do("GET", "/v1/apps/shop/pins.json", nil); !bytes.Equal(r.body, m2) {
		t.Fatal("a does not serve what b published")
	}
	// Both publish v3 at once from v2: one wins, one gets 409 conflict.
	m3a := ea.repo.PublishManifest(nil)
	ea.repo.ManifestVersion--
	m3b := ea.repo.PublishManifest(func(m *trust.Manifest) { m.Hosts = m.Hosts[:1] })
	var wg sync.WaitGroup
	var ra, rb resp
	wg.Add(2)
	go func() { defer wg.Done(); ra = ea.publish("pins", m3a) }()
	go func() { defer wg.Done(); rb = eb.publish("pins", m3b) }()
	wg.Wait()
	codes := []int{ra.code, rb.code}
	if !(codes[0] == 201 && codes[1] == 409 || codes[0] == 409 && codes[1] == 201) {
		t.Fatalf("concurrent publishes: %d %s / %d %s", ra.code, ra.body, rb.code, rb.body)
	}
}

func postgresURL(t *testing.T) string { return storetest.PostgresURL(t) }

// TestServeWhilePublishing reads pins.json from many goroutines while
// manifests are published: every answer is one complete published
// manifest, with the ETag of its own bytes, and versions never go back.
func TestServeWhilePublishing(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RefreshInterval = time.Nanosecond })
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	var mu sync.Mutex
	published := map[string]uint64{string(e.repo.Manifest()): 1}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := e.do("GET", "/v1/apps/shop/pins.json", nil)
				mu.Lock()
				v, ok := published[string(r.body)]
				mu.Unlock()
				sum := digestHex(r.body)
				if r.code != 200 || !ok || r.h.Get("ETag") != `"`+sum[:32]+`"` || v < last {
					errs <- fmt.Sprintf("%d v%d after v%d ok=%v", r.code, v, last, ok)
					return
				}
				last = v
			}
		}()
	}
	for range 20 {
		m := e.repo.PublishManifest(nil)
		mu.Lock()
		published[string(m)] = e.repo.ManifestVersion
		mu.Unlock()
		e.mustPublish("pins", m)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for s := range errs {
		t.Error(s)
	}
}

// Without a publish gate the answer says that the live hosts were not
// checked; an unchanged upload has nothing to say.
func TestPublishAnswerWithoutGate(t *testing.T) {
	e := newEnv(t, nil)
	e.mustPublish("root", e.repo.Root())
	r := e.publish("pins", e.repo.Manifest())
	var res PublishResult
	r.json(t, &res)
	if r.code != 201 || res.Gate == nil || !strings.Contains(res.Gate.Skipped, "publish gate is off") {
		t.Fatalf("%d %s", r.code, r.body)
	}
	if !strings.Contains(res.Gate.String(), "not run") {
		t.Fatalf("summary line %q", res.Gate.String())
	}
}

// A manifest that stops pinning a host the current one enforces is
// refused (409 unpin, naming the host) whether it drops the host or makes
// it report-only, and force=1 (the probe gate's override) does not change
// that. force_unpin=1 publishes it, logged at WARN with the token's name
// and counted. A report-only host may be dropped once it has been
// report-only for the period (7 days), not before.
func TestUnpinNeedsTimeOrForce(t *testing.T) {
	e := newEnv(t, nil)
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	api, cdn := e.repo.Hosts[0], e.repo.Hosts[1]
	apiRO := api
	apiRO.ReportOnly = true
	refused := func(r resp, change string) {
		t.Helper()
		a := r.apiErr(t)
		if r.code != 409 || a.Code != "unpin" || !a.ForceUnpin || a.Force || len(a.Unpinned) != 1 ||
			a.Unpinned[0].Pattern != "api.example.com" || a.Unpinned[0].Change != change || !strings.Contains(a.Error, "api.example.com") {
			t.Fatalf("want an unpin refusal (%s): %d %s", change, r.code, r.body)
		}
	}
	served := func() uint64 {
		t.Helper()
		m, err := trust.DecodeManifestUnverified(e.do("GET", "/v1/apps/shop/pins.json", nil).body)
		if err != nil {
			t.Fatal(err)
		}
		return m.Version
	}
	dropped := e.repo.PublishManifest(func(m *trust.Manifest) { m.Hosts = []policy.Policy{cdn} })
	refused(e.publish("pins", dropped), check.UnpinDropped)
	refused(e.admin("PUT", "/v1/admin/apps/shop/pins?force=1", dropped), check.UnpinDropped)
	demoted := e.repo.PublishManifest(func(m *trust.Manifest) { m.Hosts = []policy.Policy{apiRO, cdn} })
	refused(e.publish("pins", demoted), check.UnpinReportOnly)
	if v := served(); v != 1 {
		t.Fatalf("after refusals the service serves v%d", v)
	}

	r := e.admin("PUT", "/v1/admin/apps/shop/pins?force_unpin=1", demoted)
	var res PublishResult
	r.json(t, &res)
	if r.code != 201 || len(res.Unpinned) != 1 || res.Unpinned[0].Pattern != "api.example.com" {
		t.Fatalf("forced unpinning: %d %s", r.code, r.body)
	}
	if !strings.Contains(e.logs.String(), `"level":"WARN","msg":"unpinning forced","app":"shop","version":3,"token":"test-`) {
		t.Fatalf("no WARN audit line naming app, version and token:\n%s", e.logs.String())
	}
	if m := string(e.do("GET", "/metrics", nil).body); !strings.Contains(m, `pinset_manifest_unpins_forced_total{app="shop"} 1`) {
		t.Fatal("forced unpinning not counted")
	}

	// Report-only for one day: dropping it still needs force.
	e.clock.Add(24 * time.Hour)
	e.repo.Now = e.clock.Now()
	dropped = e.repo.PublishManifest(func(m *trust.Manifest) { m.Hosts = []policy.Policy{cdn} })
	r = e.publish("pins", dropped)
	if a := r.apiErr(t); r.code != 409 || a.Code != "unpin" || len(a.Unpinned) != 1 || !a.Unpinned[0].ReportOnly {
		t.Fatalf("dropped after one day report-only: %d %s", r.code, r.body)
	}
	// Seven days after it became report-only it may go.
	e.clock.Add(6 * 24 * time.Hour)
	e.repo.Now = e.clock.Now()
	dropped = e.repo.PublishManifest(func(m *trust.Manifest) { m.Hosts = []policy.Policy{cdn} })
	r = e.publish("pins", dropped)
	res = PublishResult{}
	r.json(t, &res)
	if r.code != 201 || len(res.Unpinned) != 0 {
		t.Fatalf("dropped after seven days report-only: %d %s", r.code, r.body)
	}
	if got := strings.Count(e.logs.String(), "unpinning forced"); got != 1 {
		t.Fatalf("%d audit lines, want 1", got)
	}
}
