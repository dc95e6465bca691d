package console_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/console"
	"pinset.dev/pinset/monitor"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/server"
)

type page struct {
	code int
	h    http.Header
	body string
}

func (f *fixture) get(c *http.Client, path string) page {
	f.t.Helper()
	return f.do(c, http.MethodGet, path, nil, "")
}

func (f *fixture) do(c *http.Client, method, path string, body io.Reader, ctype string, hdr ...string) page {
	f.t.Helper()
	req, err := http.NewRequest(method, f.ts.URL+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, resp.Header, string(b)}
}

func (f *fixture) post(c *http.Client, path string, form url.Values, hdr ...string) page {
	f.t.Helper()
	return f.do(c, http.MethodPost, path, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded", hdr...)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t testing.TB, p page) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF field in the page (%d):\n%s", p.code, p.body)
	}
	return m[1]
}

// signIn signs c in with secret and returns the session's CSRF token.
func (f *fixture) signIn(c *http.Client, secret string) string {
	f.t.Helper()
	form := f.get(c, "/console/signin")
	p := f.post(c, "/console/signin", url.Values{"csrf": {csrfOf(f.t, form)}, "token": {secret}, "next": {"/console/apps"}})
	if p.code != http.StatusSeeOther || p.h.Get("Location") != "/console/apps" {
		f.t.Fatalf("sign-in: %d %q\n%s", p.code, p.h.Get("Location"), p.body)
	}
	return csrfOf(f.t, f.get(c, "/console/apps"))
}

func TestSignInSessionCookie(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	p := f.get(c, "/console/apps/"+appID+"/coverage")
	if p.code != http.StatusSeeOther || !strings.HasPrefix(p.h.Get("Location"), "/console/signin?next=") {
		t.Fatalf("unauthenticated page: %d %q", p.code, p.h.Get("Location"))
	}
	form := f.get(c, "/console/signin")
	bad := f.post(c, "/console/signin", url.Values{"csrf": {csrfOf(t, form)}, "token": {"pinset_wrong"}})
	if bad.code != http.StatusUnauthorized || !strings.Contains(bad.body, "Invalid or revoked token") {
		t.Fatalf("wrong token: %d", bad.code)
	}
	resp := f.post(c, "/console/signin", url.Values{"csrf": {csrfOf(t, bad)}, "token": {f.token}, "next": {"/console/apps/" + appID + "/coverage"}})
	if resp.code != http.StatusSeeOther || resp.h.Get("Location") != "/console/apps/"+appID+"/coverage" {
		t.Fatalf("sign-in: %d %q", resp.code, resp.h.Get("Location"))
	}
	var sc string
	for _, v := range resp.h.Values("Set-Cookie") {
		if strings.HasPrefix(v, console.SessionCookie+"=") {
			sc = v
		}
	}
	for _, want := range []string{"Path=/console/", "HttpOnly", "SameSite=Strict", "Max-Age=28800"} {
		if !strings.Contains(sc, want) {
			t.Errorf("session cookie %q lacks %s", sc, want)
		}
	}
	if strings.Contains(sc, "Secure") {
		t.Errorf("Secure on a plain-HTTP cookie would be dropped by the browser: %q", sc)
	}
	if strings.Contains(sc, f.token) || strings.Contains(resp.h.Get("Location"), "pinset_") {
		t.Fatalf("the token leaked into a cookie or URL: %q %q", sc, resp.h.Get("Location"))
	}
	if p := f.get(c, "/console/apps"); p.code != 200 || !strings.Contains(p.body, appID) {
		t.Fatalf("apps after sign-in: %d", p.code)
	}
	if !strings.Contains(f.logs.String(), "console action") || !strings.Contains(f.logs.String(), "action=sign-in token=alice n=1") {
		t.Errorf("sign-in not audited:\n%s", f.logs.String())
	}
	// The session expires.
	f.clock.Add(console.DefaultSessionLifetime)
	if p := f.get(c, "/console/apps"); p.code != http.StatusSeeOther {
		t.Fatalf("an expired session still works: %d", p.code)
	}
}

// A next parameter pointing elsewhere is not followed after sign-in.
func TestSignInNextStaysInConsole(t *testing.T) {
	f := newFixture(t)
	for _, next := range []string{"https://evil.example/", "//evil.example/console/", "/console/../v1/admin/apps", "/elsewhere"} {
		c := f.client()
		form := f.get(c, "/console/signin")
		p := f.post(c, "/console/signin", url.Values{"csrf": {csrfOf(t, form)}, "token": {f.token}, "next": {next}})
		if p.h.Get("Location") != "/console/apps" {
			t.Errorf("next=%q: redirected to %q", next, p.h.Get("Location"))
		}
	}
}

func TestSignOut(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	csrf := f.signIn(c, f.token)
	u, _ := url.Parse(f.ts.URL + "/console/")
	old := c.Jar.Cookies(u)
	p := f.post(c, "/console/signout", url.Values{"csrf": {csrf}})
	if p.code != http.StatusSeeOther || p.h.Get("Location") != "/console/signin" {
		t.Fatalf("sign-out: %d %q", p.code, p.h.Get("Location"))
	}
	// The old cookie, replayed, no longer works: the session is gone on
	// the server, not only in the browser.
	c2 := f.client()
	c2.Jar.SetCookies(u, old)
	if p := f.get(c2, "/console/apps"); p.code != http.StatusSeeOther {
		t.Fatalf("a signed-out session still works: %d", p.code)
	}
}

func TestRevokedTokenEndsSession(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	f.signIn(c, f.token)
	if err := f.st.RevokeToken(context.Background(), f.tokenName, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if p := f.get(c, "/console/apps"); p.code != http.StatusSeeOther {
		t.Fatalf("a session of a revoked token still works: %d", p.code)
	}
}

// Every state-changing form is refused without the session's CSRF token
// or from another origin, and nothing changes.
func TestCSRFRefused(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	csrf := f.signIn(c, f.token)
	cases := []struct {
		name string
		form url.Values
		hdr  []string
	}{
		{"no token", url.Values{"name": {"ci-deploy"}}, nil},
		{"wrong token", url.Values{"name": {"ci-deploy"}, "csrf": {"x" + csrf[1:]}}, nil},
		{"other origin", url.Values{"name": {"ci-deploy"}, "csrf": {csrf}}, []string{"Origin", "http://evil.example"}},
		{"cross-site fetch", url.Values{"name": {"ci-deploy"}, "csrf": {csrf}}, []string{"Sec-Fetch-Site", "cross-site"}},
		{"same-site other port", url.Values{"name": {"ci-deploy"}, "csrf": {csrf}}, []string{"Sec-Fetch-Site", "same-site"}},
	}
	for _, tc := range cases {
		p := f.post(c, "/console/tokens/revoke", tc.form, tc.hdr...)
		if p.code != http.StatusForbidden || !strings.Contains(p.body, "Nothing was changed") {
			t.Errorf("%s: %d", tc.name, p.code)
		}
	}
	ts, _ := f.st.Tokens(context.Background())
	for _, tok := range ts {
		if !tok.RevokedAt.IsZero() {
			t.Fatalf("token %s revoked by a refused request", tok.Name)
		}
	}
	// The sign-in form has its own token.
	if p := f.post(f.client(), "/console/signin", url.Values{"token": {f.token}}); p.code != http.StatusForbidden {
		t.Errorf("sign-in without its CSRF token: %d", p.code)
	}
	// The genuine form works.
	p := f.post(c, "/console/tokens/revoke", url.Values{"name": {"ci-deploy"}, "csrf": {csrf}}, "Origin", f.ts.URL)
	if p.code != 200 || !strings.Contains(p.body, "revoked") {
		t.Fatalf("revoke: %d\n%s", p.code, p.body)
	}
	if !strings.Contains(f.logs.String(), "action=revoke-token token=alice") {
		t.Errorf("revocation not audited:\n%s", f.logs.String())
	}
}

// With admin client certificates configured, a request without one gets
// neither the sign-in form nor any page, session or not.
func TestClientCertificateRequired(t *testing.T) {
	f := newFixture(t)
	srv, err := server.New(server.Config{Store: f.st, Now: f.clock.Now, AdminClientCAs: f.world.Pool(),
		Console: console.Mount(console.Config{})})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/console/signin", "/console/apps"} {
		rec := newRecorder()
		srv.ServeHTTP(rec, mustRequest(t, "GET", path))
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "client certificate") {
			t.Errorf("%s without a client certificate: %d", path, rec.Code)
		}
	}
	rec := newRecorder()
	srv.ServeHTTP(rec, mustRequest(t, "POST", "/console/signin"))
	if rec.Code != http.StatusForbidden {
		t.Errorf("sign-in post without a client certificate: %d", rec.Code)
	}
	// With a client certificate the TLS stack verified, the form is served.
	req := mustRequest(t, "GET", "/console/signin")
	req.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{f.world.Root.Cert}}}
	rec = newRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("sign-in with a verified client certificate: %d", rec.Code)
	}
}

var (
	inlineScript = regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`)
	styleAttr    = regexp.MustCompile(`\sstyle=`)
	eventAttr    = regexp.MustCompile(`\son[a-z]+=`)
)

// Every page carries the strict CSP and has nothing the CSP would block:
// no inline script, no style attribute, no event handler attribute, no
// URL of another origin.
func TestPagesStrictCSP(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	f.signIn(c, f.token)
	ids := regexp.MustCompile(`/console/reports/(\d+)`).FindStringSubmatch(f.get(c, "/console/apps/"+appID+"/reports").body)
	if ids == nil {
		t.Fatal("no report link on the reports page")
	}
	for i, path := range pagePaths(ids[1]) {
		cl := c
		if i == 0 {
			cl = f.client() // the sign-in page, signed out
		}
		p := f.get(cl, path)
		if p.code != 200 {
			t.Errorf("%s: %d\n%s", path, p.code, p.body)
			continue
		}
		if got := p.h.Get("Content-Security-Policy"); got != console.ContentSecurityPolicy || !strings.Contains(got, "default-src 'self'") {
			t.Errorf("%s: CSP %q", path, got)
		}
		if p.h.Get("Cache-Control") != "no-store" || p.h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", path, p.h)
		}
		for _, re := range []*regexp.Regexp{inlineScript, styleAttr, eventAttr} {
			if m := re.FindString(p.body); m != "" {
				t.Errorf("%s: %q in the page", path, m)
			}
		}
		for _, m := range regexp.MustCompile(`(?:src|href|action)="([^"]*)"`).FindAllStringSubmatch(p.body, -1) {
			if !strings.HasPrefix(m[1], "/console/") && !strings.HasPrefix(m[1], "#") {
				t.Errorf("%s: link to %q", path, m[1])
			}
		}
	}
}

func pagePaths(reportID string) []string {
	a := "/console/apps/" + appID
	return []string{"/console/signin", "/console/apps", a, a + "/coverage", a + "/history", a + "/history?from=1&to=2",
		a + "/reports", a + "/reports?platform=IOS", "/console/reports/" + reportID, a + "/rotation", a + "/publish",
		"/console/alerts", "/console/tokens"}
}

func TestCoverageHighlightsRefusedAddress(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	f.signIn(c, f.token)
	p := f.get(c, "/console/apps/"+appID+"/coverage")
	rows := regexp.MustCompile(`(?s)<tr class="(refused|problem|)">(.*?)</tr>`).FindAllStringSubmatch(p.body, -1)
	if len(rows) != 3 {
		t.Fatalf("%d address rows, want 3:\n%s", len(rows), p.body)
	}
	if rows[0][1] != "refused" || !strings.Contains(rows[0][2], "127.0.0.4") || !strings.Contains(rows[0][2], "refused-pin") {
		t.Errorf("the refused address is not first and highlighted: %q", rows[0][0])
	}
	for _, r := range rows[1:] {
		if r[1] != "" || !strings.Contains(r[2], "accepted") {
			t.Errorf("an accepted address is highlighted: %q", r[0])
		}
	}
	// The timeline: three good rounds then three refused ones.
	if n := strings.Count(rows[0][2], `class="tl-refused"`); n != 3 {
		t.Errorf("refused timeline cells: %d, want 3", n)
	}
	if n := strings.Count(rows[0][2], `class="tl-accepted"`); n != 3 {
		t.Errorf("accepted timeline cells: %d, want 3", n)
	}
	// The manifest page labels the pins.
	m := f.get(c, "/console/apps/"+appID)
	pins := regexp.MustCompile(`(?s)<ul class="pins">(.*?)</ul>`).FindAllStringSubmatch(m.body, -1)
	if len(pins) != 2 {
		t.Fatalf("%d pin lists on the manifest page, want 2", len(pins))
	}
	live, next := f.world.Pin("live").Format(pin.OkHttp), f.world.Pin("next").Format(pin.OkHttp)
	for _, want := range []string{live + `">`, `tag live">live</span>`, next + `">`, `tag next">next</span>`} {
		if !strings.Contains(pins[0][1], want) {
			t.Errorf("api.example.com's pins lack %q:\n%s", want, pins[0][1])
		}
	}
	if strings.Count(pins[1][1], "not probed") != 2 {
		t.Errorf("the wildcard's pins are not 'not probed':\n%s", pins[1][1])
	}
}

func multipartBody(t testing.TB, fields map[string]string, file []byte) (io.Reader, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if file != nil {
		fw, err := mw.CreateFormFile("envelope", "manifest.json")
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(file)
	}
	mw.Close()
	return &b, mw.FormDataContentType()
}

func TestPublishRefusedThenForced(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	csrf := f.signIn(c, f.token)
	path := "/console/apps/" + appID + "/publish"
	body, ct := multipartBody(t, map[string]string{"csrf": csrf, "kind": "manifest"}, f.refused)
	p := f.do(c, "POST", path, body, ct)
	if p.code != http.StatusConflict || !strings.Contains(p.body, "publish_gate") || !strings.Contains(p.body, "127.0.0.4") ||
		!strings.Contains(p.body, "refused-pin") {
		t.Fatalf("refused upload: %d\n%s", p.code, p.body)
	}
	// Force without the typed confirmation: refused before anything.
	body, ct = multipartBody(t, map[string]string{"csrf": csrf, "kind": "manifest", "force": "1", "confirm": "yes"}, f.refused)
	if p := f.do(c, "POST", path, body, ct); p.code != http.StatusBadRequest || !strings.Contains(p.body, "type the app id") {
		t.Fatalf("force without confirmation: %d", p.code)
	}
	if a, _ := f.st.App(context.Background(), appID); a.ManifestVersion != 2 {
		t.Fatalf("manifest v%d published without confirmation", a.ManifestVersion)
	}
	body, ct = multipartBody(t, map[string]string{"csrf": csrf, "kind": "manifest", "force": "1", "confirm": appID}, f.refused)
	p = f.do(c, "POST", path, body, ct)
	if p.code != 200 || !strings.Contains(p.body, "Published manifest v3") || !strings.Contains(p.body, "forced past the publish gate") {
		t.Fatalf("forced upload: %d\n%s", p.code, p.body)
	}
	if a, _ := f.st.App(context.Background(), appID); a.ManifestVersion != 3 {
		t.Fatalf("manifest v%d after the forced upload", a.ManifestVersion)
	}
	logs := f.logs.String()
	for _, want := range []string{"outcome=refused code=publish_gate", "outcome=published version=3", "publish gate overridden"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if !regexp.MustCompile(`publish gate overridden.*token=alice`).MatchString(logs) {
		t.Errorf("the server's override warning does not name the console user's token")
	}
}

func TestHistoryDiff(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	f.signIn(c, f.token)
	p := f.get(c, "/console/apps/"+appID+"/history?from=1&to=2")
	diff := p.body[strings.Index(p.body, `id="diff"`):]
	diff = diff[:strings.Index(diff, "</section>")]
	next, backup := f.world.Pin("next").Format(pin.OkHttp), f.world.Pin("backup").Format(pin.OkHttp)
	if !regexp.MustCompile(`class="added">.*`+regexp.QuoteMeta(next)).MatchString(diff) ||
		!regexp.MustCompile(`class="removed">.*`+regexp.QuoteMeta(backup)).MatchString(diff) {
		t.Errorf("the diff does not show next added and backup removed:\n%s", diff)
	}
	if !strings.Contains(diff, "v1 → v2") || !strings.Contains(diff, `class="added"`) || !strings.Contains(diff, `class="removed"`) ||
		strings.Contains(diff, "cdn.example.com") {
		t.Fatalf("diff:\n%s", diff)
	}
}

func TestAlertsPage(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	f.signIn(c, f.token)
	p := f.get(c, "/console/alerts")
	if !strings.Contains(p.body, "Firing") || !strings.Contains(p.body, "Resolved") {
		t.Fatalf("alerts page:\n%s", p.body)
	}
	// The certificate that expired soon in the first round and was
	// renewed in the second: resolved, with when it fired and resolved.
	resolved, _ := f.mon.ResolvedAlerts()
	if len(resolved) != 1 || resolved[0].Name() != monitor.AlertExpiring {
		t.Fatalf("the fixture's renewed certificate: resolved alerts %v", resolved)
	}
	_, table, ok := strings.Cut(p.body, `<table id="resolved">`)
	if !ok || !strings.Contains(table, `<tr class="resolved"><th scope="row">`+monitor.AlertExpiring+`</th>`) ||
		!strings.Contains(table, "address="+f.fleet.Address(0)) || !strings.Contains(table, "after 5 minutes") {
		t.Fatalf("the resolved alert is not on the page:\n%s", p.body)
	}
	if len(f.mon.Alerts()) == 0 {
		t.Fatal("the fixture's refused address raised no alert")
	}
	if !strings.Contains(p.body, f.mon.Alerts()[0].Name()) {
		t.Errorf("the firing alert %s is not on the page", f.mon.Alerts()[0].Name())
	}
}

// Session ids and CSRF tokens come from the injected reader: a reader
// that fails makes sign-in fail, not fall back to something weaker.
func TestSessionRandomnessInjected(t *testing.T) {
	f := newFixture(t)
	srv, err := server.New(server.Config{Store: f.st, Now: f.clock.Now, Console: console.Mount(console.Config{Rand: failingReader{}})})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	srv.ServeHTTP(rec, mustRequest(t, "GET", "/console/signin"))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("sign-in form with a failing random source: %d", rec.Code)
	}
	_ = time.Second
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

// Advance and abort go through the server's rotation functions, abort
// only with the plan's number typed, and both are audited.
func TestRotationActions(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	csrf := f.signIn(c, f.token)
	p := f.post(c, "/console/rotations/1/advance", url.Values{"csrf": {csrf}})
	if p.code != 200 || !strings.Contains(p.body, "Plan 1: advance done; state adopting") {
		t.Fatalf("advance: %d\n%s", p.code, p.body)
	}
	if p := f.post(c, "/console/rotations/1/abort", url.Values{"csrf": {csrf}, "confirm": {"2"}}); p.code != http.StatusBadRequest {
		t.Fatalf("abort with the wrong number typed: %d", p.code)
	}
	if st, _ := f.srv.Rotations(context.Background(), appID, true); len(st) != 1 {
		t.Fatalf("the plan ended without confirmation: %d active", len(st))
	}
	p = f.post(c, "/console/rotations/1/abort", url.Values{"csrf": {csrf}, "confirm": {"1"}})
	if p.code != 200 || !strings.Contains(p.body, "state aborted") {
		t.Fatalf("abort: %d\n%s", p.code, p.body)
	}
	if st, _ := f.srv.Rotations(context.Background(), appID, true); len(st) != 0 {
		t.Fatalf("%d active plans after abort", len(st))
	}
	logs := f.logs.String()
	for _, want := range []string{"action=rotation-advance token=alice", "action=rotation-abort token=alice"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	audit, _ := f.st.PlanAudit(context.Background(), 1)
	if last := audit[len(audit)-1]; last.To != "aborted" || last.Token != "alice" {
		t.Errorf("the plan's audit does not name the console user: %+v", last)
	}
}

// Over TLS the cookies are Secure.
func TestCookiesSecureUnderTLS(t *testing.T) {
	f := newFixture(t)
	req := httptest.NewRequest("GET", "/console/signin", nil)
	req.TLS = &tls.ConnectionState{}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	csrf := csrfOf(t, page{body: rec.Body.String()})
	signin := rec.Result().Cookies()[0]
	if !signin.Secure || !signin.HttpOnly {
		t.Fatalf("sign-in cookie over TLS: %+v", signin)
	}
	req = httptest.NewRequest("POST", "/console/signin", strings.NewReader(url.Values{"csrf": {csrf}, "token": {f.token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(signin)
	req.TLS = &tls.ConnectionState{}
	rec = httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	var session *http.Cookie
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == console.SessionCookie {
			session = ck
		}
	}
	if session == nil || !session.Secure || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie over TLS: %+v (%d)", session, rec.Code)
	}
	if rec.Header().Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS over TLS")
	}
}

// The rotation page draws the plan's adoption curve from the samples the
// plan's steps stored: one point per sample, oldest first, at the height
// of its share of active installs, with the threshold line.
func TestRotationAdoptionCurve(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	f.signIn(c, f.token)
	p := f.get(c, "/console/apps/"+appID+"/rotation")
	_, svg, ok := strings.Cut(p.body, `<svg class="chart curve"`)
	if !ok {
		t.Fatalf("no adoption curve on the rotation page:\n%s", p.body)
	}
	svg, _, _ = strings.Cut(svg, `</svg>`)
	points := regexp.MustCompile(`<title>[^<]*: ([0-9.]+)% \((\d+) of (\d+)\)</title>`).FindAllStringSubmatch(svg, -1)
	var got []string
	for _, m := range points {
		got = append(got, m[1]+"="+m[2]+"/"+m[3])
	}
	if want := "25.0=30/120 41.7=50/120 50.0=60/120 58.3=70/120"; strings.Join(got, " ") != want {
		t.Fatalf("curve points %v, want %s\n%s", got, want, svg)
	}
	if !strings.Contains(svg, `class="threshold"`) || !strings.Contains(svg, "4 samples, threshold 99.0%") ||
		!strings.Contains(svg, `<polyline class="curve-line" points="`) {
		t.Fatalf("curve without its line or threshold:\n%s", svg)
	}
	// Heights follow the shares: y falls as adoption rises.
	ys := regexp.MustCompile(`<circle class="curve-point" cx="[0-9.]+" cy="([0-9.]+)"`).FindAllStringSubmatch(svg, -1)
	if len(ys) != 4 {
		t.Fatalf("%d curve points, want 4", len(ys))
	}
	for i := 1; i < len(ys); i++ {
		y, _ := strconv.ParseFloat(ys[i][1], 64)
		prev, _ := strconv.ParseFloat(ys[i-1][1], 64)
		if y >= prev {
			t.Errorf("point %d at y %s, not above point %d at y %s", i, ys[i][1], i-1, ys[i-1][1])
		}
	}
	if !strings.Contains(p.body, "4 stored samples") {
		t.Errorf("the page does not say how many samples the curve has")
	}
}

// A console given the firing alerts but no resolved ones says so rather
// than claiming that nothing resolved.
func TestAlertsPageWithoutResolved(t *testing.T) {
	f := newFixture(t)
	srv, err := server.New(server.Config{Store: f.st, Now: f.clock.Now, Console: console.Mount(console.Config{Alerts: f.mon.Alerts})})
	if err != nil {
		t.Fatal(err)
	}
	g := *f
	g.ts = httptest.NewServer(srv)
	defer g.ts.Close()
	c := g.client()
	g.signIn(c, g.token)
	p := g.get(c, "/console/alerts")
	if !strings.Contains(p.body, "not given the resolved alerts") || strings.Contains(p.body, "No alert has resolved") {
		t.Fatalf("alerts page without the resolved alerts:\n%s", p.body)
	}
}
