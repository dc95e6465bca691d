package fleet

import (
	"fmt"
	"sort"
	"time"

	"pinset.dev/pinset/rotate"
)

// Result is what a simulation found.
type Result struct {
	Installs int    `json:"installs"`
	Days     int    `json:"days"`
	Seed     uint64 `json:"seed"`
	Gate     bool   `json:"gate"`
	// Threshold, HoldDown, MinClients: the rotate.Config the plan ran with.
	Threshold  float64 `json:"threshold"`
	HoldDown   string  `json:"hold_down"`
	MinClients int64   `json:"min_clients"`

	// AnnouncedHour and SwitchHour are hours since the start (-1: never).
	AnnouncedHour int `json:"announced_hour"`
	SwitchHour    int `json:"switch_hour"`
	// FinalState is the plan's state at the end; BlockedBy what it waited
	// for then.
	FinalState  string       `json:"final_state"`
	BlockedBy   string       `json:"blocked_by,omitempty"`
	Transitions []Transition `json:"transitions"`

	// TimeTo is the time from the announcement until a fraction of all
	// installs held the next pin ("50%", "90%", "99%", "99.9%"), in hours;
	// null when not reached within the simulation.
	TimeTo map[string]*float64 `json:"time_to_hours"`

	// BrickedInstalls are installs that attempted a connection their pins
	// refused and did not get through (the self-heal, when on, did not
	// repair it); BrickedInstallHours the hours in which they did. Causes
	// counts bricked installs by the cause of their first refusal.
	// RefusedInstalls counts every install that had at least one handshake
	// refused under the pins it held, healed or not.
	RefusedInstalls     int64            `json:"refused_installs"`
	BrickedInstalls     int64            `json:"bricked_installs"`
	BrickedInstallHours int64            `json:"bricked_install_hours"`
	Causes              map[string]int64 `json:"bricked_causes"`
	// Heal is whether installs ran the SDK's self-heal; HealRefreshes
	// counts the heals that refreshed, HealRetries the further fetches
	// they made after a failed one (client.Schedule.HealRetry), Healed
	// the refused requests that succeeded on the second handshake.
	Heal          bool  `json:"heal"`
	HealRefreshes int64 `json:"heal_refreshes"`
	HealRetries   int64 `json:"heal_retries"`
	Healed        int64 `json:"healed_requests"`

	// Versions are the manifest versions published, with their pins.
	Versions []Version `json:"versions"`
	Hourly   []Hour    `json:"hourly"`

	published []int // hour each version after 1 was published
}

// Version is one published manifest.
type Version struct {
	Version int      `json:"version"`
	Hour    int      `json:"published_hour"`
	Keys    []string `json:"keys"`
}

// Transition is one change of the plan's state.
type Transition struct {
	Hour  int    `json:"hour"`
	State string `json:"state"`
	Why   string `json:"why"`
}

// Hour is the fleet at the end of one simulated hour.
type Hour struct {
	Hour int `json:"hour"`
	// Versions[v] is the fraction of installs enforcing manifest version v
	// (index 0 unused).
	Versions []float64 `json:"versions"`
	// NextPin is the fraction of installs whose pins include the next key;
	// Measured the fraction the service measures over its window (of
	// Active installs).
	NextPin  float64 `json:"next_pin"`
	Measured float64 `json:"measured"`
	Active   int64   `json:"active"`
	LiveKey  string  `json:"live_key"`
	// Bricked is the number of installs bricked so far.
	Bricked int64 `json:"bricked"`
}

// stepPlan runs rotate.Decide at hour h until the plan waits, performing
// the actions it asks for as the service would.
func (s *sim) stepPlan(h int) {
	if s.plan.State.Terminal() {
		return
	}
	now := s.at(h)
	obs := s.observe(now)
	for range 16 {
		d := rotate.Decide(s.plan, obs)
		switch d.Action {
		case rotate.PublishAnnounce:
			s.publish(h, s.tt.pins[s.served-1]|1<<keyNext)
			obs = s.observe(now)
			continue
		case rotate.Deploy:
			s.live, s.switched, s.plan.Deployed = keyNext, h, true
			obs = s.observe(now)
			continue
		case rotate.Verify:
			ok := s.tt.pins[s.served-1]&(1<<s.live) != 0
			obs.Verified = &rotate.Verification{OK: ok, Detail: "the served manifest does not pin the live key"}
			continue
		case rotate.PublishRetire:
			s.publish(h, s.tt.pins[s.served-1]&^(1<<keyLive)|1<<keyFollowing)
			obs = s.observe(now)
			continue
		}
		s.plan.BlockedBy = d.BlockedBy
		s.plan.Awaiting = d.Awaiting
		if d.State == s.plan.State {
			return
		}
		if d.State == rotate.Announced {
			s.plan.AnnouncedAt = now
			s.announced = h
		}
		s.plan.State = d.State
		s.res.Transitions = append(s.res.Transitions, Transition{Hour: h, State: string(d.State), Why: d.Why})
		if d.State.Terminal() {
			return
		}
	}
}

// observe is what the service sees: the published manifest and the
// adoption over its window.
func (s *sim) observe(now time.Time) rotate.Observation {
	bits := s.tt.pins[s.served-1]
	var active, next int64
	for v, c := range s.winCount {
		active += c
		if v > 0 && s.tt.pins[v-1]&(1<<keyNext) != 0 {
			next += c
		}
	}
	return rotate.Observation{
		Now: now, ManifestVersion: int64(s.served),
		NextPublished: bits&(1<<keyNext) != 0, OldPublished: bits&(1<<keyLive) != 0,
		Active: active, NextClients: next,
		// The simulated fleet fetches from one network, so the
		// per-network adoption is the installs' adoption.
		Networks: 1, NextNetworkShare: share(next, active),
		CanSign: true, SignersNeeded: 1, Deploy: true,
	}
}

func (s *sim) publish(h int, keys uint8) {
	v := s.tt.publish(s.at(h), keys)
	s.served = v
	s.res.published = append(s.res.published, h)
	s.winCount = append(s.winCount, 0)
	s.holdCount = append(s.holdCount, 0)
	if s.hooks != nil {
		s.hooks.Publish(s.at(h), v, s.tt.repo.Root(), s.tt.envs[v-1])
	}
}

func (s *sim) record(h int) {
	n := float64(s.cfg.Installs)
	hr := Hour{Hour: h, Versions: make([]float64, len(s.holdCount)), LiveKey: keyNames[s.live], Bricked: s.res.BrickedInstalls}
	var next int64
	for v := 1; v < len(s.holdCount); v++ {
		hr.Versions[v] = float64(s.holdCount[v]) / n
		if s.tt.pins[v-1]&(1<<keyNext) != 0 {
			next += s.holdCount[v]
		}
	}
	hr.NextPin = float64(next) / n
	obs := s.observe(s.at(h))
	hr.Active = obs.Active
	if obs.Active > 0 {
		hr.Measured = float64(obs.NextClients) / float64(obs.Active)
	}
	s.res.Hourly = append(s.res.Hourly, hr)
}

// Marks are the adoption fractions TimeTo reports.
var Marks = []struct {
	Name string
	F    float64
}{{"50%", 0.5}, {"90%", 0.9}, {"99%", 0.99}, {"99.9%", 0.999}}

func (s *sim) result() *Result {
	r := s.res
	c := s.cfg
	r.Installs, r.Days, r.Seed, r.Gate, r.Heal = c.Installs, c.Days, c.Seed, c.Plan.GateOn(), !c.NoHeal
	r.Threshold, r.HoldDown, r.MinClients = s.plan.Threshold, Duration(s.plan.HoldDown).String(), s.plan.MinClients
	r.AnnouncedHour, r.SwitchHour = s.announced, s.switched
	r.FinalState, r.BlockedBy = string(s.plan.State), s.plan.BlockedBy
	r.Causes = s.causeCount
	r.TimeTo = map[string]*float64{}
	for _, m := range Marks {
		r.TimeTo[m.Name] = nil
		if s.announced < 0 {
			continue
		}
		for _, hr := range r.Hourly[s.announced:] {
			if hr.NextPin >= m.F {
				d := float64(hr.Hour - s.announced)
				r.TimeTo[m.Name] = &d
				break
			}
		}
	}
	r.Versions = nil
	for v := 1; v <= len(s.tt.envs); v++ {
		hour := -1
		if v > 1 {
			hour = r.published[v-2]
		}
		var keys []string
		for k := range numKeys {
			if s.tt.pins[v-1]&(1<<k) != 0 {
				keys = append(keys, keyNames[k])
			}
		}
		r.Versions = append(r.Versions, Version{Version: v, Hour: hour, Keys: keys})
	}
	return r
}

// Summary is a few lines for people.
func (r *Result) Summary() string {
	out := fmt.Sprintf("%d installs, %d days, seed %d, gate %v (threshold %g, hold-down %s, min clients %d)\n",
		r.Installs, r.Days, r.Seed, r.Gate, r.Threshold, r.HoldDown, r.MinClients)
	out += fmt.Sprintf("announced at hour %d, switched at hour %d, plan %s", r.AnnouncedHour, r.SwitchHour, r.FinalState)
	if r.BlockedBy != "" {
		out += " (" + r.BlockedBy + ")"
	}
	out += "\nnext pin held by all installs:"
	for _, m := range Marks {
		if t := r.TimeTo[m.Name]; t != nil {
			out += fmt.Sprintf(" %s after %s;", m.Name, time.Duration(*t)*time.Hour)
		} else {
			out += fmt.Sprintf(" %s not reached;", m.Name)
		}
	}
	heal := "off"
	if r.Heal {
		heal = fmt.Sprintf("%d refreshes (%d retried fetches), %d requests healed", r.HealRefreshes, r.HealRetries, r.Healed)
	}
	out += fmt.Sprintf("\nself-heal: %s\ninstalls with a handshake refused under their pins (healed or not): %d\nbricked installs: %d, bricked install-hours: %d\n", heal, r.RefusedInstalls, r.BrickedInstalls, r.BrickedInstallHours)
	causes := make([]string, 0, len(r.Causes))
	for c := range r.Causes {
		causes = append(causes, c)
	}
	sort.Strings(causes)
	for _, c := range causes {
		out += fmt.Sprintf("  %d: %s\n", r.Causes[c], c)
	}
	return out
}

func share(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}
