package check_test

import (
	"bytes"
	"context"
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
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "pinset.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := server.New(server.Config{Store: st, Now: now, PublishGate: check.ManifestGate(opts(w, f, now()))})
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
	put := func(path string, body []byte) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, hs.URL+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
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
