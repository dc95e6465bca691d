package rotate

import (
	"errors"
	"strings"
	"testing"
	"time"

	"pinset.dev/pinset/pin"
)

var (
	t0   = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	next = pin.Pin{1}
	old  = pin.Pin{2}
)

func plan(s State, mod ...func(*Plan)) Plan {
	p := Plan{App: "shop", Host: "api.example.com", NextPin: next, OldPin: old, State: s, AnnouncedAt: t0,
		Config: Config{HoldDown: DefaultHoldDown}.WithDefaults()}
	for _, m := range mod {
		m(&p)
	}
	return p
}

func awaiting(what string) func(*Plan) { return func(p *Plan) { p.Awaiting = what } }

// ready is an observation in which adoption, hold-down and min-clients
// are all met.
func ready(mod ...func(*Observation)) Observation {
	o := Observation{Now: t0.Add(8 * 24 * time.Hour), NextPublished: true, OldPublished: true, ManifestVersion: 7,
		Active: 1000, NextClients: 995, Networks: 200, NextNetworkShare: 0.995, SignersNeeded: 2}
	for _, m := range mod {
		m(&o)
	}
	return o
}

func TestDecide(t *testing.T) {
	for _, c := range []struct {
		name     string
		p        Plan
		o        Observation
		state    State
		awaiting string
		action   Action
		blocked  string // substring; "" means not blocked
	}{
		// Announcing.
		{"new, next already published", plan(New), ready(), Announced, "", NoAction, ""},
		{"new, service signs", plan(New), ready(func(o *Observation) { o.NextPublished, o.CanSign = false, true }), New, "", PublishAnnounce, ""},
		{"new, offline signatures", plan(New), ready(func(o *Observation) { o.NextPublished = false }), AwaitingSignatures, AwaitAnnounce, NoAction, "needs 2 signatures"},
		{"new, publish refused", plan(New), ready(func(o *Observation) {
			o.NextPublished, o.CanSign, o.PublishErr = false, true, errors.New("gate: 127.0.0.2 refused")
		}), AwaitingSignatures, AwaitAnnounce, NoAction, "gate: 127.0.0.2 refused"},
		{"awaiting announce, still unsigned", plan(AwaitingSignatures, awaiting(AwaitAnnounce)), ready(func(o *Observation) { o.NextPublished = false }), AwaitingSignatures, AwaitAnnounce, NoAction, "pinset sign"},
		{"awaiting announce, published", plan(AwaitingSignatures, awaiting(AwaitAnnounce)), ready(), Announced, "", NoAction, ""},
		{"announced", plan(Announced), ready(), Adopting, "", NoAction, ""},

		// Adopting: every condition on its own.
		{"adopting, all met", plan(Adopting), ready(), Ready, "", NoAction, "pinset rotate advance"},
		{"adopting, exactly the threshold", plan(Adopting), ready(func(o *Observation) { o.NextClients = 990 }), Ready, "", NoAction, "pinset rotate advance"},
		{"adopting, below threshold", plan(Adopting), ready(func(o *Observation) { o.NextClients = 989 }), Adopting, "", NoAction, "adoption 0.99"},
		{"adopting, hold-down", plan(Adopting), ready(func(o *Observation) { o.Now = t0.Add(7*24*time.Hour - time.Second) }), Adopting, "", NoAction, "hold-down until"},
		{"adopting, hold-down just passed", plan(Adopting), ready(func(o *Observation) { o.Now = t0.Add(7 * 24 * time.Hour) }), Ready, "", NoAction, "pinset rotate advance"},
		{"adopting, too few installs", plan(Adopting), ready(func(o *Observation) { o.Active, o.NextClients = 99, 99 }), Adopting, "", NoAction, "at least 100 active installs (99 seen)"},
		{"adopting, min-clients 5", plan(Adopting, func(p *Plan) { p.MinClients = 5 }), ready(func(o *Observation) { o.Active, o.NextClients = 5, 5 }), Ready, "", NoAction, "pinset rotate advance"},
		// The cross-check on forged telemetry: 10,000 made-up installs
		// claiming the next pin from one network of 200 lift the install
		// fraction but not the per-network one.
		{"adopting, installs forged from one network", plan(Adopting), ready(func(o *Observation) {
			o.Active, o.NextClients, o.Networks, o.NextNetworkShare = 11000, 10990, 200, 0.005
		}), Adopting, "", NoAction, "adoption 0.99 across client networks, each network weighing the same (now 0.005 over 200 networks)"},
		{"adopting, network share just below", plan(Adopting), ready(func(o *Observation) { o.NextNetworkShare = 0.9899 }), Adopting, "", NoAction, "across client networks"},
		{"adopting, network share at the threshold", plan(Adopting), ready(func(o *Observation) { o.NextNetworkShare = 0.99 }), Ready, "", NoAction, "pinset rotate advance"},
		{"adopting, no network measured", plan(Adopting), ready(func(o *Observation) { o.Networks, o.NextNetworkShare = 0, 1 }), Adopting, "", NoAction, "over 0 networks"},
		{"adopting, capped sightings named while waiting", plan(Adopting), ready(func(o *Observation) {
			o.NextClients, o.CappedSightings, o.MaxInstallsPerNetwork = 500, 9936, 64
		}), Adopting, "", NoAction, "9936 manifest fetches were not counted: their network already had 64 installs counted"},
		{"adopting, nobody", plan(Adopting, func(p *Plan) { p.MinClients = 1 }), ready(func(o *Observation) { o.Active, o.NextClients = 0, 0 }), Adopting, "", NoAction, "at least 1 active"},
		{"adopting, next pin unpublished", plan(Adopting), ready(func(o *Observation) { o.NextPublished = false }), Adopting, "", NoAction, "does not pin the next key"},

		// Switching.
		{"ready, manual, waiting", plan(Ready), ready(), Ready, "", NoAction, "pinset rotate advance"},
		{"ready, manual, confirmed", plan(Ready), ready(func(o *Observation) { o.Advance = true }), Switching, "", NoAction, ""},
		{"ready, deploy command", plan(Ready), ready(func(o *Observation) { o.Deploy = true }), Switching, "", NoAction, ""},
		{"switching, deploy", plan(Switching), ready(func(o *Observation) { o.Deploy = true }), Switching, "", Deploy, ""},
		{"switching, deploy failed", plan(Switching), ready(func(o *Observation) { o.Deploy, o.DeployErr = true, errors.New("exit status 3") }), Switching, "", NoAction, "exit status 3"},
		{"switching, deployed", plan(Switching, func(p *Plan) { p.Deployed = true }), ready(func(o *Observation) { o.Deploy = true }), Verifying, "", NoAction, ""},
		{"switching, manual", plan(Switching), ready(), Verifying, "", NoAction, ""},

		// Verifying.
		{"verifying, run it", plan(Verifying), ready(), Verifying, "", Verify, ""},
		{"verifying, failed", plan(Verifying), ready(func(o *Observation) { o.Verified = &Verification{Detail: "127.0.0.3 serves the old key"} }), Verifying, "", NoAction, "127.0.0.3 serves the old key"},
		{"verifying, ok", plan(Verifying), ready(func(o *Observation) { o.Verified = &Verification{OK: true} }), Retiring, "", NoAction, ""},

		// Retiring.
		{"retiring, service signs", plan(Retiring), ready(func(o *Observation) { o.CanSign = true }), Retiring, "", PublishRetire, ""},
		{"retiring, offline", plan(Retiring), ready(), AwaitingSignatures, AwaitRetire, NoAction, "dropping the old pin"},
		{"retiring, cannot build", plan(Retiring), ready(func(o *Observation) { o.CanSign, o.CannotBuild = true, "would leave one pin" }), Retiring, "", NoAction, "would leave one pin"},
		{"retiring, old pin gone", plan(Retiring), ready(func(o *Observation) { o.OldPublished = false }), Done, "", NoAction, ""},
		{"awaiting retire, published", plan(AwaitingSignatures, awaiting(AwaitRetire)), ready(func(o *Observation) { o.OldPublished = false }), Done, "", NoAction, ""},
		{"awaiting retire, not yet", plan(AwaitingSignatures, awaiting(AwaitRetire)), ready(), AwaitingSignatures, AwaitRetire, NoAction, "pinset publish"},

		// Terminal.
		{"done", plan(Done), ready(), Done, "", NoAction, ""},
		{"aborted", plan(Aborted), ready(), Aborted, "", NoAction, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(c.p, c.o)
			if d.State != c.state || d.Awaiting != c.awaiting || d.Action != c.action {
				t.Fatalf("Decide = %+v; want state %q awaiting %q action %q", d, c.state, c.awaiting, c.action)
			}
			if (c.blocked == "") != (d.BlockedBy == "") || !strings.Contains(d.BlockedBy, c.blocked) {
				t.Fatalf("blocked_by %q, want %q", d.BlockedBy, c.blocked)
			}
			if d.State != c.p.State && d.Why == "" {
				t.Fatalf("transition %s -> %s without a reason", c.p.State, d.State)
			}
		})
	}
}

func TestAbort(t *testing.T) {
	deploy := ready(func(o *Observation) { o.Deploy = true })
	for _, c := range []struct {
		name       string
		p          Plan
		o          Observation
		rolledBack bool
		state      State
		action     Action
		err        bool
	}{
		{"adopting", plan(Adopting), ready(), false, Aborted, NoAction, false},
		{"awaiting announce", plan(AwaitingSignatures, awaiting(AwaitAnnounce)), ready(), false, Aborted, NoAction, false},
		{"ready", plan(Ready), deploy, false, Aborted, NoAction, false},
		{"switching, deploy: roll back first", plan(Switching), deploy, false, Switching, Rollback, false},
		{"verifying, rolled back", plan(Verifying), deploy, true, Aborted, NoAction, false},
		{"verifying, manual", plan(Verifying), ready(), false, Aborted, NoAction, false},
		{"retiring", plan(Retiring), deploy, false, "", NoAction, true},
		{"awaiting retire", plan(AwaitingSignatures, awaiting(AwaitRetire)), deploy, false, "", NoAction, true},
		{"done", plan(Done), deploy, false, "", NoAction, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := Abort(c.p, c.o, c.rolledBack)
			if (err != nil) != c.err || d.State != c.state || d.Action != c.action {
				t.Fatalf("Abort = %+v, %v", d, err)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	c := Config{HoldDown: DefaultHoldDown}.WithDefaults()
	if c.Threshold != 0.99 || c.HoldDown != 7*24*time.Hour || c.MinClients != 100 || c.Validate() != nil {
		t.Fatalf("defaults %+v", c)
	}
	for _, bad := range []Config{{Threshold: 1.5, MinClients: 1}, {Threshold: -1, MinClients: 1}, {Threshold: 0.5, MinClients: 0}, {Threshold: 0.5, MinClients: 1, HoldDown: -1}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestDecideReportSpike: a spike of pin-failure reports after the switch
// always alerts; with AbortOnSpike it aborts a plan Abort can still stop
// (switching, verifying); otherwise, and once the old pin is being retired,
// the plan goes on as without the spike. Before the switch a spike is not
// the plan's business (the monitor's own alert covers the host).
func TestDecideReportSpike(t *testing.T) {
	spike := &ReportSpike{Reports: 25, Rule: "threshold 20 per 15m0s"}
	with := func(abort bool) Observation {
		return ready(func(o *Observation) { o.Deploy, o.Spike, o.AbortOnSpike = true, spike, abort })
	}
	for _, c := range []struct {
		name   string
		p      Plan
		o      Observation
		state  State
		action Action
		alert  string // substring; "" means no alert
	}{
		{"switching, abort on", plan(Switching), with(true), Switching, AbortPlan, "aborting the plan"},
		{"verifying, abort on", plan(Verifying), with(true), Verifying, AbortPlan, "25 pin-failure reports since the switch (threshold 20 per 15m0s)"},
		{"verifying, abort off", plan(Verifying), with(false), Verifying, Verify, "the plan goes on"},
		{"verifying ok, abort off", plan(Verifying), func() Observation {
			o := with(false)
			o.Verified = &Verification{OK: true}
			return o
		}(), Retiring, NoAction, "pinset rotate abort"},
		{"retiring, abort on", plan(Retiring), func() Observation { o := with(true); o.CanSign = true; return o }(), Retiring, PublishRetire, "cannot be aborted"},
		{"awaiting retire, abort on", plan(AwaitingSignatures, awaiting(AwaitRetire)), with(true), AwaitingSignatures, NoAction, "cannot be aborted"},
		{"adopting (before the switch)", plan(Adopting), with(true), Ready, NoAction, ""},
		{"ready (before the switch)", plan(Ready), with(true), Switching, NoAction, ""},
		{"verifying, no spike", plan(Verifying), ready(func(o *Observation) { o.AbortOnSpike = true }), Verifying, Verify, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(c.p, c.o)
			if d.State != c.state || d.Action != c.action {
				t.Fatalf("Decide = %+v; want state %q action %q", d, c.state, c.action)
			}
			if (c.alert == "") != (d.Alert == "") || !strings.Contains(d.Alert, c.alert) {
				t.Fatalf("alert %q, want %q", d.Alert, c.alert)
			}
			if d.Action == AbortPlan && d.Why == "" {
				t.Fatal("abort without a reason")
			}
		})
	}
}
