package console_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"pinset.dev/pinset/internal/testtool"
)

// -update-screenshots rewrites docs/console/*.png from the browser test
// (CI does not pass it, so it never writes into the tree).
var updateScreenshots = flag.Bool("update-screenshots", false, "write the console screenshots to docs/console/")

// browser drives a headless Debian Chromium through the DevTools protocol
// and records the URL of every request the pages make.
type browser struct {
	t    *testing.T
	ctx  context.Context
	mu   sync.Mutex
	urls []string
}

func newBrowser(t *testing.T) *browser {
	path := testtool.Need(t, "chromium", "apt-get install -y chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel3)
	b := &browser{t: t, ctx: ctx}
	chromedp.ListenTarget(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			b.mu.Lock()
			b.urls = append(b.urls, e.Request.URL)
			b.mu.Unlock()
		}
	})
	if err := chromedp.Run(ctx, network.Enable()); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return b
}

// run runs actions with a time limit; on failure it says where the
// browser was and what the page held.
func (b *browser) run(what string, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		var loc, html string
		dctx, dcancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer dcancel()
		_ = chromedp.Run(dctx, chromedp.Location(&loc), chromedp.OuterHTML("html", &html, chromedp.ByQuery))
		b.t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, html)
	}
}

// requests returns and forgets the URLs requested so far.
func (b *browser) requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.urls
	b.urls = nil
	return out
}

// screenshot saves the whole page as docs/console/name.png when
// -update-screenshots is given.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	if !*updateScreenshots {
		return
	}
	var png []byte
	b.run("screenshot "+name, chromedp.FullScreenshot(&png, 100))
	dir := filepath.Join("..", "docs", "console")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	var s string
	b.run("read "+sel, chromedp.Text(sel, &s, chromedp.ByQuery, chromedp.NodeVisible))
	return s
}

// waitEnhanced waits until the page's script has run.
var waitEnhanced = chromedp.WaitReady("html[data-enhanced]", chromedp.ByQuery)

// TestBrowser drives the console in Chromium as an operator would: sign
// in, read coverage (the refused address highlighted), a report, the
// history diff, upload a manifest the publish gate refuses and force it,
// survive a cross-site form post, sign out. No page may request anything
// outside the service.
func TestBrowser(t *testing.T) {
	f := newFixture(t)
	b := newBrowser(t)
	origin := f.ts.URL
	app := origin + "/console/apps/" + appID

	// Sign in (a page behind the sign-in redirects there and back).
	b.run("open the coverage page", chromedp.Navigate(app+"/coverage"), chromedp.WaitVisible("#token", chromedp.ByID))
	b.screenshot("signin")
	b.run("sign in", chromedp.SendKeys("#token", f.token, chromedp.ByID), chromedp.Submit("#token", chromedp.ByID),
		chromedp.WaitVisible("table.coverage", chromedp.ByQuery))
	var loc string
	b.run("location", chromedp.Location(&loc))
	if loc != app+"/coverage" || strings.Contains(loc, "pinset_") {
		t.Fatalf("after sign-in: %s", loc)
	}

	// Coverage: the refused address is highlighted.
	refused := b.text("table.coverage tbody tr.refused")
	if !strings.Contains(refused, "127.0.0.4") || !strings.Contains(refused, "refused-pin") {
		t.Fatalf("highlighted row: %q", refused)
	}
	var n int
	b.run("count rows", chromedp.Evaluate(`document.querySelectorAll("table.coverage tbody tr.refused").length`, &n))
	if n != 1 {
		t.Fatalf("%d highlighted rows, want 1", n)
	}
	b.screenshot("coverage")

	for _, p := range []struct{ path, wait, shot string }{
		{"/console/apps", "table", "apps"},
		{"/console/apps/" + appID, "ul.pins", "manifest"},
		{"/console/apps/" + appID + "/rotation", "section.plan svg.curve", "rotation"},
		{"/console/alerts", "#resolved tr.resolved", "alerts"},
		{"/console/tokens", "table", "tokens"},
	} {
		b.run("open "+p.path, chromedp.Navigate(origin+p.path), chromedp.WaitVisible(p.wait, chromedp.ByQuery))
		switch p.shot {
		case "rotation":
			// The plan's adoption curve: its four stored samples, rising.
			var points []string
			b.run("curve points", chromedp.Evaluate(`[...document.querySelectorAll("section.plan svg.curve circle.curve-point title")].map(e => e.textContent.replace(/^.*: /, ""))`, &points))
			if got := strings.Join(points, " | "); got != "25.0% (30 of 120) | 41.7% (50 of 120) | 50.0% (60 of 120) | 58.3% (70 of 120)" {
				t.Fatalf("adoption curve points: %q", got)
			}
		case "alerts":
			// The renewed certificate's alert, resolved, beside the
			// firing one.
			if got := b.text("#resolved tr.resolved"); !strings.Contains(got, "PinsetCertificateExpiring") || !strings.Contains(got, "after 5 minutes") {
				t.Fatalf("resolved alert: %q", got)
			}
			if got := b.text("table tr.refused"); !strings.Contains(got, "PinsetCoverageLost") {
				t.Fatalf("firing alert: %q", got)
			}
		}
		b.screenshot(p.shot)
	}

	// Reports, and one report one click away.
	b.run("reports", chromedp.Navigate(app+"/reports"), chromedp.WaitVisible("svg.chart", chromedp.ByQuery))
	b.screenshot("reports")
	b.run("open a report", chromedp.Click(`a[href^="/console/reports/"]`, chromedp.ByQuery), chromedp.WaitVisible("pre.raw", chromedp.ByQuery))
	if raw := b.text("pre.raw"); !strings.Contains(raw, `"hostname"`) || !strings.Contains(raw, `"app-platform"`) {
		t.Fatalf("raw report: %q", raw)
	}
	b.screenshot("report")

	// History: the version pickers submit on change (the script), and
	// the diff between v1 and v2 shows next added, backup removed.
	b.run("history", chromedp.Navigate(app+"/history"), chromedp.WaitVisible("#diff", chromedp.ByID), waitEnhanced,
		chromedp.Evaluate(`(() => { const s = document.getElementById("from"); s.value = "2"; s.dispatchEvent(new Event("change")); return true })()`, nil),
		chromedp.WaitVisible(`#diff[data-from="2"][data-to="2"]`, chromedp.ByQuery))
	if got := b.text("#diff"); !strings.Contains(got, "No host or pin differs") {
		t.Fatalf("v2 against itself: %q", got)
	}
	b.run("pick v1", waitEnhanced, chromedp.Evaluate(`(() => { const s = document.getElementById("from"); s.value = "1"; s.dispatchEvent(new Event("change")); return true })()`, nil),
		chromedp.WaitVisible(`#diff[data-from="1"] li.removed`, chromedp.ByQuery))
	if got := b.text("#diff h2"); got != "v1 → v2" {
		t.Fatalf("diff heading %q", got)
	}
	if !strings.Contains(b.text("#diff li.added"), f.world.Pin("next").String()) ||
		!strings.Contains(b.text("#diff li.removed"), f.world.Pin("backup").String()) {
		t.Fatalf("diff: %q", b.text("#diff"))
	}
	b.screenshot("history")

	// Publish a manifest the gate refuses, read why, then force it.
	file := filepath.Join(t.TempDir(), "manifest-v3.json")
	if err := os.WriteFile(file, f.refused, 0o600); err != nil {
		t.Fatal(err)
	}
	b.run("upload", chromedp.Navigate(app+"/publish"), chromedp.WaitVisible("#envelope", chromedp.ByID),
		chromedp.SetUploadFiles("#envelope", []string{file}, chromedp.ByID),
		chromedp.Click(".publish-form button[type=submit]", chromedp.ByQuery),
		chromedp.WaitVisible(".result.bad", chromedp.ByQuery), waitEnhanced)
	why := b.text(".result.bad")
	if !strings.Contains(why, "publish_gate") || !strings.Contains(why, "127.0.0.4") {
		t.Fatalf("refusal: %q", why)
	}
	if g := b.text("section.gate"); !strings.Contains(g, "refused-pin") || !strings.Contains(g, "1 refused") {
		t.Fatalf("gate answer: %q", g)
	}
	b.screenshot("publish-refused")
	var disabled bool
	b.run("force", chromedp.SetUploadFiles("#envelope", []string{file}, chromedp.ByID),
		// The refusal ticks "force"; the script keeps the button disabled
		// until the app id is typed.
		chromedp.Evaluate(`document.querySelector(".publish-form button[type=submit]").disabled`, &disabled))
	if !disabled {
		t.Fatal("the upload button is enabled with force ticked and no confirmation typed")
	}
	b.run("confirm and upload", chromedp.SendKeys("#confirm", appID, chromedp.ByID),
		chromedp.Click(".publish-form button[type=submit]", chromedp.ByQuery),
		chromedp.WaitVisible(".result.ok", chromedp.ByQuery))
	if got := b.text(".result.ok"); !strings.Contains(got, "Published manifest v3") || !strings.Contains(got, "forced") {
		t.Fatalf("forced: %q", got)
	}
	b.screenshot("publish-forced")

	// Dark mode and a phone, for the docs.
	if *updateScreenshots {
		b.run("dark", emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}),
			chromedp.Navigate(app+"/coverage"), chromedp.WaitVisible("table.coverage", chromedp.ByQuery))
		b.screenshot("coverage-dark")
		b.run("phone", emulation.SetDeviceMetricsOverride(390, 844, 2, true), chromedp.Navigate(origin+"/console/apps/"+appID),
			chromedp.WaitVisible("ul.pins", chromedp.ByQuery))
		b.screenshot("manifest-phone")
		b.run("desktop", emulation.ClearDeviceMetricsOverride(), emulation.SetEmulatedMedia().WithFeatures(nil))
	}

	// Every request so far went to the service.
	for _, u := range b.requests() {
		if !strings.HasPrefix(u, origin+"/") {
			t.Errorf("a console page requested %s, outside the service (%s)", u, origin)
		}
	}

	// A cross-site form post (another origin, with the session cookie the
	// browser holds) is refused, and nothing changes.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!DOCTYPE html><form id="f" method="post" action="%s/console/tokens/revoke">
<input name="name" value="ci-deploy"></form><script>document.getElementById("f").submit()</script>`, origin)
	}))
	defer evil.Close()
	b.run("cross-site post", chromedp.Navigate(evil.URL), chromedp.WaitVisible("p.error", chromedp.ByQuery))
	if got := b.text("main"); !strings.Contains(got, "Request refused") || !strings.Contains(got, "Nothing was changed") {
		t.Fatalf("cross-site post: %q", got)
	}
	ts, _ := f.st.Tokens(context.Background())
	for _, tok := range ts {
		if !tok.RevokedAt.IsZero() {
			t.Fatalf("the cross-site post revoked %s", tok.Name)
		}
	}
	b.requests()

	// Sign out: the session is gone.
	b.run("sign out", chromedp.Navigate(origin+"/console/apps"), chromedp.WaitVisible(".signout button", chromedp.ByQuery),
		chromedp.Click(".signout button", chromedp.ByQuery), chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.Navigate(origin+"/console/apps"), chromedp.WaitVisible("#token", chromedp.ByID))
	for _, u := range b.requests() {
		if !strings.HasPrefix(u, origin+"/") {
			t.Errorf("a console page requested %s, outside the service", u)
		}
	}
	if !strings.Contains(f.logs.String(), "action=sign-out token=alice") {
		t.Errorf("sign-out not audited")
	}
	_ = url.Values{}
}
