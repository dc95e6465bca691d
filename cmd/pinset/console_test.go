package main

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"pinset.dev/pinset/monitor"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/server/serveconfig"
	"pinset.dev/pinset/store"
)

// wireConsole serves the console under /console/ when the configuration
// has it, and none when it is off.
func TestWireConsole(t *testing.T) {
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "pinset.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sc := &server.Config{Store: st}
	wireConsole(nil, sc, nil)
	if sc.Console != nil {
		t.Fatal("console wired although the configuration turns it off")
	}
	wireConsole(&serveconfig.ConsoleSettings{}, sc, monitor.New(st, monitor.Config{}))
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
}
