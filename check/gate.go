package check

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/trust"
)

// Refusal is one live address a manifest would make clients refuse.
type Refusal struct {
	Host    string `json:"host"`
	Address string `json:"address"`
	Pattern string `json:"pattern"`
	// MissingPin is the key the address serves (its leaf): adding it, or
	// a pin of its issuing CA, would cover the address.
	MissingPin pin.Pin `json:"missing_pin"`
	// Served are the pins of the verified chain, leaf to root.
	Served []pin.Pin `json:"served"`
}

// GateError refuses a manifest. errors.Is(err, ErrWouldRefuse) holds.
type GateError struct {
	Refusals []Refusal
	// Report is the full check behind the decision.
	Report *Report
}

// Error names every host, address and missing pin, on one line.
func (e *GateError) Error() string {
	return errorList(fmt.Sprintf("the manifest would make clients refuse %d live address(es): ", len(e.Refusals)), e.Refusals, func(r Refusal) string {
		return fmt.Sprintf("%s at %s serves key %s, missing from %q", r.Host, r.Address, r.MissingPin.Format(pin.OkHttp), r.Pattern)
	})
}

// Is makes errors.Is(err, ErrWouldRefuse) true.
func (e *GateError) Is(target error) bool { return target == ErrWouldRefuse }

// Refusals lists the addresses refused because of the pins (verdict
// RefusedPin). Addresses whose chain does not verify, or that do not
// answer, are refused or unknown whatever the manifest says, so they do
// not count against it.
func (r *Report) Refusals() []Refusal {
	var out []Refusal
	for _, h := range r.Hosts {
		for _, a := range h.Addresses {
			if a.Verdict != RefusedPin || a.MissingPin == nil {
				continue
			}
			ref := Refusal{Host: h.Host, Address: a.Address, Pattern: h.Pattern, MissingPin: *a.MissingPin}
			for _, c := range a.VerifiedChain {
				ref.Served = append(ref.Served, c.Pin)
			}
			out = append(out, ref)
		}
	}
	return out
}

// Gate runs the check on every concrete host of policies and returns a
// *GateError when any live address would be refused because of them, or,
// with Options.Strict, an *UncheckedError when some address could not be
// judged; the report is returned either way (nil only on an error that
// stopped the run). This is the publish gate: one function for the service
// and the CLI. Forcing a publication is the caller's decision, taken by not
// calling Gate.
func Gate(ctx context.Context, policies []policy.Policy, opts Options) (*Report, error) {
	rep, err := Run(ctx, policies, nil, opts)
	if err != nil {
		return nil, err
	}
	if refs := rep.Refusals(); len(refs) > 0 {
		return rep, &GateError{Refusals: refs, Report: rep}
	}
	if opts.Strict {
		if un := rep.Unchecked(); len(un) > 0 {
			return rep, &UncheckedError{Unchecked: un, Report: rep}
		}
	}
	return rep, nil
}

// ManifestGate returns the publish gate in the shape the pin service's
// hook takes: it checks the manifest's concrete hosts with opts and
// returns the gate's summary, and a *GateError when the manifest would
// make clients refuse a live address. Without Options.Strict, addresses
// the gate cannot judge (a chain that does not verify against opts.RootCAs,
// an address that does not answer, a host that does not resolve) do not
// block a publication, but the summary counts and names every one of
// them; with Strict they refuse it (*UncheckedError).
func ManifestGate(opts Options) func(ctx context.Context, m *trust.Manifest) (*GateSummary, error) {
	return func(ctx context.Context, m *trust.Manifest) (*GateSummary, error) {
		rep, err := Gate(ctx, m.Hosts, opts)
		if rep == nil {
			return nil, err
		}
		return rep.GateSummary(opts.Strict), err
	}
}

// ErrUnchecked is matched by an *UncheckedError.
var ErrUnchecked = errors.New("the publish gate could not check every address")

// UncheckedError refuses a manifest under Options.Strict: some addresses
// could not be judged. errors.Is(err, ErrUnchecked) holds.
type UncheckedError struct {
	Unchecked []GateAddress
	Report    *Report
}

// Error names every address that could not be checked, and why.
func (e *UncheckedError) Error() string {
	return errorList(fmt.Sprintf("strict publish gate: %d address(es) could not be checked: ", len(e.Unchecked)), e.Unchecked, func(a GateAddress) string {
		if a.Address != "" {
			return fmt.Sprintf("%s at %s %s: %s", a.Host, a.Address, a.Verdict, a.Reason)
		}
		return fmt.Sprintf("%s %s: %s", a.Host, a.Verdict, a.Reason)
	})
}

// Is makes errors.Is(err, ErrUnchecked) true.
func (e *UncheckedError) Is(target error) bool { return target == ErrUnchecked }

// Unchecked lists what the gate could not judge: addresses whose chain
// does not verify (so whether the pins cover them is unknown), addresses
// that did not answer, and hosts that did not resolve (Address empty).
func (r *Report) Unchecked() []GateAddress {
	var out []GateAddress
	for _, a := range r.gateAddresses() {
		switch a.Verdict {
		case string(RefusedUntrusted), string(Unreachable), VerdictUnresolved:
			out = append(out, a)
		}
	}
	return out
}

// VerdictUnresolved is the verdict of a GateAddress for a host whose name
// did not resolve.
const VerdictUnresolved = "unresolved"

// MaxGateAddresses caps the addresses a GateSummary lists; the rest are
// counted in AddressesOmitted.
const MaxGateAddresses = 1000

// GateSummary is what the publish gate checked, in the publish answer of
// the pin service (docs/api.md): how many addresses it checked and what it
// found, each address with its verdict and reason, so that a gate that
// could not check is never silent.
type GateSummary struct {
	// Skipped is set when the gate did not run, and says why.
	Skipped string `json:"skipped,omitempty"`
	// Strict: unverifiable, unreachable and unresolved refuse.
	Strict bool `json:"strict"`
	Hosts  int  `json:"hosts"`
	// Checked counts the addresses probed.
	Checked int `json:"checked"`
	// Accepted counts addresses clients accept (report-only included).
	Accepted           int `json:"accepted"`
	AcceptedReportOnly int `json:"accepted_report_only"`
	// Refused counts addresses clients would refuse because of the pins.
	Refused int `json:"refused"`
	// Unverifiable counts addresses whose chain does not verify against
	// the gate's roots (publish_gate.cafile): whether the pins cover them
	// is unknown.
	Unverifiable int `json:"unverifiable"`
	// Unreachable counts addresses with no TLS handshake.
	Unreachable int `json:"unreachable"`
	// Unresolved counts hosts whose name did not resolve.
	Unresolved int `json:"unresolved"`
	// Unprobed are wildcard patterns with no host to connect to.
	Unprobed []Unprobed `json:"unprobed,omitempty"`
	// Addresses lists every address (and unresolved host) with its
	// verdict and reason, at most MaxGateAddresses.
	Addresses        []GateAddress `json:"addresses"`
	AddressesOmitted int           `json:"addresses_omitted,omitempty"`
}

// GateAddress is one address the gate checked (or one host that did not
// resolve, with Address empty).
type GateAddress struct {
	Host    string `json:"host"`
	Address string `json:"address,omitempty"`
	// Verdict is a check Verdict, or VerdictUnresolved.
	Verdict string `json:"verdict"`
	Reason  string `json:"reason"`
}

func (r *Report) gateAddresses() []GateAddress {
	var out []GateAddress
	for _, h := range r.Hosts {
		if h.Error != "" {
			out = append(out, GateAddress{Host: h.Host, Verdict: VerdictUnresolved, Reason: h.Error})
			continue
		}
		for _, a := range h.Addresses {
			out = append(out, GateAddress{Host: h.Host, Address: a.Address, Verdict: string(a.Verdict), Reason: a.Reason})
		}
	}
	return out
}

// GateSummary summarises the report for the publish answer.
func (r *Report) GateSummary(strict bool) *GateSummary {
	s := r.Summary
	g := &GateSummary{Strict: strict, Hosts: s.Hosts, Checked: s.Addresses,
		Accepted: s.Accepted + s.AcceptedReportOnly, AcceptedReportOnly: s.AcceptedReportOnly,
		Refused: s.RefusedPin, Unverifiable: s.RefusedUntrusted, Unreachable: s.Unreachable, Unresolved: s.Unresolved,
		Unprobed: r.Unprobed, Addresses: r.gateAddresses()}
	if g.Addresses == nil {
		g.Addresses = []GateAddress{}
	}
	if n := len(g.Addresses); n > MaxGateAddresses {
		g.Addresses, g.AddressesOmitted = g.Addresses[:MaxGateAddresses], n-MaxGateAddresses
	}
	return g
}

// String is one line: "publish gate: 3 addresses of 1 host checked: 1
// accepted, 1 unverifiable, 1 unreachable".
func (g *GateSummary) String() string {
	if g.Skipped != "" {
		return "publish gate: not run: " + g.Skipped
	}
	parts := countParts(g.Accepted,
		count{g.AcceptedReportOnly, "of them only because report-only"},
		count{g.Refused, "refused by the pins"},
		count{g.Unverifiable, "unverifiable (the chain does not verify against the gate's roots)"},
		count{g.Unreachable, "unreachable"},
		count{g.Unresolved, "host(s) unresolved"},
		count{len(g.Unprobed), "wildcard pattern(s) not probed"})
	mode := ""
	if g.Strict {
		mode = " (strict)"
	}
	return fmt.Sprintf("publish gate%s: %s of %s checked: %s", mode,
		plural(g.Checked, "address", "addresses"), plural(g.Hosts, "host", "hosts"), strings.Join(parts, ", "))
}
