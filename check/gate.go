package check

import (
	"context"
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
	var b strings.Builder
	fmt.Fprintf(&b, "the manifest would make clients refuse %d live address(es): ", len(e.Refusals))
	for i, r := range e.Refusals {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s at %s serves key %s, missing from %q", r.Host, r.Address, r.MissingPin.Format(pin.OkHttp), r.Pattern)
	}
	return b.String()
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
// *GateError when any live address would be refused because of them;
// the report is returned either way (nil only on an error that stopped
// the run). This is the publish gate: one function for the service and
// the CLI. Forcing a publication is the caller's decision, taken by not
// calling Gate.
func Gate(ctx context.Context, policies []policy.Policy, opts Options) (*Report, error) {
	rep, err := Run(ctx, policies, nil, opts)
	if err != nil {
		return nil, err
	}
	if refs := rep.Refusals(); len(refs) > 0 {
		return rep, &GateError{Refusals: refs, Report: rep}
	}
	return rep, nil
}

// ManifestGate returns the publish gate in the shape the pin service's
// hook takes: it checks the manifest's concrete hosts with opts and
// returns a *GateError when the manifest would make clients refuse a live
// address. Infrastructure failures (a host that does not resolve, an
// address that does not answer) do not block a publication: the gate
// judges the manifest, not the network.
func ManifestGate(opts Options) func(ctx context.Context, m *trust.Manifest) error {
	return func(ctx context.Context, m *trust.Manifest) error {
		_, err := Gate(ctx, m.Hosts, opts)
		return err
	}
}
