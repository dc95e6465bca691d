package main

import (
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/monitor"
	"pinset.dev/pinset/server"
	"pinset.dev/pinset/server/serveconfig"
	"pinset.dev/pinset/store"
)

// monitorTestConfig loads a serve configuration and builds it, as runServe
// does, returning the monitor's part.
func monitorTestConfig(t *testing.T, yamlText string) (*monitor.Config, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pinset.yaml")
	if err := os.WriteFile(p, []byte(yamlText), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := serveconfig.Load(p)
	if err != nil {
		return nil, err
	}
	svc, err := f.Build(io.Discard)
	if err != nil {
		return nil, err
	}
	return svc.Monitor, nil
}

func TestServeMonitorWiring(t *testing.T) {
	cfg, err := monitorTestConfig(t, `
monitor:
  interval: 1m
  timeout: 2s
  expiry_warning: 14d
  report_spike: {threshold: 5, window: 10m}
  external_url: http://127.0.0.1:8080
  alerts:
    - slack: http://127.0.0.1:1/slack
    - alertmanager: http://127.0.0.1:1
    - webhook: http://127.0.0.1:1/hook
`)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "pinset.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sc := &server.Config{Store: st}
	if _, err := wireMonitor(cfg, sc, nil); err != nil {
		t.Fatal(err)
	}
	if len(sc.Tasks) != 1 || sc.Registry == nil || sc.Routes == nil {
		t.Fatalf("tasks %d, registry %v, routes %v", len(sc.Tasks), sc.Registry, sc.Routes != nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sc.Tasks[0](ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if monitorRounds(t, sc) >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the monitor task ran no round")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("task ended with %v", err)
	}

	// The admin endpoints are served by the real server, behind its tokens.
	srv, err := server.New(*sc)
	if err != nil {
		t.Fatal(err)
	}
	secret, hash, err := store.NewToken(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddToken(context.Background(), "monitor-test", hash, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token string
		code  int
	}{{"", 401}, {secret, 200}} {
		req := httptest.NewRequest("GET", "/v1/admin/monitor/alerts", nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != tc.code || (tc.code == 200 && !strings.Contains(w.Body.String(), `"alerts": []`)) {
			t.Fatalf("token %v: %d %s", tc.token != "", w.Code, w.Body.String())
		}
	}

	// Disabled: no task.
	cfg, _ = monitorTestConfig(t, "monitor: {enabled: false}\n")
	sc = &server.Config{Store: st}
	if _, err := wireMonitor(cfg, sc, nil); err != nil || len(sc.Tasks) != 0 {
		t.Fatalf("disabled monitor: %v, %d tasks", err, len(sc.Tasks))
	}
}

// monitorRounds reads pinset_monitor_rounds_total from the registry.
func monitorRounds(t *testing.T, sc *server.Config) float64 {
	mfs, err := sc.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "pinset_monitor_rounds_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

func TestServeMonitorConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"monitor: {intervall: 5m}\n", "intervall"},
		{"monitor: {interval: 1s}\n", "at least 10s"},
		{"monitor: {interval: soon}\n", "monitor.interval"},
		{"monitor: {expiry_warning: x}\n", "monitor.expiry_warning"},
		{"monitor: {resolve: [nonsense]}\n", "HOST:PORT:ADDR"},
		{"monitor:\n  alerts:\n    - {slack: http://a, webhook: http://b}\n", "exactly one"},
		{"monitor:\n  alerts:\n    - {}\n", "exactly one"},
	} {
		cfg, err := monitorTestConfig(t, tc.yaml)
		if err == nil {
			_, err = wireMonitor(cfg, &server.Config{}, nil)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
