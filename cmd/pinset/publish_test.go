package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/internal/checktest"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/trust"
)

// gateServe starts `pinset serve` with its publish gate on a fleet of
// loopback TLS servers (127.0.0.2-4) for host, with extra gate keys.
func gateServe(t *testing.T, f *checktest.Fleet, extra string) (*serveProc, string) {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	var resolve []string
	for _, a := range f.Addrs {
		resolve = append(resolve, strconv.Quote(f.Host+":"+strconv.Itoa(f.Port)+":"+a))
	}
	cfg := writeFile(t, dir, "pinset.yaml", []byte("publish_gate:\n  port: "+strconv.Itoa(f.Port)+
		"\n  timeout: 5s\n  resolve: ["+strings.Join(resolve, ", ")+"]\n"+extra))
	tok := newTokenCLI(t, data)
	return startServe(t, "--data", data, "--config", cfg, "--publish-gate=true"), tok
}

// `pinset publish` prints the gate's summary: a backend behind a private
// CA with no publish_gate.cafile is unverifiable at every address, which
// the output says (and warns about) instead of passing in silence; with
// publish_gate.strict the manifest is refused, and the refusal lists the
// addresses and reasons.
func TestPublishCLIGateSummary(t *testing.T) {
	w := checktest.NewWorldAt(t, "api.example.test", time.Now().Add(-time.Hour))
	f := checktest.NewFleet(t, w.Host, w.Leaf("live", 90*24*time.Hour), w.Leaf("live", 90*24*time.Hour))
	root, m1 := w.Documents(1, []policy.Policy{{Pattern: w.Host, Pins: []pin.Pin{w.Pin("live"), w.Pin("backup")}}})
	dir := t.TempDir()
	rootFile, m1File := writeFile(t, dir, "root.json", root), writeFile(t, dir, "pins.json", m1)

	p, tok := gateServe(t, f, "")
	env := []string{"PINSET_TOKEN=" + tok}
	out, errOut, err := pinsetRun(t, env, "publish", "--server", p.url, rootFile, m1File)
	if err != nil {
		t.Fatalf("publish: %v %s", err, errOut)
	}
	for _, want := range []string{
		"manifest v1 published",
		"publish gate: 2 addresses of 1 host checked: 0 accepted, 2 unverifiable",
		f.Address(0) + " refused-untrusted: the chain does not verify",
		f.Address(1) + " refused-untrusted",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "warning: "+m1File+": the publish gate could not check 2 address(es)") {
		t.Errorf("no warning: %s", errOut)
	}

	p, tok = gateServe(t, f, "  strict: true\n")
	env = []string{"PINSET_TOKEN=" + tok}
	if _, errOut, err := pinsetRun(t, env, "publish", "--server", p.url, rootFile); err != nil {
		t.Fatal(errOut)
	}
	out, errOut, err = pinsetRun(t, env, "publish", "--server", p.url, m1File)
	if err == nil {
		t.Fatalf("strict gate published: %s", out)
	}
	for _, want := range []string{
		"strict publish gate: 2 address(es) could not be checked",
		"publish gate (strict): 2 addresses of 1 host checked",
		f.Address(1) + " refused-untrusted: the chain does not verify",
		"hint: rerun with --force",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("refusal lacks %q:\n%s", want, errOut)
		}
	}
	out, errOut, err = pinsetRun(t, env, "publish", "--server", p.url, "--force", m1File)
	if err != nil || !strings.Contains(out, "published (forced past the publish gate)") {
		t.Fatalf("forced: %v %s %s", err, out, errOut)
	}
}

// Every key of publish_gate is in `pinset serve --help`.
func TestServeHelpNamesGateKeys(t *testing.T) {
	out, _, err := pinsetRun(t, nil, "serve", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"enabled:", "cafile:", "port:", "resolve:", "strict:", "timeout:"} {
		if !strings.Contains(out, "    "+k) {
			t.Errorf("serve --help lacks publish_gate key %q", k)
		}
	}
}

// `pinset publish` of a manifest that drops an enforced host is refused
// even with the publish gate off, with a hint; --force-unpin publishes it
// and says what it unpinned.
func TestPublishCLIUnpin(t *testing.T) {
	dir := t.TempDir()
	p, _, tok, repo, rootFile := serveShop(t, dir)
	env := []string{"PINSET_TOKEN=" + tok}
	m1 := writeFile(t, dir, "pins-v1.json", repo.PublishManifest(nil))
	if _, errOut, err := pinsetRun(t, env, "publish", "--server", p.url, rootFile, m1); err != nil {
		t.Fatal(errOut)
	}
	m2 := writeFile(t, dir, "pins-v2.json", repo.PublishManifest(func(m *trust.Manifest) { m.Hosts = m.Hosts[1:] }))
	_, errOut, err := pinsetRun(t, env, "publish", "--server", p.url, "--force", m2)
	if err == nil || !strings.Contains(errOut, `"api.example.com" is enforced now and the manifest drops it`) || !strings.Contains(errOut, "--force-unpin") {
		t.Fatalf("unpinning: %v %s", err, errOut)
	}
	out, errOut, err := pinsetRun(t, env, "publish", "--server", p.url, "--force-unpin", m2)
	if err != nil || !strings.Contains(out, "published") || !strings.Contains(errOut, "stops pinning 1 host(s)") {
		t.Fatalf("forced unpinning: %v %s %s", err, out, errOut)
	}
	if !strings.Contains(p.logs.String(), `level=WARN msg="unpinning forced" app=shop`) {
		t.Fatalf("no audit line:\n%s", p.logs.String())
	}
}

// `pinset publish` never follows a redirect to another host or port (or
// scheme) with the token: net/http would forward Authorization to another
// port of the same host name, and to plain http. A redirect on the same
// origin is followed.
func TestPublishRefusesCrossOriginRedirect(t *testing.T) {
	dir := t.TempDir()
	repo, _ := freshRepo(t, dir)
	m := writeFile(t, dir, "pins.json", repo.PublishManifest(nil))
	const tok = "pinset_redirect-test-secret"

	type hit struct{ auth, path string }
	hits := make(chan hit, 10)
	target := func(ip string) string {
		ln, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits <- hit{r.Header.Get("Authorization"), r.URL.Path}
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"app":"shop","kind":"manifest","version":2,"changed":true}`)
		})}}
		hs.Start()
		t.Cleanup(hs.Close)
		return hs.URL
	}
	samePort := target("127.0.0.1")  // same IP, another port
	otherHost := target("127.0.0.2") // another loopback address
	for _, c := range []struct{ name, to string }{
		{"another port", samePort},
		{"another host", otherHost},
	} {
		// The service on 127.0.0.1 answers the upload with 307 to the target.
		redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, c.to+r.URL.Path, http.StatusTemporaryRedirect)
		}))
		_, errOut, err := pinsetRun(t, []string{"PINSET_TOKEN=" + tok}, "publish", "--server", redirector.URL, m)
		redirector.Close()
		if err == nil || !strings.Contains(errOut, "not following a redirect to another scheme or host") {
			t.Errorf("%s: err %v, stderr %q", c.name, err, errOut)
		}
		select {
		case h := <-hits:
			t.Errorf("%s: the redirect target received a request (Authorization %q)", c.name, h.auth)
		default:
		}
	}

	// Same origin: followed, with the token.
	sameOrigin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/moved") {
			http.Redirect(w, r, "/moved"+r.URL.Path, http.StatusPermanentRedirect)
			return
		}
		hits <- hit{r.Header.Get("Authorization"), r.URL.Path}
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"app":"shop","kind":"manifest","version":2,"changed":true}`)
	}))
	t.Cleanup(sameOrigin.Close)
	if _, errOut, err := pinsetRun(t, []string{"PINSET_TOKEN=" + tok}, "publish", "--server", sameOrigin.URL, m); err != nil {
		t.Fatalf("same-origin redirect: %v %s", err, errOut)
	}
	if h := <-hits; h.auth != "Bearer "+tok || h.path != "/moved/v1/admin/apps/shop/pins" {
		t.Fatalf("same-origin redirect reached %+v", h)
	}
}

// `pinset serve --metrics-listen 127.0.0.2:0 --metrics-token-file F`
// serves /metrics only there and only with the token.
func TestServeMetricsListen(t *testing.T) {
	dir := t.TempDir()
	tokFile := writeFile(t, dir, "metrics.token", []byte("m-secret\n"))
	p := startServe(t, "--data", filepath.Join(dir, "data"), "--metrics-listen", "127.0.0.2:0", "--metrics-token-file", tokFile)
	m := regexp.MustCompile(`msg="serving metrics" addr=(\S+) token=true`).FindStringSubmatch(p.logs.String())
	if m == nil {
		t.Fatalf("no metrics listener in the logs:\n%s", p.logs.String())
	}
	get := func(url, tok string) int {
		req, _ := http.NewRequest("GET", url, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get(p.url+"/metrics", "m-secret"); c != 404 {
		t.Errorf("main listener /metrics: %d", c)
	}
	if c := get("http://"+m[1]+"/metrics", ""); c != 401 {
		t.Errorf("metrics without token: %d", c)
	}
	if c := get("http://"+m[1]+"/metrics", "m-secret"); c != 200 {
		t.Errorf("metrics with token: %d", c)
	}
	if strings.Contains(p.logs.String(), "WARN") {
		t.Errorf("warnings on loopback:\n%s", p.logs.String())
	}
}

// Publishing a new root alone leaves the current manifest bound to the old
// root: clients that take the new root refuse that manifest as an update,
// so publish says so. Publishing a manifest for the new root with it does
// not warn.
func TestPublishWarnsManifestBehindRoot(t *testing.T) {
	dir := t.TempDir()
	p, _, tok, repo, rootFile := serveShop(t, dir)
	env := []string{"PINSET_TOKEN=" + tok}
	m1 := writeFile(t, dir, "pins-v1.json", repo.PublishManifest(nil))
	if _, errOut, err := pinsetRun(t, env, "publish", "--server", p.url, rootFile, m1); err != nil {
		t.Fatal(errOut)
	}
	root2 := writeFile(t, dir, "root-v2.json", repo.PublishRoot())
	out, errOut, err := pinsetRun(t, env, "publish", "--server", p.url, root2)
	rv := repo.RootVersion()
	if err != nil || !strings.Contains(out, fmt.Sprintf("root v%d published", rv)) {
		t.Fatalf("new root: %v %s %s", err, out, errOut)
	}
	if !strings.Contains(errOut, fmt.Sprintf("is bound to root v%d, not the root v%d just published", rv-1, rv)) {
		t.Fatalf("no warning about the manifest bound to the previous root:\n%s", errOut)
	}
	root3 := writeFile(t, dir, "root-v3.json", repo.PublishRoot())
	m2 := writeFile(t, dir, "pins-v2.json", repo.PublishManifest(nil))
	_, errOut, err = pinsetRun(t, env, "publish", "--server", p.url, root3, m2)
	if err != nil || strings.Contains(errOut, "is bound to root") {
		t.Fatalf("root and manifest together: %v %s", err, errOut)
	}
}
