package check

import (
	"crypto/x509"
	"fmt"
	"time"

	"pinset.dev/pinset/pin"
)

// Verdict is what a client holding the manifest does with one address.
type Verdict string

// Verdicts, from good to bad.
const (
	// Accepted: the chain verifies and holds a pin of the host's policy
	// (or the host is not pinned).
	Accepted Verdict = "accepted"
	// AcceptedReportOnly: no pin matches, but the policy is report-only,
	// so clients connect and send a failure report.
	AcceptedReportOnly Verdict = "accepted-report-only"
	// RefusedPin: the chain verifies but holds none of the pins. This is
	// the manifest's doing: the publish gate refuses such a manifest.
	RefusedPin Verdict = "refused-pin"
	// RefusedUntrusted: the chain does not verify (expired, wrong name,
	// unknown CA). Clients refuse it whatever the pins say.
	RefusedUntrusted Verdict = "refused-untrusted"
	// Unreachable: no TLS handshake (refused, timed out, reset). What
	// clients would do is unknown.
	Unreachable Verdict = "unreachable"
)

// Refused reports whether clients refuse the connection.
func (v Verdict) Refused() bool { return v == RefusedPin || v == RefusedUntrusted }

// Report is the result of one check run: coverage of a manifest against
// live servers (not a pin-failure report, which is report.Report, nor an
// app scan, which is scan.Report). It is the JSON that `pinset check
// --json` prints, specified in docs/check.md.
type Report struct {
	// CheckedAt is the clock's time when the run started.
	CheckedAt time.Time `json:"checked_at"`
	// ExpiryWarningSeconds is the warning window used for "expiring".
	ExpiryWarningSeconds int64 `json:"expiry_warning_seconds"`
	// Hosts are the probed hosts, in the order asked.
	Hosts []HostResult `json:"hosts"`
	// Unprobed are manifest patterns with no concrete host to connect to.
	Unprobed []Unprobed `json:"unprobed,omitempty"`
	// Findings list every problem and remark, worst first.
	Findings []Finding `json:"findings"`
	// Summary counts addresses by verdict.
	Summary Summary `json:"summary"`
}

// Summary counts addresses by verdict.
type Summary struct {
	Hosts              int `json:"hosts"`
	Addresses          int `json:"addresses"`
	Accepted           int `json:"accepted"`
	AcceptedReportOnly int `json:"accepted_report_only"`
	RefusedPin         int `json:"refused_pin"`
	RefusedUntrusted   int `json:"refused_untrusted"`
	Unreachable        int `json:"unreachable"`
	// Unresolved counts hosts whose name did not resolve.
	Unresolved int `json:"unresolved"`
	Errors     int `json:"errors"`
	Warnings   int `json:"warnings"`
}

// Refused reports whether any address would be refused by clients.
func (r *Report) Refused() bool { return r.Summary.RefusedPin+r.Summary.RefusedUntrusted > 0 }

// Incomplete reports whether some host or address could not be checked.
func (r *Report) Incomplete() bool { return r.Summary.Unreachable+r.Summary.Unresolved > 0 }

// HostResult is one host (name and port) and every address it resolved to.
type HostResult struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	// Pattern is the manifest policy that covers the host; empty when the
	// host is not pinned by the manifest.
	Pattern    string    `json:"pattern,omitempty"`
	Pins       []pin.Pin `json:"pins,omitempty"`
	ReportOnly bool      `json:"report_only,omitempty"`
	// BackupPins counts the policy's pins that no address of this host
	// serves: keys held back for the next rotation. -1 when no address
	// answered, so it is unknown.
	BackupPins int `json:"backup_pins"`
	// Error is set when the name did not resolve.
	Error     string          `json:"error,omitempty"`
	Addresses []AddressResult `json:"addresses"`
}

// AddressResult is what one address of a host served, and the verdict.
type AddressResult struct {
	// Address is IP:port (IPv6 in brackets).
	Address string  `json:"address"`
	Verdict Verdict `json:"verdict"`
	// Reason explains the verdict in one line.
	Reason string `json:"reason"`
	// Verified says whether the served chain verified to a trusted root.
	Verified    bool   `json:"verified"`
	VerifyError string `json:"verify_error,omitempty"`
	// Chain is the chain the server sent, leaf first.
	Chain []Cert `json:"chain,omitempty"`
	// VerifiedChain is the first verified chain, leaf to root: the pins a
	// client compares.
	VerifiedChain []Cert `json:"verified_chain,omitempty"`
	// MatchedPins are the policy's pins present in the verified chains.
	MatchedPins []pin.Pin `json:"matched_pins,omitempty"`
	// MissingPin, for a refused-pin address, is the served leaf key: the
	// pin the manifest lacks to cover this address.
	MissingPin *pin.Pin `json:"missing_pin,omitempty"`
	// NotAfter is the leaf's expiry; EarliestNotAfter the earliest of the
	// chain clients verify (served chain when it does not verify).
	NotAfter         time.Time `json:"not_after,omitzero"`
	EarliestNotAfter time.Time `json:"earliest_not_after,omitzero"`
}

// Cert describes one certificate of a chain.
type Cert struct {
	Pin      pin.Pin   `json:"pin"`
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer"`
	NotAfter time.Time `json:"not_after"`
}

func describeChain(chain []*x509.Certificate) []Cert {
	out := make([]Cert, len(chain))
	for i, c := range chain {
		out[i] = Cert{Pin: pin.FromCertificate(c), Subject: c.Subject.String(), Issuer: c.Issuer.String(), NotAfter: c.NotAfter.UTC()}
	}
	return out
}

// Unprobed is a manifest pattern that names no concrete host.
type Unprobed struct {
	Pattern string `json:"pattern"`
	Reason  string `json:"reason"`
}

// Severity orders findings.
type Severity string

// Severities.
const (
	SevError   Severity = "error"
	SevWarning Severity = "warning"
	SevInfo    Severity = "info"
)

func (s Severity) rank() int {
	switch s {
	case SevError:
		return 0
	case SevWarning:
		return 1
	}
	return 2
}

// Code identifies a kind of finding; codes are stable.
type Code string

// Finding codes.
const (
	CodeRefusedPin       Code = "refused-pin"         // error: clients refuse this address because of the pins
	CodeRefusedUntrusted Code = "refused-untrusted"   // error: the chain does not verify
	CodeUnreachable      Code = "unreachable"         // error: no TLS handshake
	CodeUnresolved       Code = "unresolved"          // error: the name did not resolve
	CodeReportOnlyMiss   Code = "report-only-miss"    // warning: report-only policy, no pin matches
	CodeNoBackupPin      Code = "no-backup-pin"       // warning: fewer than two pins
	CodeNoKeyHeldBack    Code = "no-key-held-back"    // warning: every pin is served now
	CodeExpiring         Code = "expiring"            // warning: a certificate expires inside the window
	CodeUnmatchedPin     Code = "unmatched-pin"       // info: a pin matches nothing served anywhere
	CodeUnpinnedHost     Code = "unpinned-host"       // info: the manifest does not pin this host
	CodeUnprobedPattern  Code = "unprobeable-pattern" // info: a wildcard pattern names no host
)

// Finding is one problem or remark.
type Finding struct {
	Severity Severity `json:"severity"`
	Code     Code     `json:"code"`
	Host     string   `json:"host,omitempty"`
	Port     int      `json:"port,omitempty"`
	Address  string   `json:"address,omitempty"`
	Pattern  string   `json:"pattern,omitempty"`
	Pin      *pin.Pin `json:"pin,omitempty"`
	// NotAfter is set for expiring findings.
	NotAfter time.Time `json:"not_after,omitzero"`
	Message  string    `json:"message"`
}

func (f Finding) String() string {
	return fmt.Sprintf("%s: %s", f.Severity, f.Message)
}
