package monitor

import (
	"fmt"
	"sort"
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
)

// rules derives the alerts whose conditions hold in a round. Each alert's
// labels are its identity: the same condition on the same address is the
// same alert from one round to the next.
func (m *Monitor) rules(r *Round) []alert.Alert {
	var out []alert.Alert
	apps := make([]string, 0, len(r.Reports))
	for app := range r.Reports {
		apps = append(apps, app)
	}
	sort.Strings(apps)
	for _, app := range apps {
		rep := r.Reports[app]
		for _, h := range rep.Hosts {
			base := map[string]string{"app": app, "host": h.Host, "port": strconv.Itoa(h.Port)}
			if h.Error != "" {
				out = append(out, mk(AlertProbeFailing, "critical", base, "", fmt.Sprintf("%s:%d does not resolve", h.Host, h.Port), h.Error))
			}
			for _, a := range h.Addresses {
				switch a.Verdict {
				case check.Unreachable:
					out = append(out, mk(AlertProbeFailing, "critical", base, a.Address,
						fmt.Sprintf("no TLS handshake with %s at %s", h.Host, a.Address), a.Reason))
				case check.RefusedPin:
					out = append(out, mk(AlertCoverageLost, "critical", base, a.Address,
						fmt.Sprintf("clients refuse %s at %s: its key %s is not pinned", h.Host, a.Address, a.MissingPin.Format(pin.OkHttp)), a.Reason))
				case check.RefusedUntrusted:
					out = append(out, mk(AlertCoverageLost, "critical", base, a.Address,
						fmt.Sprintf("clients refuse %s at %s: the chain does not verify", h.Host, a.Address), a.Reason))
				}
				if a.Verified && !a.EarliestNotAfter.IsZero() && a.EarliestNotAfter.Sub(r.Time) < m.cfg.Check.ExpiryWarning {
					left := a.EarliestNotAfter.Sub(r.Time)
					out = append(out, mk(AlertExpiring, "warning", base, a.Address,
						fmt.Sprintf("a certificate of %s at %s expires in %s", h.Host, a.Address, left.Round(time.Hour)),
						fmt.Sprintf("the earliest not-after of the verified chain is %s (warning window %s)", a.EarliestNotAfter.Format(time.RFC3339), m.cfg.Check.ExpiryWarning)))
				}
			}
			if h.Pattern != "" && !h.ReportOnly {
				switch {
				case len(h.Pins) < 2:
					out = append(out, mk(AlertNoBackupPin, "warning", base, "",
						fmt.Sprintf("%s has %d pin(s): no backup pin", h.Host, len(h.Pins)), "the next key rotation bricks clients; pin a key held back"))
				case h.BackupPins == 0:
					out = append(out, mk(AlertNoBackupPin, "warning", base, "",
						fmt.Sprintf("every pin of %s is served now: no key held back", h.Host), "a lost or compromised key cannot be rotated without bricking clients; pin a key held back"))
				}
			}
		}
	}
	if m.cfg.SpikeThreshold > 0 {
		reportApps := make([]string, 0, len(r.ReportEvents))
		for app := range r.ReportEvents {
			reportApps = append(reportApps, app)
		}
		sort.Strings(reportApps)
		for _, app := range reportApps {
			hosts := make([]string, 0, len(r.ReportEvents[app]))
			for h := range r.ReportEvents[app] {
				hosts = append(hosts, h)
			}
			sort.Strings(hosts)
			for _, h := range hosts {
				n := r.ReportEvents[app][h]
				if n >= int64(m.cfg.SpikeThreshold) {
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
