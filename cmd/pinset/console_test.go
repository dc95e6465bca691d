package main

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"pinset.dev/pinset/server"
	"pinset.dev/pinset/store"
)

// serve wires the console: on by default under /console/, with the
// monitor's alerts when a monitor runs; off with console.enabled: false;
// a bad session_lifetime is refused.
func TestServeConsoleHook(t *testing.T) {
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "pinset.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var last *serveConfig
	build := func(yamlText string) (*server.Config, error) {
		cfg, err := monitorTestConfig(t, yamlText)
		if err != nil {
			t.Fatal(err)
		}
		last = cfg
		sc := &server.Config{Store: st}
		// The console's hook runs first (file order): it must still get
		// the monitor's alerts, set by the monitor's hook after it.
		for _, h := range []func(*serveConfig, *server.Config) error{consoleServeHook, monitorServeHook} {
			if err := h(cfg, sc); err != nil {
				return nil, err
			}
		}
		return sc, nil
	}
	sc, err := build("monitor:\n  interval: 1h\n")
	if err != nil {
		t.Fatal(err)
	}
	if last.alerts == nil {
		t.Fatal("the monitor's hook did not hand its alerts to the console")
	}
	srv, err := server.New(*sc)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "/console/alerts", nil))
	if rec.Code != 303 || !strings.HasPrefix(rec.Header().Get("Location"), "/console/signin") {
		t.Fatalf("console page signed out: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	rec = httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "/console/signin", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Security-Policy") == "" {
		t.Fatalf("sign-in page: %d", rec.Code)
	}
	sc, err = build("console:\n  enabled: false\n")
	if err != nil || sc.Console != nil {
		t.Fatalf("console.enabled false: %v, console %v", err, sc.Console != nil)
	}
	if _, err := build("console:\n  session_lifetime: 3x\n"); err == nil || !strings.Contains(err.Error(), "console.session_lifetime") {
		t.Fatalf("bad session_lifetime: %v", err)
	}
}
