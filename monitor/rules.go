package monitor

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"pinset.dev/pinset/alert"
	"pinset.dev/pinset/check"
	"pinset.dev/pinset/pin"
)

// Alert names (the "alertname" label).
const (
	AlertExpiring     = "PinsetCertificateExpiring"
	AlertCoverageLost = "PinsetCoverageLost"
	AlertNoBackupPin  = "PinsetNoBackupPin"
	AlertProbeFailing = "PinsetProbeFailing"
	AlertReportSpike  = "PinsetPinFailureReportSpike"
	AlertHostUnpinned = "PinsetHostUnpinned"
	// AlertRotationSpike is raised by a rotation plan (package server)
	// that sees a report spike for its host after its switch.
	AlertRotationSpike = "PinsetRotationReportSpike"
)

// rules derives the alerts whose conditions hold in a round. Each alert's
// labels are its identity: the same condition on the same address is the
// same alert from one round to the next. Coverage, expiry and backup pins
// are check's findings, mapped (coverageAlerts); the monitor decides only
// report spikes and unpinned hosts itself.
func (m *Monitor) rules(r *Round) []alert.Alert {
	var out []alert.Alert
	for _, app := range slices.Sorted(maps.Keys(r.Reports)) {
		out = append(out, coverageAlerts(app, r.Reports[app])...)
	}
	if m.cfg.SpikeThreshold > 0 {
		for _, app := range slices.Sorted(maps.Keys(r.ReportEvents)) {
			for _, h := range slices.Sorted(maps.Keys(r.ReportEvents[app])) {
				n := r.ReportEvents[app][h]
				if m.spiking(n) {
					out = append(out, mk(AlertReportSpike, "critical", map[string]string{"app": app, "host": h}, "",
						fmt.Sprintf("%d pin-failure reports for %s in %s", n, h, m.cfg.SpikeWindow),
						fmt.Sprintf("threshold %d per %s: interception, or a deploy that serves an unpinned key", m.cfg.SpikeThreshold, m.cfg.SpikeWindow)))
				}
			}
		}
	}
	for _, u := range r.Unpins {
		for _, h := range u.Hosts {
			labels := map[string]string{"app": u.App, "host": h.Pattern, "version": strconv.FormatInt(u.Version, 10)}
			if h.Name != "" {
				labels["name"] = h.Name
			}
			out = append(out, mk(AlertHostUnpinned, "critical", labels, "",
				fmt.Sprintf("manifest v%d of %s stopped enforcing the pins of %s (%s)", u.Version, u.App, h.Pattern, h.Change),
				fmt.Sprintf("published %s: %s. Only force_unpin publishes this: if nobody meant to, the service or an admin token is compromised",
					u.Published.UTC().Format(time.RFC3339), h.Reason)))
		}
	}
	return out
}

// coverageAlerts maps the findings of one check run to alerts: check
// decides what is wrong with an address or a policy (one decision, one
// place), the monitor only which findings page someone and how. Several
// expiring certificates of one address are one alert, for the earliest.
// Backup-pin findings alert for enforced policies only: a report-only
// policy bricks nobody.
func coverageAlerts(app string, rep *check.Report) []alert.Alert {
	hosts := map[check.Target]*check.HostResult{}
	for i := range rep.Hosts {
		h := &rep.Hosts[i]
		hosts[check.Target{Host: h.Host, Port: h.Port}] = h
	}
	var out []alert.Alert
	type expiry struct {
		at       int // index in out
		notAfter time.Time
	}
	expiring := map[string]expiry{}
	seen := map[string]bool{}
	add := func(a alert.Alert) {
		if id := a.Fingerprint(); !seen[id] { // one alert per identity: no-backup-pin and no-key-held-back of one host are one
			seen[id] = true
			out = append(out, a)
		}
	}
	for _, f := range rep.Findings {
		base := map[string]string{"app": app, "host": f.Host, "port": strconv.Itoa(f.Port)}
		switch f.Code {
		case check.CodeUnresolved:
			add(mk(AlertProbeFailing, "critical", base, "", fmt.Sprintf("%s:%d does not resolve", f.Host, f.Port), f.Message))
		case check.CodeUnreachable:
			add(mk(AlertProbeFailing, "critical", base, f.Address,
				fmt.Sprintf("no TLS handshake with %s at %s", f.Host, f.Address), f.Message))
		case check.CodeRefusedPin:
			key := "?"
			if f.Pin != nil {
				key = f.Pin.Format(pin.OkHttp)
			}
			add(mk(AlertCoverageLost, "critical", base, f.Address,
				fmt.Sprintf("clients refuse %s at %s: its key %s is not pinned", f.Host, f.Address, key), f.Message))
		case check.CodeRefusedUntrusted:
			add(mk(AlertCoverageLost, "critical", base, f.Address,
				fmt.Sprintf("clients refuse %s at %s: the chain does not verify", f.Host, f.Address), f.Message))
		case check.CodeExpiring:
			a := mk(AlertExpiring, "warning", base, f.Address,
				fmt.Sprintf("a certificate of %s at %s expires in %s", f.Host, f.Address, f.NotAfter.Sub(rep.CheckedAt).Round(time.Hour)), f.Message)
			id := a.Fingerprint()
			if e, ok := expiring[id]; !ok {
				expiring[id] = expiry{len(out), f.NotAfter}
				seen[id] = true
				out = append(out, a)
			} else if f.NotAfter.Before(e.notAfter) {
				expiring[id] = expiry{e.at, f.NotAfter}
				out[e.at] = a
			}
		case check.CodeNoBackupPin, check.CodeNoKeyHeldBack:
			h := hosts[check.Target{Host: f.Host, Port: f.Port}]
			if h == nil || h.ReportOnly {
				continue
			}
			summary := fmt.Sprintf("%s has %d pin(s): no backup pin", f.Host, len(h.Pins))
			if f.Code == check.CodeNoKeyHeldBack {
				summary = fmt.Sprintf("every pin of %s is served now: no key held back", f.Host)
			}
			add(mk(AlertNoBackupPin, "warning", base, "", summary, f.Message))
		}
	}
	return out
}

func mk(name, severity string, base map[string]string, address, summary, description string) alert.Alert {
	labels := map[string]string{"alertname": name, "severity": severity}
	for k, v := range base {
		labels[k] = v
	}
	if address != "" {
		labels["address"] = address
	}
	return alert.Alert{Labels: labels, Annotations: map[string]string{"summary": summary, "description": description}}
}
