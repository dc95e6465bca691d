// Package rotate is the key rotation plan: a state machine per (app, host
// pattern) that moves a host from its live key to the next one only when
// the installed apps are ready for it (docs/rotation.md).
//
//	announced → adopting → ready → switching → verifying → retiring → done
//
// plus awaiting-signatures (a manifest the plan needs must be signed
// offline: Plan.Awaiting says which) and aborted.
//
// [Decide] is the whole policy: a pure function of the plan, what the
// service observes now ([Observation]: the published manifest, adoption,
// deploy and verification results, the clock) and returns the next state,
// the one action the service must take first (publish, deploy, verify,
// roll back) and, while the plan waits, what it waits for in words. The
// service (package server) performs actions, stores plans and audits
// every transition; it makes no decision of its own.
package rotate

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"pinset.dev/pinset/pin"
)

// State is a plan's state.
type State string

// The states.
const (
	New                State = ""          // not stored yet
	Announced          State = "announced" // a published manifest pins the next key
	Adopting           State = "adopting"  // waiting for installs to hold it
	Ready              State = "ready"     // enough installs hold it; switch when confirmed
	Switching          State = "switching" // the servers are being moved to the next key
	Verifying          State = "verifying" // checking every address serves the next key
	Retiring           State = "retiring"  // publishing a manifest without the old pin
	Done               State = "done"
	Aborted            State = "aborted"
	AwaitingSignatures State = "awaiting-signatures"
)

// What an awaiting-signatures plan waits for.
const (
	AwaitAnnounce = "announce" // a manifest adding the next pin
	AwaitRetire   = "retire"   // a manifest dropping the old pin
)

// Terminal reports whether no transition leaves s.
func (s State) Terminal() bool { return s == Done || s == Aborted }

// Defaults of Config.
const (
	DefaultThreshold  = 0.99
	DefaultHoldDown   = 7 * 24 * time.Hour
	DefaultMinClients = 100
)

// Config is what an operator chooses when starting a plan.
type Config struct {
	// Threshold is the fraction of active installs that must hold the
	// next pin (for this host) before the switch; default 0.99.
	Threshold float64 `json:"threshold"`
	// HoldDown is the time since the announcement before the switch,
	// whatever the adoption (RFC 5011's hold-down). WithDefaults leaves it
	// alone (0 is a choice): callers apply DefaultHoldDown when the
	// operator did not give one.
	HoldDown time.Duration `json:"hold_down"`
	// MinClients is the least number of active installs the adoption
	// must be measured over; default 100.
	MinClients int64 `json:"min_clients"`
}

// WithDefaults fills a zero Threshold and MinClients.
func (c Config) WithDefaults() Config {
	if c.Threshold == 0 {
		c.Threshold = DefaultThreshold
	}
	if c.MinClients == 0 {
		c.MinClients = DefaultMinClients
	}
	return c
}

// Validate refuses a configuration no plan can honour.
func (c Config) Validate() error {
	switch {
	case !(c.Threshold > 0 && c.Threshold <= 1):
		return fmt.Errorf("threshold %g: want a fraction in (0, 1]", c.Threshold)
	case c.HoldDown < 0:
		return fmt.Errorf("hold-down %v: negative", c.HoldDown)
	case c.MinClients < 1:
		return fmt.Errorf("min-clients %d: want at least 1", c.MinClients)
	}
	return nil
}

// Plan is one rotation of one host pattern of one app.
type Plan struct {
	ID      int64   `json:"id"`
	App     string  `json:"app"`
	Host    string  `json:"host"`     // the manifest's host pattern
	NextPin pin.Pin `json:"next_pin"` // the key to move to
	OldPin  pin.Pin `json:"old_pin"`  // the key served now, dropped at retiring
	// FollowingPin, when set, is announced by the retiring manifest (the
	// key after the next one), keeping two pins on the host.
	FollowingPin *pin.Pin `json:"following_pin,omitempty"`
	Config
	State State `json:"state"`
	// Awaiting says which manifest an awaiting-signatures plan waits for.
	Awaiting string `json:"awaiting,omitempty"`
	// AnnouncedAt is when the plan first saw the next pin published.
	AnnouncedAt time.Time `json:"announced_at,omitzero"`
	// SwitchedAt is when the plan entered switching: pin-failure reports
	// count against it (Observation.Spike) from then on.
	SwitchedAt time.Time `json:"switched_at,omitzero"`
	// SpikeAt is when the plan first saw a spike of pin-failure reports
	// after its switch (the service audits that once).
	SpikeAt time.Time `json:"spike_at,omitzero"`
	// Confirmed: an operator confirmed the switch (advance at ready).
	Confirmed bool `json:"confirmed,omitempty"`
	// Deployed: the deploy command moved the servers to the next key.
	Deployed bool `json:"deployed,omitempty"`
	// BlockedBy is what the plan waits for, in words (empty when it does
	// not wait).
	BlockedBy string    `json:"blocked_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Verification is the result of checking the live servers after the
// switch.
type Verification struct {
	OK     bool
	Detail string // why not, naming the addresses
}

// Observation is what the service sees when it steps a plan.
type Observation struct {
	Now time.Time
	// NextPublished: the current manifest pins NextPin for the host;
	// OldPublished: it still pins OldPin for the host.
	NextPublished, OldPublished bool
	// ManifestVersion is the current manifest's version (for the words).
	ManifestVersion int64
	// Active installs, and those whose manifest pins NextPin for the host.
	Active, NextClients int64
	// Networks is the number of client networks the active installs were
	// seen from; NextNetworkShare the mean over those networks of the
	// fraction of each network's installs that pin NextPin for the host.
	// Made-up installs from a few networks barely move it (the gate's
	// cross-check on forged telemetry); zero Networks never passes.
	Networks         int64
	NextNetworkShare float64
	// CappedSightings is how many fetches were not counted because their
	// network had its cap of installs (named in the words while the plan
	// waits); MaxInstallsPerNetwork is that cap.
	CappedSightings       int64
	MaxInstallsPerNetwork int
	// CanSign: the service can sign the manifests the plan needs (pins
	// role threshold 1 and its key in the role). SignersNeeded is the
	// threshold, for the words.
	CanSign       bool
	SignersNeeded int
	// Deploy: a deploy command is configured. DeployErr is the last
	// deploy's failure.
	Deploy    bool
	DeployErr error
	// Verified is the verification of this step (nil: not run yet).
	Verified *Verification
	// Advance: an operator asks the plan to move on (confirming the
	// switch when there is no deploy command).
	Advance bool
	// PublishErr is the failure of the publication this step attempted.
	PublishErr error
	// CannotBuild explains why the service cannot build the manifest the
	// plan needs (for example: retiring would leave one pin).
	CannotBuild string
	// Spike, after the switch, is a spike of pin-failure reports for the
	// host since SwitchedAt (nil: none). Whether the reports are a spike
	// is the monitor's rule (monitor.Monitor.HostSpike), not the plan's.
	Spike *ReportSpike
	// AbortOnSpike: the service is configured to abort a plan on a spike
	// after its switch (rotation.abort_on_report_spike).
	AbortOnSpike bool
}

// ReportSpike is a spike of pin-failure reports for a plan's host.
type ReportSpike struct {
	Reports int64  // reports counted since the switch, within the window
	Rule    string // the rule that judged them a spike, in words
}

func (s *ReportSpike) String() string {
	return fmt.Sprintf("%d pin-failure reports since the switch (%s)", s.Reports, s.Rule)
}

// Action is what the service must do before deciding again.
type Action string

// The actions.
const (
	NoAction        Action = ""
	PublishAnnounce Action = "publish-announce" // sign and publish a manifest adding NextPin
	Deploy          Action = "deploy"           // run the deploy command with NextPin
	Verify          Action = "verify"           // check the live servers
	PublishRetire   Action = "publish-retire"   // sign and publish a manifest without OldPin
	Rollback        Action = "rollback"         // run the deploy command with OldPin
	AbortPlan       Action = "abort"            // abort the plan (Abort decides how), for the Decision's Why
)

// Decision is the outcome of one step.
type Decision struct {
	State    State
	Awaiting string
	Action   Action // to do first; then Decide again with its result
	// BlockedBy is what the plan waits for, in words; "" when it does not.
	BlockedBy string
	// Why explains a transition (for the audit).
	Why string
	// Alert, when set, is an alert the service must fire (in words): a
	// spike of pin-failure reports after the switch.
	Alert string
}

// afterSwitch: the servers may serve the next key.
func (p Plan) afterSwitch() bool {
	switch p.State {
	case Switching, Verifying, Retiring:
		return true
	}
	return p.State == AwaitingSignatures && p.Awaiting == AwaitRetire
}

// readyBlocked is what a ready plan without a deploy waits for.
func readyBlocked(host, next string) string {
	return "a confirmation: make every address of " + host + " serve the next key " + next + ", then run pinset rotate advance"
}

// Decide is the rotation policy. It never performs anything: the caller
// does the Action (if any) and calls Decide again with its result in the
// Observation; a Decision without an Action and with the same State means
// the plan waits for BlockedBy.
//
// A spike of pin-failure reports after the switch (Observation.Spike)
// always raises an alert (Decision.Alert). With AbortOnSpike, a plan that
// Abort can still stop (switching, verifying) is aborted (Action
// AbortPlan: the caller runs Abort, rolling the servers back); otherwise
// the plan goes on as without the spike and the alert says why.
func Decide(p Plan, o Observation) Decision {
	if o.Spike == nil || !p.afterSwitch() {
		return decide(p, o)
	}
	spike := o.Spike.String()
	if o.AbortOnSpike {
		if _, err := Abort(p, o, false); err == nil {
			why := "a spike of pin-failure reports for " + p.Host + " after the switch: " + spike + "; aborting the plan, returning every address to the old key " + p.OldPin.String()
			return Decision{State: p.State, Awaiting: p.Awaiting, Action: AbortPlan, Why: why, Alert: why}
		}
	}
	d := decide(p, o)
	switch {
	case !o.AbortOnSpike:
		d.Alert = "a spike of pin-failure reports for " + p.Host + " after the switch: " + spike +
			"; the plan goes on (rotation.abort_on_report_spike is off): look at the reports, and abort it (pinset rotate abort) to return every address to the old key " + p.OldPin.String()
	default:
		d.Alert = "a spike of pin-failure reports for " + p.Host + " after the switch: " + spike +
			"; the plan is retiring the old pin and cannot be aborted: look at the reports and the servers"
	}
	return d
}

func decide(p Plan, o Observation) Decision {
	stay := func(blocked string) Decision {
		return Decision{State: p.State, Awaiting: p.Awaiting, BlockedBy: blocked}
	}
	move := func(s State, why string) Decision { return Decision{State: s, Why: why} }
	next, old := p.NextPin.String(), p.OldPin.String()
	switch {
	case p.State == New || p.State == AwaitingSignatures && p.Awaiting == AwaitAnnounce:
		if o.NextPublished {
			return move(Announced, fmt.Sprintf("manifest v%d pins the next key %s for %s", o.ManifestVersion, next, p.Host))
		}
		if o.CannotBuild != "" {
			return Decision{State: AwaitingSignatures, Awaiting: AwaitAnnounce, BlockedBy: o.CannotBuild, Why: o.CannotBuild}
		}
		return publishStep(p, o, publish{action: PublishAnnounce, from: New, awaiting: AwaitAnnounce,
			change: "adding the next pin", subject: next + " to " + p.Host})

	case p.State == Announced:
		return move(Adopting, "waiting for the installs to hold the next pin")

	case p.State == Adopting:
		if !o.NextPublished {
			return stay(fmt.Sprintf("the current manifest v%d does not pin the next key %s for %s: publish one that does, or abort", o.ManifestVersion, next, p.Host))
		}
		var waits []string
		frac := 0.0
		if o.Active > 0 {
			frac = float64(o.NextClients) / float64(o.Active)
		}
		if o.Active < p.MinClients {
			waits = append(waits, fmt.Sprintf("at least %d active installs (%d seen)", p.MinClients, o.Active))
		}
		if o.Active == 0 || frac < p.Threshold {
			waits = append(waits, fmt.Sprintf("adoption %.4g of active installs holding the next pin (now %.4g: %d of %d)", p.Threshold, frac, o.NextClients, o.Active))
		}
		// The cross-check forged telemetry cannot satisfy: installs
		// claiming the next pin from a few networks must not outweigh
		// the networks whose installs still fetch the old manifest.
		if o.Networks == 0 || o.NextNetworkShare < p.Threshold {
			waits = append(waits, fmt.Sprintf("adoption %.4g across client networks, each network weighing the same (now %.4g over %d networks)", p.Threshold, o.NextNetworkShare, o.Networks))
		}
		if until := p.AnnouncedAt.Add(p.HoldDown); o.Now.Before(until) {
			waits = append(waits, fmt.Sprintf("the hold-down until %s (%s after the announcement)", until.UTC().Format(time.RFC3339), p.HoldDown))
		}
		if len(waits) > 0 {
			blocked := "waiting for " + strings.Join(waits, ", and ")
			if o.CappedSightings > 0 {
				blocked += fmt.Sprintf(" (%d manifest fetches were not counted: their network already had %d installs counted, adoption.max_installs_per_network)", o.CappedSightings, o.MaxInstallsPerNetwork)
			}
			return stay(blocked)
		}
		d := move(Ready, fmt.Sprintf("%d of %d active installs (%.4g) hold the next pin, %.4g across %d networks; hold-down passed", o.NextClients, o.Active, frac, o.NextNetworkShare, o.Networks))
		if !o.Deploy && !o.Advance {
			// What ready waits for, from the moment it is stored (a status
			// read between this step and the next must not show nothing).
			d.BlockedBy = readyBlocked(p.Host, next)
		}
		return d

	case p.State == Ready:
		switch {
		case o.Deploy:
			return move(Switching, "the deploy command moves the servers to the next key")
		case o.Advance:
			return move(Switching, "an operator confirmed that every address serves the next key")
		}
		return stay(readyBlocked(p.Host, next))

	case p.State == Switching:
		if o.Deploy && !p.Deployed {
			if o.DeployErr != nil {
				return stay("the deploy command failed (retried at the next step): " + o.DeployErr.Error())
			}
			return Decision{State: p.State, Action: Deploy}
		}
		return move(Verifying, "the servers were switched to the next key")

	case p.State == Verifying:
		if o.Verified == nil {
			return Decision{State: p.State, Action: Verify}
		}
		if !o.Verified.OK {
			return stay("verification (retried at the next step): " + o.Verified.Detail)
		}
		return move(Retiring, "every address serves the next key and the published pins cover it")

	case p.State == Retiring || p.State == AwaitingSignatures && p.Awaiting == AwaitRetire:
		if !o.OldPublished {
			return move(Done, fmt.Sprintf("manifest v%d no longer pins the old key %s for %s", o.ManifestVersion, old, p.Host))
		}
		if o.CannotBuild != "" {
			if p.State == Retiring {
				return Decision{State: p.State, BlockedBy: o.CannotBuild}
			}
			return stay(o.CannotBuild)
		}
		return publishStep(p, o, publish{action: PublishRetire, from: Retiring, awaiting: AwaitRetire,
			change: "dropping the old pin", subject: old + " from " + p.Host})
	}
	return stay("")
}

// publish is a step that publishes a new manifest: announcing the next pin
// (from New) or dropping the old one (from Retiring).
type publish struct {
	action   Action // what the service does when it can sign
	from     State  // the state the step starts in
	awaiting string // what an awaiting-signatures plan waits for
	change   string // the manifest's change, in words
	subject  string // the pin and host it is about
}

// publishStep decides a publishing step: the service publishes when it can
// sign and its last try did not fail; otherwise the plan waits for
// signatures (entering awaiting-signatures from the step's first state)
// and says what blocks it.
func publishStep(p Plan, o Observation, s publish) Decision {
	if o.CanSign && o.PublishErr == nil {
		return Decision{State: p.State, Awaiting: p.Awaiting, Action: s.action}
	}
	blocked := signaturesNeeded(s.change+" "+s.subject, o)
	if o.PublishErr != nil {
		blocked = "publishing the manifest " + s.change + " failed: " + o.PublishErr.Error()
	}
	if p.State == s.from {
		return Decision{State: AwaitingSignatures, Awaiting: s.awaiting, BlockedBy: blocked, Why: blocked}
	}
	return Decision{State: p.State, Awaiting: p.Awaiting, BlockedBy: blocked}
}

func signaturesNeeded(what string, o Observation) string {
	return fmt.Sprintf("signatures: the manifest %s needs %d signatures of the pins role; download it (pinset rotate status shows the path), sign it with pinset sign, publish it with pinset publish",
		what, o.SignersNeeded)
}

// ErrCannotAbort is returned by Abort once the old pin is being retired:
// the servers serve the next key and the manifest drops the old one, so
// going back would make clients refuse.
var ErrCannotAbort = errors.New("the plan is past the switch and retiring the old pin; it cannot be aborted")

// Abort decides an abort. Before the switch the plan just stops. From
// switching or verifying, the servers may already serve the next key:
// with a deploy command the service first rolls them back to the old key
// (Action Rollback; call Abort again with rolledBack); without one the
// plan stops and BlockedBy tells the operator to do it.
func Abort(p Plan, o Observation, rolledBack bool) (Decision, error) {
	switch {
	case p.State.Terminal():
		return Decision{}, fmt.Errorf("the plan is %s already", p.State)
	case p.State == Retiring || p.State == AwaitingSignatures && p.Awaiting == AwaitRetire:
		return Decision{}, ErrCannotAbort
	case p.State == Switching || p.State == Verifying:
		if o.Deploy {
			if !rolledBack {
				if o.DeployErr != nil {
					return Decision{State: p.State, BlockedBy: "rolling back to the old key failed: " + o.DeployErr.Error()}, nil
				}
				return Decision{State: p.State, Action: Rollback}, nil
			}
			return Decision{State: Aborted, Why: "aborted after the switch; the deploy command returned every address to the old key " + p.OldPin.String()}, nil
		}
		return Decision{State: Aborted, Why: "aborted after the switch; no deploy command is configured: return every address of " + p.Host + " to the old key " + p.OldPin.String() + " now"}, nil
	}
	return Decision{State: Aborted, Why: "aborted before the switch; the servers still serve the old key"}, nil
}
