package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"pinset.dev/pinset/rotate"
	"pinset.dev/pinset/telemetry"
)

// netClient fetches from the real listener at base with local address
// 127.0.n.1: on loopback every third octet is a /24 of its own, a client
// network as the adoption recorder counts them.
type netClient struct {
	base string
	hc   *http.Client
}

func newNetClient(t *testing.T, base string, n int) *netClient {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, byte(n), 1)}}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 8}
	t.Cleanup(tr.CloseIdleConnections)
	return &netClient{base: base, hc: &http.Client{Transport: tr}}
}

func (c *netClient) get(path string, hdr ...string) (*http.Response, []byte, error) {
	req, err := http.NewRequest("GET", c.base+path, nil)
	if err != nil {
		return nil, nil, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, b, err
}

// fetchAs fetches the manifest as the installs ids, claiming manifest
// version v, with parallel requests.
func (c *netClient) fetchAs(ids []string, v uint64) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next = make(chan string)
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range next {
				info := telemetry.Info{ID: id, RootVersion: 2, ManifestVersion: v, SDK: "test/1"}
				res, _, err := c.get("/v1/apps/shop/pins.json", telemetry.Header, info.String())
				if err == nil && res.StatusCode != 200 {
					err = fmt.Errorf("pins.json: %d", res.StatusCode)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, id := range ids {
		next <- id
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

func installIDs(prefix, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x%024x", prefix, i)
	}
	return ids
}

// TestForgedTelemetryHoldsThePlan: a forger on one network sends 10,000
// made-up install ids claiming the manifest that pins the next key, over
// real HTTP to the service's real listener, while 120 real installs on 40
// other networks still hold the old manifest. With the default cap the
// network counts 64 installs, the rest is capped (answer, metric,
// blocked_by); with the cap lifted the install fraction passes the
// threshold but the per-network gate holds the plan in adopting. Once the
// real installs fetch the new manifest the plan moves to ready.
func TestForgedTelemetryHoldsThePlan(t *testing.T) {
	for _, c := range []struct {
		name   string
		perNet int
		capped int64
	}{
		{"default cap", 0, 10_000 - DefaultMaxInstallsPerNetwork},
		{"cap lifted, the per-network gate alone", 1_000_000, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRotEnv(t, 1, false, func(cfg *Config) { cfg.Adoption.MaxInstallsPerNetwork = c.perNet })
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.srv.Serve(ctx, ln, nil) }()
			t.Cleanup(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("serve: %v", err)
				}
			})
			base := "http://" + ln.Addr().String()

			next, old := r.world.Pin("next"), r.world.Pin("old")
			st := r.start(fmt.Sprintf(`{"host":%q,"next_pin":%q,"old_pin":%q,"min_clients":100,"hold_down_seconds":0,"threshold":0.95}`, rotHost, next, old))
			r.expect(st, rotate.Adopting, "at least 100 active installs (0 seen)")
			announce := r.v0 + 1

			installs := make([]*netClient, 40)
			for i := range installs {
				installs[i] = newNetClient(t, base, 1+i)
				if err := installs[i].fetchAs(installIDs(1+i, 3), r.v0); err != nil {
					t.Fatal(err)
				}
			}
			forger := newNetClient(t, base, 200)
			if err := forger.fetchAs(installIDs(200, 10_000), announce); err != nil {
				t.Fatal(err)
			}
			if err := r.srv.FlushAdoption(context.Background()); err != nil {
				t.Fatal(err)
			}

			counted := int64(10_000) - c.capped
			st = r.step(st.ID)
			r.expect(st, rotate.Adopting, "adoption 0.95 across client networks, each network weighing the same (now 0.02439 over 41 networks)")
			if c.capped > 0 {
				r.expect(st, rotate.Adopting, fmt.Sprintf("%d manifest fetches were not counted: their network already had %d installs counted", c.capped, DefaultMaxInstallsPerNetwork))
			} else if strings.Contains(st.BlockedBy, "not counted") || strings.Contains(st.BlockedBy, "adoption 0.95 of active installs") {
				t.Fatalf("with the cap lifted only the per-network gate should hold: %q", st.BlockedBy)
			}
			if st.ActiveClients != 120+counted || st.Clients != counted || st.Networks != 41 {
				t.Fatalf("status: active %d, clients %d, networks %d", st.ActiveClients, st.Clients, st.Networks)
			}

			// The adoption answer, over the real listener.
			res, body, err := newNetClient(t, base, 1).get("/v1/admin/apps/shop/adoption", "Authorization", "Bearer "+r.token)
			if err != nil || res.StatusCode != 200 {
				t.Fatalf("adoption: %v %v %s", res, err, body)
			}
			var rep AdoptionReport
			if err := json.Unmarshal(body, &rep); err != nil {
				t.Fatal(err)
			}
			if rep.ActiveClients != 120+counted || rep.Networks != 41 || rep.CappedSightings != c.capped {
				t.Fatalf("adoption answer: active %d, networks %d, capped %d", rep.ActiveClients, rep.Networks, rep.CappedSightings)
			}
			metrics := string(r.do("GET", "/metrics", nil).body)
			if line := fmt.Sprintf("pinset_adoption_sightings_capped_total %d\n", c.capped); !strings.Contains(metrics, line) {
				t.Errorf("metrics lack %q", line)
			}

			// The real installs fetch the announcing manifest: ready.
			for i, cl := range installs {
				if err := cl.fetchAs(installIDs(1+i, 3), announce); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.srv.FlushAdoption(context.Background()); err != nil {
				t.Fatal(err)
			}
			st = r.step(st.ID)
			r.expect(st, rotate.Ready, "pinset rotate advance")
			if st.NetworkAdoption != 1 || st.Adoption != 1 {
				t.Fatalf("status after the fleet adopted: %+v", st)
			}
		})
	}
}

// TestClientNetwork: IPv4 clients count by /24, IPv6 ones by /64 (an
// IPv4-mapped address as IPv4); the stored key of a network names no
// address and changes with the app and the salt day.
func TestClientNetwork(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.77:443":              "192.0.2.0/24",
		"127.0.9.1:1":                 "127.0.9.0/24",
		"[::ffff:198.51.100.7]:1":     "198.51.100.0/24",
		"[2001:db8:1:2:3:4:5:6]:8443": "2001:db8:1:2::/64",
		"[fe80::1%eth0]:1":            "fe80::/64",
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr = addr
		if got := clientNetwork(r); got != want {
			t.Errorf("clientNetwork(%s) = %s, want %s", addr, got, want)
		}
	}
	e := newEnv(t, nil)
	a := e.srv.adoption
	now := e.clock.Now()
	k := a.networkKey("shop", "192.0.2.0/24", now)
	if !strings.HasPrefix(k, "n-") || strings.Contains(k, "192") || len(k) != 2+30 {
		t.Fatalf("network key %q", k)
	}
	if a.networkKey("shop", "192.0.2.0/24", now) != k || a.networkKey("other", "192.0.2.0/24", now) == k ||
		a.networkKey("shop", "192.0.3.0/24", now) == k || a.networkKey("shop", "192.0.2.0/24", now.Add(24*time.Hour)) == k {
		t.Fatal("network keys: want one per app, network and salt day")
	}
	// A fetch of the day before, flushed after one of the new day, takes
	// the new day's salt: one key per network across the flush.
	next := a.networkKey("shop", "192.0.2.0/24", now.Add(24*time.Hour))
	if late := a.networkKey("shop", "192.0.2.0/24", now); late != next {
		t.Fatal("a late fetch of the day before drew another salt")
	}
}
