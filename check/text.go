package check

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"pinset.dev/pinset/pin"
)

// WriteJSON writes the report as indented JSON (docs/check.md).
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for people: one row per address, then the
// findings, then a summary line.
//
//	HOST              ADDRESS          VERDICT      LEAF EXPIRES  KEY SERVED                 MATCHED
//	api.example.com   127.0.0.2:443    accepted     2026-05-30    sha256/47DEQpj8HBSa+/...   1 of 2
//	api.example.com   127.0.0.3:443    refused-pin  2026-08-01    sha256/x3vQk4Cq7mD2...     0 of 2
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tADDRESS\tVERDICT\tLEAF EXPIRES\tKEY SERVED\tMATCHED")
	for _, h := range r.Hosts {
		if h.Error != "" {
			fmt.Fprintf(tw, "%s\t-\tunresolved\t-\t-\t-\n", h.Host)
			continue
		}
		for _, a := range h.Addresses {
			exp, key, matched := "-", "-", "-"
			if !a.NotAfter.IsZero() {
				exp = a.NotAfter.Format(time.DateOnly)
			}
			if len(a.Chain) > 0 {
				key = a.Chain[0].Pin.Format(pin.OkHttp)
			}
			if h.Pattern != "" && a.Verified {
				matched = fmt.Sprintf("%d of %d", len(a.MatchedPins), len(h.Pins))
			} else if h.Pattern == "" {
				matched = "unpinned"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", h.Host, a.Address, a.Verdict, exp, key, matched)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Findings) > 0 {
		fmt.Fprintln(w)
		for _, f := range r.Findings {
			fmt.Fprintf(w, "%s: %s\n", f.Severity, f.Message)
		}
	}
	fmt.Fprintln(w)
	_, err := fmt.Fprintln(w, r.SummaryLine())
	return err
}

// SummaryLine is one line: "4 addresses of 2 hosts: 3 accepted, 1 refused (pin) ...".
func (r *Report) SummaryLine() string {
	s := r.Summary
	parts := countParts(s.Accepted,
		count{s.AcceptedReportOnly, "accepted only because report-only"},
		count{s.RefusedPin, "REFUSED by the pins"},
		count{s.RefusedUntrusted, "REFUSED (chain does not verify)"},
		count{s.Unreachable, "unreachable"},
		count{s.Unresolved, "host(s) unresolved"})
	return fmt.Sprintf("%s of %s: %s; %s, %s",
		plural(s.Addresses, "address", "addresses"), plural(s.Hosts, "host", "hosts"), strings.Join(parts, ", "),
		plural(s.Errors, "error", "errors"), plural(s.Warnings, "warning", "warnings"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// count is a number of addresses (or hosts) and what they are.
type count struct {
	n    int
	what string
}

// countParts is "N accepted", then "N what" for every count above zero:
// the parts of a summary line.
func countParts(accepted int, counts ...count) []string {
	parts := []string{fmt.Sprintf("%d accepted", accepted)}
	for _, c := range counts {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	return parts
}

// errorList is head followed by one text per item, "; " between them:
// the one line the gate's errors name their hosts and addresses in.
func errorList[T any](head string, items []T, text func(T) string) string {
	parts := make([]string, len(items))
	for i, x := range items {
		parts[i] = text(x)
	}
	return head + strings.Join(parts, "; ")
}
