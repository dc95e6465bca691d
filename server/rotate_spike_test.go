package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"pinset.dev/pinset/alert"
	"pinset.dev/pinset/check"
	"pinset.dev/pinset/monitor"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/rotate"
)

// spikeEnv is a rotEnv whose service is on a real loopback listener (the
// reports are posted to it over HTTP) with a real monitor: its report-spike
// rule (5 reports per 15 minutes) watches the plans, and its alerts go to
// a webhook receiver on loopback.
type spikeEnv struct {
	*rotEnv
	url string

	mu   sync.Mutex
	msgs []alert.WebhookMessage
}

func newSpikeEnv(t *testing.T, abort bool) *spikeEnv {
	se := &spikeEnv{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m alert.WebhookMessage
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		se.mu.Lock()
		se.msgs = append(se.msgs, m)
		se.mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	se.rotEnv = newRotEnv(t, 1, true, func(c *Config) {
		alerts := alert.NewManager([]alert.Route{{Notifier: &alert.Webhook{URL: hook.URL, Client: hook.Client()}}}, alert.Options{Now: c.Now})
		c.Rotation.Spikes = monitor.New(c.Store, monitor.Config{SpikeThreshold: 5, SpikeWindow: 15 * time.Minute, Alerts: alerts, Now: c.Now})
		c.Rotation.AbortOnReportSpike = abort
	})
	hs := httptest.NewServer(se.srv)
	t.Cleanup(hs.Close)
	se.url = hs.URL
	return se
}

// report posts n TrustKit iOS pin-failure reports for rotHost to the
// service over HTTP, dated now (one failure and its repeats: the spike
// rule counts arrivals).
func (se *spikeEnv) report(n int) {
	se.t.Helper()
	for i := range n {
		body := trustkitReport(se.t, map[string]any{"hostname": rotHost, "date-time": se.clock.Now().UTC().Format(time.RFC3339)})
		res, err := http.Post(se.url+"/v1/apps/shop/reports", "application/json", bytes.NewReader(body))
		if err != nil {
			se.t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK { // 200: a repeat, counted
			se.t.Fatalf("report %d: %s", i, res.Status)
		}
	}
}

// spikeAlerts returns the PinsetRotationReportSpike alerts delivered so far.
func (se *spikeEnv) spikeAlerts() []alert.WebhookAlert {
	se.mu.Lock()
	defer se.mu.Unlock()
	var out []alert.WebhookAlert
	for _, m := range se.msgs {
		for _, a := range m.Alerts {
			if a.Labels["alertname"] == monitor.AlertRotationSpike {
				out = append(out, a)
			}
		}
	}
	return out
}

// serving counts the fleet's addresses that serve the key of name.
func (se *spikeEnv) serving(name string) int {
	se.t.Helper()
	rep, err := check.Run(context.Background(), []policy.Policy{{Pattern: rotHost, Pins: []pin.Pin{se.world.Pin(name)}}}, nil, se.opts)
	if err != nil {
		se.t.Fatal(err)
	}
	return rep.Summary.Accepted
}

// TestRotationReportSpike: pin-failure reports posted to the service
// before the switch do not count against the plan, even inside the spike
// window; a spike after the switch (the monitor's rule: 5 reports in 15
// minutes) fires PinsetRotationReportSpike to the webhook and, with
// rotation.abort_on_report_spike, aborts the plan through the abort path
// (every address back on the old key, the audit naming the spike); with
// the option off the alert fires and the plan goes on to done.
func TestRotationReportSpike(t *testing.T) {
	for _, abort := range []bool{true, false} {
		t.Run(fmt.Sprintf("abort=%v", abort), func(t *testing.T) {
			se := newSpikeEnv(t, abort)
			r := se.rotEnv
			st := r.start(fmt.Sprintf(`{"host":%q,"next_pin":%q,"old_pin":%q,"min_clients":1,"hold_down_seconds":0}`,
				rotHost, r.world.Pin("next"), r.world.Pin("old")))
			r.expect(st, rotate.Adopting, "at least 1 active installs")

			// Reports before the switch: a spike for the monitor, not for the plan.
			se.report(6)
			r.installs(0, 1, r.v0+1)
			r.deploySkip = 2 // the plan waits in verifying
			r.clock.Add(2 * time.Minute)
			st = r.step(st.ID)
			r.expect(st, rotate.Verifying, "does not serve the next key yet")
			r.clock.Add(time.Minute)
			st = r.step(st.ID)
			r.expect(st, rotate.Verifying, "does not serve the next key yet")
			if a := se.spikeAlerts(); len(a) != 0 {
				t.Fatalf("reports from before the switch raised %+v", a)
			}

			// A spike after the switch.
			se.report(5)
			r.clock.Add(time.Minute)
			st = r.step(st.ID)
			alerts := se.spikeAlerts()
			if len(alerts) != 1 || alerts[0].Status != "firing" || alerts[0].Labels["plan"] != fmt.Sprint(st.ID) ||
				alerts[0].Labels["host"] != rotHost || alerts[0].Labels["app"] != "shop" ||
				!strings.Contains(alerts[0].Annotations["summary"], "5 pin-failure reports since the switch") {
				t.Fatalf("spike alerts %+v", alerts)
			}
			desc := alerts[0].Annotations["description"]
			t.Logf("alert: %s / %s", alerts[0].Annotations["summary"], desc)
			audit, err := r.st.PlanAudit(context.Background(), st.ID)
			if err != nil {
				t.Fatal(err)
			}
			last := audit[len(audit)-1]
			if abort {
				if st.State != rotate.Aborted || !strings.Contains(desc, "aborting the plan") {
					t.Fatalf("plan %s (%s), alert %q; want aborted", st.State, st.BlockedBy, desc)
				}
				if last.What != "abort" || last.Token != serviceActor || !strings.Contains(last.Why, "a spike of pin-failure reports") ||
					!strings.Contains(last.Why, "returned every address to the old key") {
					t.Fatalf("last audit row %+v", last)
				}
				if d := r.deploys[len(r.deploys)-1]; d.Action != "rollback" || d.Pin != r.world.Pin("old") {
					t.Fatalf("deploys %+v", r.deploys)
				}
				if n := se.serving("old"); n != 3 {
					t.Fatalf("%d of 3 addresses back on the old key", n)
				}
				return
			}
			r.expect(st, rotate.Verifying, "does not serve the next key yet")
			if !strings.Contains(desc, "the plan goes on") || !strings.Contains(desc, "pinset rotate abort") {
				t.Fatalf("alert %q", desc)
			}
			spikeRows := 0
			for _, a := range audit {
				if a.What == "abort" {
					t.Fatalf("aborted with the option off: %+v", a)
				}
				if a.What == "report-spike" && a.Token == serviceActor && strings.Contains(a.Why, "the plan goes on") {
					spikeRows++
				}
			}
			if spikeRows != 1 {
				t.Fatalf("%d report-spike rows in the audit %+v, want 1", spikeRows, audit)
			}
			r.clock.Add(time.Minute) // still spiking: alerted, not audited again
			r.expect(r.step(st.ID), rotate.Verifying, "does not serve the next key yet")
			r.fleet.SetCert(2, r.leaf("next"))
			st = r.step(st.ID)
			r.expect(st, rotate.Done, "")
			if audit, _ := r.st.PlanAudit(context.Background(), st.ID); strings.Count(fmt.Sprint(audit), "report-spike") != 1 {
				t.Fatalf("audit %+v, want one report-spike row", audit)
			}
			if len(se.spikeAlerts()) != 1 {
				t.Fatalf("alert repeated: %+v", se.spikeAlerts())
			}
		})
	}
}
