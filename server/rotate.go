package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/internal/input"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/renew"
	"pinset.dev/pinset/rotate"
	"pinset.dev/pinset/store"
	"pinset.dev/pinset/trust"
)

// Rotation plans (docs/rotation.md). Package rotate decides; this file
// observes (the published manifest, adoption, the root's pins role),
// performs the actions a decision asks for (publishing through
// PublishManifest, so the drop gate and the publish gate apply; running
// the deploy hook; verifying with package check), stores each plan and
// audits every transition.

// RotationConfig configures rotation plans.
type RotationConfig struct {
	// Deploy, when set, makes every address of a host serve the key
	// whose pin it is given (the next key when switching, the old key
	// when rolling back after an abort). It must be idempotent: after a
	// crash it may run again. Without it the switch is confirmed by an
	// operator (advance) and an abort after the switch asks the operator
	// to roll back.
	Deploy func(ctx context.Context, d DeployRequest) error
	// Targets are hosts whose switch the service performs itself (key
	// ring, ACME, deploy.Deploy); a plan whose host has a target uses it
	// instead of Deploy.
	Targets []RotationTarget
	// Schedule, when set, is the ACME schedule of the targets (package
	// renew): it runs while Serve runs, and /metrics serves its metrics.
	Schedule *renew.Scheduler
	// Check configures the verification after the switch (roots, resolve
	// overrides, port, timeout); Now defaults to the server's clock.
	Check check.Options
	// Signer signs the manifests a plan needs when the pins role's
	// threshold is 1 and Signer is in it; nil means Resign's signer, if
	// any. Otherwise plans wait in awaiting-signatures.
	Signer *trust.Signer
	// Lifetime of the manifests a plan builds; default: the current
	// manifest's lifetime.
	Lifetime time.Duration
	// Interval between background steps of every active plan (while
	// Serve runs); default 1 minute.
	Interval time.Duration
	// Rand is the signatures' randomness; nil: crypto/rand.
	Rand io.Reader
	// Spikes, when set, watches the pin-failure reports for a plan's host
	// after its switch (pinset serve passes its monitor: the spike rule is
	// the monitor's). A spike raises PinsetRotationReportSpike; with
	// AbortOnReportSpike the plan is also aborted while it can be (switching,
	// verifying), returning every address to the old key as an abort does.
	Spikes ReportSpikes
	// AbortOnReportSpike aborts a plan on a spike after its switch
	// (rotation.abort_on_report_spike); it needs Spikes.
	AbortOnReportSpike bool
	// SampleInterval is the least time between two stored samples of a
	// plan's adoption (the curve the console draws); each step of an
	// active plan takes one when due. Default DefaultAdoptionSampleInterval.
	SampleInterval time.Duration
}

// ReportSpikes is the report-spike rule and its alert, as the rotation
// uses them (monitor.Monitor implements it).
type ReportSpikes interface {
	// HostSpike returns the spike of pin-failure reports for app's host
	// pattern counted from since, or nil when there is none.
	HostSpike(ctx context.Context, app, pattern string, since time.Time) (*rotate.ReportSpike, error)
	// RaiseRotationSpike fires the rotation's spike alert for a plan.
	RaiseRotationSpike(ctx context.Context, app, host string, plan int64, summary, description string) error
}

// Adoption history of a plan (store.RotationStore.AddAdoptionSample).
const (
	DefaultAdoptionSampleInterval = 10 * time.Minute
	// MaxAdoptionSamples bounds a plan's stored samples: beyond, every
	// second one is deleted, so the whole curve stays at a coarser step.
	MaxAdoptionSamples = 500
)

// DeployRequest is one call of RotationConfig.Deploy.
type DeployRequest struct {
	PlanID int64
	App    string
	Host   string  // the manifest's host pattern
	Pin    pin.Pin // the key every address must serve
	Action string  // "switch" or "rollback"
}

// storedPlan is what the store keeps: the plan and, while it awaits
// signatures, the unsigned envelope an operator downloads.
type storedPlan struct {
	rotate.Plan
	Pending []byte `json:"pending_envelope,omitempty"`
}

// PlanStatus is a plan as the admin API shows it.
type PlanStatus struct {
	ID            int64        `json:"id"`
	App           string       `json:"app"`
	Host          string       `json:"host"`
	State         rotate.State `json:"state"`
	Awaiting      string       `json:"awaiting,omitempty"`
	NextPin       string       `json:"next_pin"`
	OldPin        string       `json:"old_pin"`
	FollowingPin  string       `json:"following_pin,omitempty"`
	Adoption      float64      `json:"adoption"`
	Clients       int64        `json:"clients"`
	ActiveClients int64        `json:"active_clients"`
	// NetworkAdoption is the adoption with every client network weighing
	// the same (the gate's cross-check), over Networks networks.
	NetworkAdoption float64   `json:"network_adoption"`
	Networks        int64     `json:"networks"`
	Threshold       float64   `json:"threshold"`
	HoldDownSeconds int64     `json:"hold_down_seconds"`
	MinClients      int64     `json:"min_clients"`
	BlockedBy       string    `json:"blocked_by"`
	AnnouncedAt     time.Time `json:"announced_at,omitzero"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	// Envelope is the admin path of the unsigned manifest while the plan
	// awaits signatures.
	Envelope string             `json:"envelope,omitempty"`
	Audit    []store.AuditEntry `json:"audit,omitempty"`
	// AdoptionHistory is the stored adoption of the next pin over time,
	// oldest first (with the audit).
	AdoptionHistory []store.AdoptionSample `json:"adoption_history,omitempty"`
}

// StartRotation is the body of POST /v1/admin/apps/{app}/rotations.
type StartRotation struct {
	Host            string   `json:"host"`
	NextPin         pin.Pin  `json:"next_pin"`
	OldPin          *pin.Pin `json:"old_pin,omitempty"`
	FollowingPin    *pin.Pin `json:"following_pin,omitempty"`
	Threshold       float64  `json:"threshold,omitempty"`
	HoldDownSeconds *int64   `json:"hold_down_seconds,omitempty"`
	MinClients      int64    `json:"min_clients,omitempty"`
}

// RotationError is a refused rotation request.
type RotationError struct {
	Status int
	Code   string
	Err    error
}

func (e *RotationError) Error() string { return e.Err.Error() }
func (e *RotationError) Unwrap() error { return e.Err }

func rotErr(status int, code string, format string, args ...any) error {
	return &RotationError{Status: status, Code: code, Err: fmt.Errorf(format, args...)}
}

// serviceActor names the service in the audit of background steps.
const serviceActor = "service"

func actor(ctx context.Context) string {
	if n := tokenName(ctx); n != "" {
		return n
	}
	return serviceActor
}

// StartRotation creates a plan for app's host pattern and steps it once:
// the manifest announcing the next pin is published at once when the
// service can sign it, else the plan awaits signatures.
func (s *Server) StartRotation(ctx context.Context, app string, req StartRotation) (*PlanStatus, error) {
	if req.NextPin.IsZero() {
		return nil, rotErr(http.StatusBadRequest, "bad_request", "next_pin is required")
	}
	cfg := rotate.Config{Threshold: req.Threshold, MinClients: req.MinClients, HoldDown: rotate.DefaultHoldDown}
	if req.HoldDownSeconds != nil {
		cfg.HoldDown = time.Duration(*req.HoldDownSeconds) * time.Second
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, rotErr(http.StatusBadRequest, "bad_request", "%v", err)
	}
	cur, m, err := s.currentManifest(ctx, app)
	if err != nil {
		return nil, err
	}
	h := hostPolicy(m, req.Host)
	if h == nil {
		return nil, rotErr(http.StatusUnprocessableEntity, "no_such_host", "manifest v%d of %s has no host pattern %q (patterns are matched as written in the manifest)", cur.Version, app, req.Host)
	}
	old, err := oldPin(h, req)
	if err != nil {
		return nil, err
	}
	now := s.now()
	p := storedPlan{Plan: rotate.Plan{App: app, Host: h.Pattern, NextPin: req.NextPin, OldPin: old, FollowingPin: req.FollowingPin,
		Config: cfg, CreatedAt: now, UpdatedAt: now}}
	data, _ := json.Marshal(p)
	id, err := s.store.CreatePlan(ctx, store.PlanRecord{App: app, Host: h.Pattern, State: "new", Active: true, Data: data, CreatedAt: now, UpdatedAt: now},
		store.AuditEntry{At: now, To: "new", What: "start", Token: actor(ctx),
			Why: fmt.Sprintf("rotate %s from %s to %s (threshold %g, hold-down %s, min-clients %d)", h.Pattern, old, req.NextPin, cfg.Threshold, cfg.HoldDown, cfg.MinClients)})
	if errors.Is(err, store.ErrExists) {
		return nil, rotErr(http.StatusConflict, "plan_exists", "%v", err)
	}
	if err != nil {
		return nil, err
	}
	return s.StepRotation(ctx, id, false)
}

// oldPin is the pin being replaced: the one named, else the only pin of
// the host's policy besides the next one.
func oldPin(h *policy.Policy, req StartRotation) (pin.Pin, error) {
	if req.OldPin != nil {
		if !pin.Contains(h.Pins, *req.OldPin) {
			return pin.Pin{}, rotErr(http.StatusUnprocessableEntity, "bad_request", "old_pin %s is not a pin of %s", *req.OldPin, h.Pattern)
		}
		if *req.OldPin == req.NextPin {
			return pin.Pin{}, rotErr(http.StatusBadRequest, "bad_request", "old_pin and next_pin are the same key")
		}
		return *req.OldPin, nil
	}
	var others []pin.Pin
	for _, p := range h.Pins {
		if p != req.NextPin {
			others = append(others, p)
		}
	}
	if len(others) != 1 {
		return pin.Pin{}, rotErr(http.StatusUnprocessableEntity, "old_pin_required",
			"%s has %d pins besides the next one: name the key being replaced (old_pin, pinset rotate start --old-pin)", h.Pattern, len(others))
	}
	return others[0], nil
}

func hostPolicy(m *trust.Manifest, pattern string) *policy.Policy {
	for i := range m.Hosts {
		if m.Hosts[i].Pattern == pattern {
			return &m.Hosts[i]
		}
	}
	return nil
}

func (s *Server) currentManifest(ctx context.Context, app string) (store.Document, *trust.Manifest, error) {
	cur, err := s.store.Manifest(ctx, app)
	if errors.Is(err, store.ErrNotFound) {
		return store.Document{}, nil, rotErr(http.StatusConflict, "no_manifest", "app %s has no published manifest", app)
	}
	if err != nil {
		return store.Document{}, nil, err
	}
	m, err := trust.DecodeManifestUnverified(cur.Body)
	if err != nil {
		return store.Document{}, nil, fmt.Errorf("stored manifest v%d: %w", cur.Version, err)
	}
	return cur, m, nil
}

func (s *Server) loadPlan(ctx context.Context, id int64) (storedPlan, store.PlanRecord, error) {
	rec, err := s.store.Plan(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return storedPlan{}, rec, rotErr(http.StatusNotFound, "not_found", "no rotation plan %d", id)
	}
	if err != nil {
		return storedPlan{}, rec, err
	}
	var p storedPlan
	if err := json.Unmarshal(rec.Data, &p); err != nil {
		return storedPlan{}, rec, fmt.Errorf("rotation plan %d: %w", id, err)
	}
	p.ID = rec.ID
	return p, rec, nil
}

// savePlan writes p over revision rev with an audit entry; it returns the
// new revision.
func (s *Server) savePlan(ctx context.Context, p *storedPlan, rev int64, a store.AuditEntry) (int64, error) {
	p.UpdatedAt = s.now()
	data, err := json.Marshal(p)
	if err != nil {
		return rev, err
	}
	state := string(p.State)
	if state == "" {
		state = "new"
	}
	if a.What != "" {
		a.At = p.UpdatedAt
	}
	err = s.store.UpdatePlan(ctx, store.PlanRecord{ID: p.ID, State: state, Active: !p.State.Terminal(), Data: data, UpdatedAt: p.UpdatedAt}, rev, a)
	if err != nil {
		return rev, err
	}
	return rev + 1, nil
}

// observation is what one step sees, plus the results of the actions it
// already took.
type stepResults struct {
	publishErr, deployErr error
	verified              *rotate.Verification
	cannot                string
}

func (s *Server) observe(ctx context.Context, p *storedPlan, r *stepResults, advance bool) (rotate.Observation, error) {
	o := rotate.Observation{Now: s.now(), Advance: advance, Deploy: s.canDeploy(p.Host),
		PublishErr: r.publishErr, DeployErr: r.deployErr, Verified: r.verified, CannotBuild: r.cannot}
	cur, m, err := s.currentManifest(ctx, p.App)
	if err != nil {
		return o, err
	}
	o.ManifestVersion = cur.Version
	if h := hostPolicy(m, p.Host); h != nil {
		o.NextPublished = pin.Contains(h.Pins, p.NextPin)
		o.OldPublished = pin.Contains(h.Pins, p.OldPin)
	}
	rep, err := s.Adoption(ctx, p.App)
	if err != nil {
		return o, err
	}
	o.NextClients, _ = rep.HostPinFraction(p.Host, p.NextPin)
	o.Active = rep.ActiveClients
	o.Networks, o.NextNetworkShare = rep.HostPinNetworkFraction(p.Host, p.NextPin)
	o.CappedSightings, o.MaxInstallsPerNetwork = rep.CappedSightings, rep.MaxInstallsPerNetwork
	if o.CanSign, o.SignersNeeded, err = s.canSign(ctx, p.App); err != nil {
		return o, err
	}
	if sp := s.cfg.Rotation.Spikes; sp != nil && !p.SwitchedAt.IsZero() && !p.State.Terminal() {
		o.AbortOnSpike = s.cfg.Rotation.AbortOnReportSpike
		if o.Spike, err = sp.HostSpike(ctx, p.App, p.Host, p.SwitchedAt); err != nil {
			return o, fmt.Errorf("counting the pin-failure reports for %s: %w", p.Host, err)
		}
	}
	return o, nil
}

func (s *Server) rotationSigner() *trust.Signer {
	if s.cfg.Rotation.Signer != nil {
		return s.cfg.Rotation.Signer
	}
	if s.cfg.Resign != nil {
		return s.cfg.Resign.Signer
	}
	return nil
}

// canSign: the service holds a pins-role key and one signature is enough.
func (s *Server) canSign(ctx context.Context, app string) (bool, int, error) {
	rootDoc, err := s.store.LatestRoot(ctx, app)
	if err != nil {
		return false, 0, err
	}
	root, _, err := trust.DecodeRootUnverified(rootDoc.Body)
	if err != nil {
		return false, 0, err
	}
	signer := s.rotationSigner()
	ok := signer != nil && root.PinsRole.Threshold == 1 && slices.Contains(root.PinsRole.KeyIDs, signer.Key.ID)
	return ok, root.PinsRole.Threshold, nil
}

// buildManifest makes the next manifest a plan needs: the current one
// with the next pin added to the host (announce), or the old pin removed
// and the following pin added (retire). cannot explains why it cannot.
func (s *Server) buildManifest(ctx context.Context, p *storedPlan, retire bool) (env *trust.Envelope, cannot string, err error) {
	cur, m, err := s.currentManifest(ctx, p.App)
	if err != nil {
		return nil, "", err
	}
	rootDoc, err := s.store.LatestRoot(ctx, p.App)
	if err != nil {
		return nil, "", err
	}
	h := hostPolicy(m, p.Host)
	if h == nil {
		return nil, fmt.Sprintf("the current manifest v%d has no host pattern %s any more: abort this plan", cur.Version, p.Host), nil
	}
	if !retire {
		if !pin.Contains(h.Pins, p.NextPin) {
			h.Pins = append(h.Pins, p.NextPin)
		}
	} else {
		h.Pins = slices.DeleteFunc(h.Pins, func(x pin.Pin) bool { return x == p.OldPin })
		if p.FollowingPin != nil && !pin.Contains(h.Pins, *p.FollowingPin) {
			h.Pins = append(h.Pins, *p.FollowingPin)
		}
		if !h.ReportOnly && len(h.Pins) < 2 {
			return nil, fmt.Sprintf("dropping the old pin would leave %s with one pin, and an enforced host needs a backup: name the following key (pinset rotate advance --following-key FILE)", p.Host), nil
		}
	}
	lifetime := s.cfg.Rotation.Lifetime
	if lifetime <= 0 {
		lifetime = m.Expires.Sub(m.IssuedAt)
	}
	m.Version++
	m.RootVersion = uint64(rootDoc.Version)
	m.IssuedAt = s.now().UTC().Truncate(time.Second)
	m.Expires = m.IssuedAt.Add(lifetime)
	if err := m.Validate(); err != nil {
		return nil, "the manifest the plan needs is invalid: " + err.Error(), nil
	}
	env, err = m.Envelope()
	return env, "", err
}

// publishFor signs and publishes the manifest a plan needs, through the
// same gates as an upload. When the service cannot sign, it keeps the
// unsigned envelope in the plan instead.
func (s *Server) publishFor(ctx context.Context, p *storedPlan, retire bool, r *stepResults) error {
	env, cannot, err := s.buildManifest(ctx, p, retire)
	if err != nil || cannot != "" {
		r.cannot = cannot
		return err
	}
	rnd := s.cfg.Rotation.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	if _, err := env.Sign(s.rotationSigner(), rnd); err != nil {
		return err
	}
	b, err := env.Marshal()
	if err != nil {
		return err
	}
	res, err := s.PublishManifest(ctx, p.App, b, PublishOptions{Source: "rotate"})
	if err != nil {
		r.publishErr = err
		return nil
	}
	s.log.Info("rotation published manifest", "plan", p.ID, "app", p.App, "host", p.Host, "version", res.Version, "retire", retire)
	return nil
}

// keepPending stores the unsigned envelope of the manifest a plan waits
// for, or clears it.
func (s *Server) keepPending(ctx context.Context, p *storedPlan) {
	if p.State != rotate.AwaitingSignatures {
		p.Pending = nil
		return
	}
	if p.Pending != nil {
		// Still good unless another manifest took its version.
		pm, err := trust.DecodeManifestUnverified(p.Pending)
		cur, cerr := s.store.Manifest(ctx, p.App)
		if err == nil && cerr == nil && int64(pm.Version) > cur.Version {
			return
		}
	}
	env, cannot, err := s.buildManifest(ctx, p, p.Awaiting == rotate.AwaitRetire)
	if err != nil || cannot != "" {
		return
	}
	p.Pending, _ = env.Marshal()
}

// verify checks every address of the host: each must be accepted by the
// published manifest and serve the next key in its verified chain.
func (s *Server) verify(ctx context.Context, p *storedPlan) (*rotate.Verification, error) {
	_, m, err := s.currentManifest(ctx, p.App)
	if err != nil {
		return nil, err
	}
	h := hostPolicy(m, p.Host)
	if h == nil {
		return &rotate.Verification{Detail: "the current manifest has no host pattern " + p.Host}, nil
	}
	opts := s.cfg.Rotation.Check
	if opts.Now == nil {
		opts.Now = s.now
	}
	targets, unprobed := check.Targets([]policy.Policy{*h}, opts.DefaultPort)
	if len(targets) == 0 {
		why := "no concrete host to connect to"
		if len(unprobed) > 0 {
			why = unprobed[0].Reason
		}
		return &rotate.Verification{Detail: p.Host + ": " + why}, nil
	}
	rep, err := check.Run(ctx, []policy.Policy{*h}, targets, opts)
	if err != nil {
		return nil, err
	}
	var bad []string
	n := 0
	for _, hr := range rep.Hosts {
		if hr.Error != "" {
			bad = append(bad, hr.Host+": "+hr.Error)
		}
		for _, a := range hr.Addresses {
			n++
			switch {
			case a.Verdict != check.Accepted:
				bad = append(bad, fmt.Sprintf("%s %s: %s", hr.Host, a.Address, a.Reason))
			case !pin.Contains(a.MatchedPins, p.NextPin):
				bad = append(bad, fmt.Sprintf("%s %s does not serve the next key yet", hr.Host, a.Address))
			}
		}
	}
	if n == 0 && len(bad) == 0 {
		bad = append(bad, "no address answered")
	}
	if len(bad) > 0 {
		return &rotate.Verification{Detail: strings.Join(bad, "; ")}, nil
	}
	return &rotate.Verification{OK: true, Detail: fmt.Sprintf("%d addresses serve the next key", n)}, nil
}

// rotationRetries bounds the retries of a step that lost a race with
// another process (each plan write is a compare-and-swap on its revision).
const rotationRetries = 5

// StepRotation moves one plan as far as it can go now (advance: an
// operator confirms the switch) and returns its status. Steps of one
// process run one at a time; a step that loses to another process starts
// again from the stored plan.
func (s *Server) StepRotation(ctx context.Context, id int64, advance bool) (*PlanStatus, error) {
	return s.retryPlan(func() (*PlanStatus, error) { return s.stepRotation(ctx, id, advance) })
}

func (s *Server) retryPlan(f func() (*PlanStatus, error)) (*PlanStatus, error) {
	s.rotMu.Lock()
	defer s.rotMu.Unlock()
	for i := 0; ; i++ {
		st, err := f()
		if !errors.Is(err, store.ErrConflict) || i == rotationRetries {
			return st, err
		}
	}
}

func (s *Server) stepRotation(ctx context.Context, id int64, advance bool) (*PlanStatus, error) {
	p, rec, err := s.loadPlan(ctx, id)
	if err != nil {
		return nil, err
	}
	rev := rec.Rev
	who := actor(ctx)
	active := !p.State.Terminal()
	var r stepResults
	alerted := false
	for range 16 {
		if p.State.Terminal() {
			break
		}
		o, err := s.observe(ctx, &p, &r, advance)
		if err != nil {
			return nil, err
		}
		d := rotate.Decide(p.Plan, o)
		if d.Alert != "" && !alerted {
			alerted = true
			s.raiseSpike(ctx, &p, o.Spike, d.Alert)
			if d.Action == rotate.AbortPlan {
				return s.abortPlan(ctx, p, rev, d.Why)
			}
			if p.SpikeAt.IsZero() { // the first spike the plan goes on through is audited
				p.SpikeAt = o.Now
				e := store.AuditEntry{From: stateName(p.State), To: stateName(p.State), What: "report-spike", Why: d.Alert, Token: who}
				if rev, err = s.savePlan(ctx, &p, rev, e); err != nil {
					return nil, err
				}
			}
		}
		if d.Action != rotate.NoAction {
			a, err := s.act(ctx, &p, d.Action, &r)
			if err != nil {
				return nil, err
			}
			if rev, err = s.savePlan(ctx, &p, rev, a); err != nil {
				return nil, err
			}
			continue
		}
		changed := d.State != p.State || d.Awaiting != p.Awaiting
		if !changed && d.BlockedBy == p.BlockedBy {
			break
		}
		from := p.State
		p.State, p.Awaiting, p.BlockedBy = d.State, d.Awaiting, d.BlockedBy
		if d.State == rotate.Announced && p.AnnouncedAt.IsZero() {
			p.AnnouncedAt = o.Now
		}
		if d.State == rotate.Switching && p.SwitchedAt.IsZero() {
			p.SwitchedAt = o.Now
		}
		if from == rotate.Ready && d.State == rotate.Switching && o.Advance {
			p.Confirmed = true
		}
		s.keepPending(ctx, &p)
		audit := store.AuditEntry{}
		if changed {
			what := "step"
			if advance {
				what = "advance"
			}
			audit = store.AuditEntry{From: stateName(from), To: stateName(d.State), What: what, Why: d.Why, Token: who}
			s.log.Info("rotation plan", "plan", p.ID, "app", p.App, "host", p.Host, "from", stateName(from), "to", stateName(d.State), "why", d.Why, "token", who)
		}
		if rev, err = s.savePlan(ctx, &p, rev, audit); err != nil {
			return nil, err
		}
		if !changed {
			break
		}
	}
	st, err := s.planStatus(ctx, &p, false)
	if err != nil {
		return nil, err
	}
	if active {
		s.sampleAdoption(ctx, st)
	}
	return st, nil
}

// sampleAdoption stores the adoption a step of an active plan saw, when a
// sample is due. A failure is logged and the step goes on: the curve is
// for people, the plan's decision does not depend on it.
func (s *Server) sampleAdoption(ctx context.Context, st *PlanStatus) {
	every := s.cfg.Rotation.SampleInterval
	if every <= 0 {
		every = DefaultAdoptionSampleInterval
	}
	sample := store.AdoptionSample{PlanID: st.ID, At: s.now(), Clients: st.Clients, Active: st.ActiveClients}
	if _, err := s.store.AddAdoptionSample(ctx, sample, every, MaxAdoptionSamples); err != nil {
		s.log.Warn("rotation adoption sample not stored", "plan", st.ID, "app", st.App, "err", err)
	}
}

// raiseSpike fires the plan's spike alert (a failure to deliver it is
// logged: the plan's decision does not wait for the alert).
func (s *Server) raiseSpike(ctx context.Context, p *storedPlan, spike *rotate.ReportSpike, words string) {
	summary := fmt.Sprintf("rotation plan %d (%s) of %s: %s", p.ID, stateName(p.State), p.Host, spike)
	s.log.Warn("rotation plan: report spike after the switch", "plan", p.ID, "app", p.App, "host", p.Host, "state", stateName(p.State), "alert", words)
	if err := s.cfg.Rotation.Spikes.RaiseRotationSpike(ctx, p.App, p.Host, p.ID, summary, words); err != nil {
		s.log.Error("rotation plan: the report spike alert was not delivered", "plan", p.ID, "err", err)
	}
}

func stateName(s rotate.State) string {
	if s == rotate.New {
		return "new"
	}
	return string(s)
}

// act performs one action and returns its audit entry.
func (s *Server) act(ctx context.Context, p *storedPlan, a rotate.Action, r *stepResults) (store.AuditEntry, error) {
	e := store.AuditEntry{From: stateName(p.State), To: stateName(p.State), What: string(a), Token: actor(ctx)}
	switch a {
	case rotate.PublishAnnounce, rotate.PublishRetire:
		if err := s.publishFor(ctx, p, a == rotate.PublishRetire, r); err != nil {
			return e, err
		}
		e.Why = "published"
		if r.publishErr != nil {
			e.Why = "refused: " + r.publishErr.Error()
		} else if r.cannot != "" {
			e.Why = "not built: " + r.cannot
		}
	case rotate.Deploy:
		err := s.deployPin(ctx, DeployRequest{PlanID: p.ID, App: p.App, Host: p.Host, Pin: p.NextPin, Action: "switch"}, p.OldPin)
		r.deployErr = err
		if err == nil {
			p.Deployed = true
			e.Why = "every address of " + p.Host + " switched to " + p.NextPin.String()
		} else {
			e.Why = "failed: " + err.Error()
		}
	case rotate.Verify:
		v, err := s.verify(ctx, p)
		if err != nil {
			return e, err
		}
		r.verified = v
		e.Why = v.Detail
		if v.OK {
			e.Why = "ok: " + v.Detail
		}
	default:
		return e, fmt.Errorf("rotation: unknown action %q", a)
	}
	s.log.Info("rotation action", "plan", p.ID, "app", p.App, "host", p.Host, "action", string(a), "result", e.Why)
	return e, nil
}

// AbortRotation stops a plan; after the switch it first returns every
// address to the old key through the deploy hook.
func (s *Server) AbortRotation(ctx context.Context, id int64) (*PlanStatus, error) {
	return s.retryPlan(func() (*PlanStatus, error) { return s.abortRotation(ctx, id) })
}

func (s *Server) abortRotation(ctx context.Context, id int64) (*PlanStatus, error) {
	p, rec, err := s.loadPlan(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.abortPlan(ctx, p, rec.Rev, "")
}

// abortPlan aborts p (stored at revision rev) as rotate.Abort decides,
// rolling the servers back first when it says so; reason, when set, says
// why the service aborts it (an operator's abort has none).
func (s *Server) abortPlan(ctx context.Context, p storedPlan, rev int64, reason string) (*PlanStatus, error) {
	o := rotate.Observation{Now: s.now(), Deploy: s.canDeploy(p.Host)}
	d, err := rotate.Abort(p.Plan, o, false)
	if err != nil {
		return nil, rotErr(http.StatusConflict, "cannot_abort", "%v", err)
	}
	if d.Action == rotate.Rollback {
		err := s.deployPin(ctx, DeployRequest{PlanID: p.ID, App: p.App, Host: p.Host, Pin: p.OldPin, Action: "rollback"}, p.NextPin)
		e := store.AuditEntry{From: stateName(p.State), To: stateName(p.State), What: "rollback", Token: actor(ctx),
			Why: "every address of " + p.Host + " returned to " + p.OldPin.String()}
		if err != nil {
			e.Why = "failed: " + err.Error()
			o.DeployErr = err
		}
		if rev, err = s.savePlan(ctx, &p, rev, e); err != nil {
			return nil, err
		}
		if d, err = rotate.Abort(p.Plan, o, o.DeployErr == nil); err != nil {
			return nil, err
		}
	}
	if d.State != rotate.Aborted {
		return nil, rotErr(http.StatusBadGateway, "rollback_failed", "%s", d.BlockedBy)
	}
	from := p.State
	p.State, p.BlockedBy, p.Pending = rotate.Aborted, "", nil
	why := d.Why
	if reason != "" {
		why = reason + " (" + d.Why + ")"
	}
	if _, err := s.savePlan(ctx, &p, rev, store.AuditEntry{From: stateName(from), To: string(rotate.Aborted), What: "abort", Why: why, Token: actor(ctx)}); err != nil {
		return nil, err
	}
	s.log.Warn("rotation plan aborted", "plan", p.ID, "app", p.App, "host", p.Host, "from", stateName(from), "why", why, "token", actor(ctx))
	return s.planStatus(ctx, &p, false)
}

// StepRotations steps every active plan once (the background task).
func (s *Server) StepRotations(ctx context.Context) error {
	recs, err := s.store.Plans(ctx, "", true)
	if err != nil {
		return err
	}
	var errs []error
	for _, rec := range recs {
		if _, err := s.StepRotation(ctx, rec.ID, false); err != nil && !errors.Is(err, store.ErrConflict) {
			errs = append(errs, fmt.Errorf("rotation plan %d: %w", rec.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Server) rotationLoop(ctx context.Context) error {
	interval := s.cfg.Rotation.Interval
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.StepRotations(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("rotation step failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Server) planStatus(ctx context.Context, p *storedPlan, withAudit bool) (*PlanStatus, error) {
	st := &PlanStatus{ID: p.ID, App: p.App, Host: p.Host, State: p.State, Awaiting: p.Awaiting, NextPin: p.NextPin.String(),
		OldPin: p.OldPin.String(), Threshold: p.Threshold, HoldDownSeconds: int64(p.HoldDown / time.Second), MinClients: p.MinClients,
		BlockedBy: p.BlockedBy, AnnouncedAt: p.AnnouncedAt, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
	if p.FollowingPin != nil {
		st.FollowingPin = p.FollowingPin.String()
	}
	if p.Pending != nil {
		st.Envelope = "/v1/admin/rotations/" + strconv.FormatInt(p.ID, 10) + "/envelope"
	}
	rep, err := s.Adoption(ctx, p.App)
	if err != nil {
		return nil, err
	}
	st.Clients, st.Adoption = rep.HostPinFraction(p.Host, p.NextPin)
	st.ActiveClients = rep.ActiveClients
	st.Networks, st.NetworkAdoption = rep.HostPinNetworkFraction(p.Host, p.NextPin)
	if withAudit {
		if st.Audit, err = s.store.PlanAudit(ctx, p.ID); err != nil {
			return nil, err
		}
		if st.AdoptionHistory, err = s.store.AdoptionSamples(ctx, p.ID); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// Rotations lists plans (of one app when app is not empty), newest first.
func (s *Server) Rotations(ctx context.Context, app string, activeOnly bool) ([]*PlanStatus, error) {
	recs, err := s.store.Plans(ctx, app, activeOnly)
	if err != nil {
		return nil, err
	}
	out := []*PlanStatus{}
	for _, rec := range recs {
		p, _, err := s.loadPlan(ctx, rec.ID)
		if err != nil {
			return nil, err
		}
		st, err := s.planStatus(ctx, &p, false)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// maxRotationBody caps the body of a rotation request.
const maxRotationBody = 16 << 10

func (s *Server) rotationRoutes(adm func(pattern string, h http.HandlerFunc)) {
	adm("POST /v1/admin/apps/{app}/rotations", s.handleStartRotation)
	adm("GET /v1/admin/apps/{app}/rotations", s.handleListRotations)
	adm("GET /v1/admin/rotations", s.handleListRotations)
	adm("GET /v1/admin/rotations/{id}", s.handleRotation)
	adm("POST /v1/admin/rotations/{id}/advance", s.handleRotationAdvance)
	adm("POST /v1/admin/rotations/{id}/abort", s.handleRotationAbort)
	adm("GET /v1/admin/rotations/{id}/envelope", s.handleRotationEnvelope)
}

func (s *Server) rotationError(w http.ResponseWriter, r *http.Request, err error) {
	var re *RotationError
	if errors.As(err, &re) {
		writeError(w, re.Status, re.Code, re.Error())
		return
	}
	if errors.Is(err, store.ErrConflict) {
		writeError(w, http.StatusConflict, "conflict", "the plan changed meanwhile (another request or process stepped it): retry")
		return
	}
	s.internalError(w, r, err)
}

func (s *Server) handleStartRotation(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	if !validApp(app) {
		writeError(w, http.StatusNotFound, "not_found", "no such app")
		return
	}
	var req StartRotation
	if err := input.DecodeJSON(r.Body, maxRotationBody, &req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "rotation request: "+err.Error())
		return
	}
	st, err := s.StartRotation(r.Context(), app, req)
	if err != nil {
		s.rotationError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, st)
}

func (s *Server) handleListRotations(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	list, err := s.Rotations(r.Context(), app, r.URL.Query().Get("active") == "1")
	if err != nil {
		s.rotationError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"plans": list})
}

func planID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusNotFound, "not_found", "no such rotation plan")
		return 0, false
	}
	return id, true
}

// requestPlan loads the plan the request's path names; when it cannot, it
// has answered with the error and returns false.
func (s *Server) requestPlan(w http.ResponseWriter, r *http.Request) (storedPlan, bool) {
	id, ok := planID(w, r)
	if !ok {
		return storedPlan{}, false
	}
	p, _, err := s.loadPlan(r.Context(), id)
	if err != nil {
		s.rotationError(w, r, err)
		return storedPlan{}, false
	}
	return p, true
}

func (s *Server) handleRotation(w http.ResponseWriter, r *http.Request) {
	p, ok := s.requestPlan(w, r)
	if !ok {
		return
	}
	st, err := s.planStatus(r.Context(), &p, true)
	s.writePlan(w, r, st, err)
}

// writePlan answers with a plan's status, or with the error that stopped
// the request (rotationError).
func (s *Server) writePlan(w http.ResponseWriter, r *http.Request, st *PlanStatus, err error) {
	if err != nil {
		s.rotationError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) handleRotationAdvance(w http.ResponseWriter, r *http.Request) {
	id, ok := planID(w, r)
	if !ok {
		return
	}
	var req struct {
		FollowingPin *pin.Pin `json:"following_pin,omitempty"`
	}
	if err := input.DecodeJSON(r.Body, maxRotationBody, &req); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "bad_request", "advance request: "+err.Error())
		return
	}
	if req.FollowingPin != nil {
		if err := s.setFollowingPin(r.Context(), id, *req.FollowingPin); err != nil {
			s.rotationError(w, r, err)
			return
		}
	}
	st, err := s.StepRotation(r.Context(), id, true)
	s.writePlan(w, r, st, err)
}

func (s *Server) setFollowingPin(ctx context.Context, id int64, fp pin.Pin) error {
	_, err := s.retryPlan(func() (*PlanStatus, error) { return nil, s.setFollowing(ctx, id, fp) })
	return err
}

func (s *Server) setFollowing(ctx context.Context, id int64, fp pin.Pin) error {
	p, rec, err := s.loadPlan(ctx, id)
	if err != nil {
		return err
	}
	if p.State.Terminal() {
		return rotErr(http.StatusConflict, "plan_over", "the plan is %s", p.State)
	}
	if fp == p.OldPin || fp == p.NextPin {
		return rotErr(http.StatusBadRequest, "bad_request", "the following key must differ from the old and the next key")
	}
	p.FollowingPin = &fp
	p.Pending = nil // rebuilt with the following pin
	_, err = s.savePlan(ctx, &p, rec.Rev, store.AuditEntry{From: stateName(p.State), To: stateName(p.State), What: "following-pin",
		Why: "the retiring manifest will announce " + fp.String(), Token: actor(ctx)})
	return err
}

func (s *Server) handleRotationAbort(w http.ResponseWriter, r *http.Request) {
	id, ok := planID(w, r)
	if !ok {
		return
	}
	st, err := s.AbortRotation(r.Context(), id)
	s.writePlan(w, r, st, err)
}

func (s *Server) handleRotationEnvelope(w http.ResponseWriter, r *http.Request) {
	p, ok := s.requestPlan(w, r)
	if !ok {
		return
	}
	if p.Pending == nil {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("plan %d awaits no signatures (state %s)", p.ID, stateName(p.State)))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", "attachment")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(p.Pending)
}
