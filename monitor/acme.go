package monitor

import (
	"fmt"
	"time"

	"pinset.dev/pinset/alert"
	"pinset.dev/pinset/renew"
)

// Alerts of the ACME schedule (package renew decides when a host is
// failing and when a renewal is overdue; the monitor maps that here).
const (
	AlertACMEFailing    = "PinsetACMEFailing"
	AlertRenewalOverdue = "PinsetRenewalOverdue"
)

// ACMEStatusFunc reports the ACME schedule's hosts at a time
// (renew.Scheduler.Status).
type ACMEStatusFunc func(now time.Time) []renew.Status

// acmeRules maps the schedule's status to alerts: PinsetACMEFailing once
// per failing host, PinsetRenewalOverdue per host and key (live or next).
// The labels are configured hosts and two roles: bounded.
func acmeRules(sts []renew.Status) []alert.Alert {
	var out []alert.Alert
	for _, st := range sts {
		labels := map[string]string{"host": st.Host}
		if st.Failing && st.Key == renew.Live {
			out = append(out, mk(AlertACMEFailing, "critical", labels, "",
				fmt.Sprintf("the ACME schedule of %s failed %d times in a row", st.Host, st.Failures),
				fmt.Sprintf("last error: %s; next attempt %s", st.LastError, st.NextAttempt.UTC().Format(time.RFC3339))))
		}
		if st.Overdue {
			labels := map[string]string{"host": st.Host, "key": st.Key}
			expiry := "no certificate yet"
			if !st.NotAfter.IsZero() {
				expiry = "the certificate expires " + st.NotAfter.UTC().Format(time.RFC3339)
			}
			why := st.LastError
			if why == "" {
				why = "no failure recorded: the schedule has not run since"
			}
			out = append(out, mk(AlertRenewalOverdue, "critical", labels, "",
				fmt.Sprintf("the %s key's certificate of %s was to be renewed at %s and was not", st.Key, st.Host, st.RenewAt.UTC().Format(time.RFC3339)),
				fmt.Sprintf("%s; %s", expiry, why)))
		}
	}
	return out
}
