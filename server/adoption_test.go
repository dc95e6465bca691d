package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/store"
	"pinset.dev/pinset/telemetry"
	"pinset.dev/pinset/trust"
	"pinset.dev/pinset/trust/trusttest"
)

func tele(id string, manifest uint64) string {
	return telemetry.Info{ID: fmt.Sprintf("%032x", id), RootVersion: 1, ManifestVersion: manifest, SDK: "test/1"}.String()
}

func vc(v, n int64) store.VersionCount { return store.VersionCount{ManifestVersion: v, Clients: n} }

func TestAdoptionSQLite(t *testing.T) { testAdoption(t, newEnv(t, nil)) }
func TestAdoptionPostgres(t *testing.T) {
	st, err := store.OpenPostgres(context.Background(), postgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	testAdoption(t, newEnvStore(t, st, nil))
}

// testAdoption: installs with telemetry count once each at the version
// they report; installs without it count per hashed address at the
// version their If-None-Match names (0 when none or unknown); an invalid
// header counts as none; the answer has exactly the documented shape and
// the gauges follow it.
func testAdoption(t *testing.T, e *env) {
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	m1 := e.do("GET", "/v1/apps/shop/pins.json", nil, "RemoteAddr", "192.0.2.9:1")
	next := trusttest.Pin("api-next")
	m2 := e.repo.PublishManifest(func(m *trust.Manifest) { m.Hosts[0].Pins = append(m.Hosts[0].Pins, next) })
	e.mustPublish("pins", m2)
	m2gz := e.do("GET", "/v1/apps/shop/pins.json", nil, "Accept-Encoding", "gzip", "RemoteAddr", "192.0.2.9:1")

	get := func(hdr ...string) {
		t.Helper()
		if r := e.do("GET", "/v1/apps/shop/pins.json", nil, hdr...); r.code != 200 && r.code != 304 {
			t.Fatalf("GET pins.json %v: %d", hdr, r.code)
		}
	}
	get(telemetry.Header, tele("a", 1), "RemoteAddr", "10.0.0.9:1")
	get(telemetry.Header, tele("b", 2), "RemoteAddr", "10.0.0.9:2")
	get(telemetry.Header, tele("b", 2), "RemoteAddr", "10.0.0.8:3") // the same install from elsewhere: once
	get("If-None-Match", m1.h.Get("ETag"), "RemoteAddr", "10.0.0.1:5")
	get("If-None-Match", m1.h.Get("ETag"), "RemoteAddr", "10.0.0.1:6") // the same address: once
	get("If-None-Match", "W/"+m2gz.h.Get("ETag"), "RemoteAddr", "10.0.0.2:5")
	get("RemoteAddr", "10.0.0.3:5")                                                                  // no If-None-Match: version unknown
	get(telemetry.Header, "v=1;id=x", "If-None-Match", m1.h.Get("ETag"), "RemoteAddr", "10.0.0.4:5") // invalid: as if absent
	if err := e.srv.FlushAdoption(context.Background()); err != nil {
		t.Fatal(err)
	}

	r := e.admin("GET", "/v1/admin/apps/shop/adoption", nil)
	if r.code != 200 {
		t.Fatalf("adoption: %d %s", r.code, r.body)
	}
	var raw map[string]json.RawMessage
	r.json(t, &raw)
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if want := []string{"active_clients", "app", "capped_sightings", "max_installs_per_network", "networks", "pins", "versions", "window_seconds"}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("answer keys %v, want %v", keys, want)
	}
	var got AdoptionReport
	r.json(t, &got)
	// 192.0.2.9 fetched twice without telemetry (v0); a, b; 10.0.0.1 (v1),
	// 10.0.0.2 (v2), 10.0.0.3 (v0), 10.0.0.4 (v1).
	if got.App != "shop" || got.WindowSeconds != 604800 || got.ActiveClients != 7 {
		t.Fatalf("adoption %+v", got)
	}
	if want := []store.VersionCount{vc(0, 2), vc(1, 3), vc(2, 2)}; !reflect.DeepEqual(got.Versions, want) {
		t.Fatalf("versions %+v, want %+v", got.Versions, want)
	}
	pins := map[string]PinAdoption{}
	for _, p := range got.Pins {
		pins[p.Pin] = p
	}
	for name, want := range map[string]int64{"api-live": 5, "api-next": 2, "cdn-backup": 5} {
		p := pins[trusttest.Pin(name).String()]
		if p.Clients != want || p.Fraction != float64(want)/7 {
			t.Errorf("pin %s: %+v, want %d/7", name, p, want)
		}
	}
	// Two networks: 192.0.2.0/24 (one install, v0) and 10.0.0.0/24 (six
	// installs, two at v2, three at v1); each weighs the same.
	if got.Networks != 2 || got.CappedSightings != 0 || got.MaxInstallsPerNetwork != DefaultMaxInstallsPerNetwork {
		t.Errorf("networks %d, capped %d, cap %d", got.Networks, got.CappedSightings, got.MaxInstallsPerNetwork)
	}
	for name, want := range map[string]float64{"api-live": (0 + 5.0/6) / 2, "api-next": (0 + 2.0/6) / 2} {
		if p := pins[trusttest.Pin(name).String()]; p.NetworkFraction != want {
			t.Errorf("pin %s: network fraction %g, want %g", name, p.NetworkFraction, want)
		}
	}
	if len(got.Pins) != 5 {
		t.Errorf("%d pins, want the 5 of manifests 1 and 2", len(got.Pins))
	}

	// Gauges, labelled from stored data.
	metrics := string(e.do("GET", "/metrics", nil).body)
	for _, line := range []string{
		`pinset_adoption_active_clients{app="shop"} 7`,
		fmt.Sprintf(`pinset_pin_adoption_ratio{app="shop",pin="%s"} %g`, next, 2.0/7),
		`pinset_telemetry_headers_total{result="invalid"} 1`,
		`pinset_telemetry_headers_total{result="valid"} 3`,
	} {
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("metrics lack %q", line)
		}
	}

	// The next day a headerless address is another key (the salt
	// changed); eight days on, only what was seen in the window counts.
	e.clock.Add(24 * time.Hour)
	get("If-None-Match", m1.h.Get("ETag"), "RemoteAddr", "10.0.0.1:5")
	e.srv.FlushAdoption(context.Background())
	if rep, _ := e.srv.Adoption(context.Background(), "shop"); rep.ActiveClients != 8 {
		t.Fatalf("next day: active %d, want 8", rep.ActiveClients)
	}
	e.clock.Add(7*24*time.Hour + time.Second)
	get(telemetry.Header, tele("a", 2))
	e.srv.FlushAdoption(context.Background())
	rep, err := e.srv.Adoption(context.Background(), "shop")
	if err != nil || rep.ActiveClients != 1 || !reflect.DeepEqual(rep.Versions, []store.VersionCount{vc(2, 1)}) {
		t.Fatalf("after the window: %+v, %v", rep, err)
	}
	if n, f := rep.HostPinFraction("api.example.com", next); n != 1 || f != 1 {
		t.Errorf("HostPinFraction = %d, %g", n, f)
	}
	if n, _ := rep.HostPinFraction("**.cdn.example.com", next); n != 0 {
		t.Errorf("the next pin counted for another host: %d", n)
	}
	// The flush pruned the rows older than the window.
	if all, _ := e.st.Adoption(context.Background(), "shop", time.Time{}); all.Active != 1 {
		t.Errorf("rows kept beyond the window: %d", all.Active)
	}
	if r := e.admin("GET", "/v1/admin/apps/nope/adoption", nil); r.code != 404 {
		t.Errorf("unknown app: %d", r.code)
	}
	if r := e.do("GET", "/v1/admin/apps/shop/adoption", nil); r.code != 401 {
		t.Errorf("without a token: %d", r.code)
	}
}

// TestAdoptionFlushesByItself: without an explicit flush, fetches reach
// the store within the flush interval.
func TestAdoptionFlushesByItself(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Adoption.FlushInterval = 10 * time.Millisecond })
	e.mustPublish("root", e.repo.Root())
	e.mustPublish("pins", e.repo.Manifest())
	e.do("GET", "/v1/apps/shop/pins.json", nil, telemetry.Header, tele("a", 1))
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := e.st.Adoption(context.Background(), "shop", time.Time{})
		if err == nil && c.Active == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not written: %+v %v", c, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkManifestTelemetry is the 304 path of BenchmarkManifest with
// adoption recording off, with a telemetry header, and without one.
func BenchmarkManifestTelemetry(b *testing.B) {
	for _, c := range []struct {
		name string
		off  bool
		hdr  bool
	}{{"off", true, false}, {"header", false, true}, {"no-header", false, false}} {
		b.Run(c.name, func(b *testing.B) {
			e := newEnv(b, func(cfg *Config) {
				cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
				cfg.Adoption.Off = c.off
			})
			e.mustPublish("root", e.repo.Root())
			e.mustPublish("pins", e.repo.Manifest())
			etag := e.do("GET", "/v1/apps/shop/pins.json", nil).h.Get("ETag")
			req := httptest.NewRequest("GET", "/v1/apps/shop/pins.json", nil)
			req.Header.Set("If-None-Match", etag)
			if c.hdr {
				req.Header.Set(telemetry.Header, tele("a", 1))
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					w := &discardWriter{h: make(http.Header)}
					e.srv.ServeHTTP(w, req.Clone(req.Context()))
					if w.code != 304 {
						b.Errorf("status %d", w.code)
						return
					}
				}
			})
		})
	}
}
