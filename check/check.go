// Package check compares what live servers present with what a pin
// manifest pins, address by address, the way a client holding the
// manifest would.
//
// Pinning bricks apps when servers and pins drift apart: a load balancer
// with one node on a renewed key, a CDN edge with another chain, a backup
// pin that was never kept. [Run] resolves each host, connects to EVERY
// address (IPv4 and IPv6) with SNI set to the host through [probe.Probe],
// and decides per address whether a client holding the manifest would
// accept the connection. That decision is not re-implemented here: it is
// [enforce.Enforcer.Verify], the same code clients run, applied to the
// chains the probe verified.
//
// Beyond the verdicts, a [Report] flags hosts with fewer than two pins,
// hosts whose pins are all served right now (no key held back for the next
// rotation), certificates inside the expiry warning window (the clock is
// [Options.Now]), and pins that match nothing served anywhere.
//
// [Gate] turns a run into the publish gate: a manifest that would make
// clients refuse any live address is refused with an error naming host,
// address and missing pin. The pin service calls it before accepting a
// manifest, and `pinset manifest new --check` before writing one.
//
// The JSON of a Report is specified in docs/check.md.
package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"pinset.dev/pinset/enforce"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/probe"
)

// Defaults.
const (
	DefaultTimeout       = 10 * time.Second
	DefaultExpiryWarning = 21 * 24 * time.Hour
	DefaultConcurrency   = 32
	DefaultPort          = 443
)

// Options configure a run. The zero value checks port 443 against the
// system roots with the defaults above.
type Options struct {
	// RootCAs verify the served chains, as clients would; nil means the
	// system roots.
	RootCAs *x509.CertPool
	// Timeout bounds each address's connection and handshake.
	Timeout time.Duration
	// ExpiryWarning is how close to expiry a certificate is flagged.
	ExpiryWarning time.Duration
	// Resolve maps "HOST:PORT" to addresses instead of DNS, as curl's
	// --resolve does (see probe.ParseResolve).
	Resolve map[string][]string
	// Concurrency bounds how many hosts are probed at once.
	Concurrency int
	// DefaultPort is used for manifest hosts and targets without a port.
	DefaultPort int
	// Now is the clock for verification and expiry; nil means time.Now.
	Now func() time.Time
	// Strict makes Gate refuse when it cannot judge an address: a chain
	// that does not verify against RootCAs, an address that does not
	// answer, a host that does not resolve. Run ignores it.
	Strict bool
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ExpiryWarning == 0 {
		o.ExpiryWarning = DefaultExpiryWarning
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.DefaultPort == 0 {
		o.DefaultPort = DefaultPort
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Target is a host and port to check.
type Target struct {
	Host string
	Port int
}

func (t Target) String() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// ParseTarget parses HOST, HOST:PORT, [IPv6] or [IPv6]:PORT; the host is
// normalised (lower case, A-labels).
func ParseTarget(s string, defaultPort int) (Target, error) {
	host, port := s, defaultPort
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Target{}, fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, p)
		}
		host, port = h, n
	} else if strings.Count(s, ":") == 1 {
		return Target{}, fmt.Errorf("%q: %v", s, err)
	}
	h, err := policy.NormalizeHost(host)
	if err != nil {
		return Target{}, fmt.Errorf("%q: %v", s, err)
	}
	return Target{Host: h, Port: port}, nil
}

// Targets returns the concrete hosts of policies (exact names, IP
// literals, and the base of include-subdomains rules) on port, and the
// wildcard patterns that name no host to connect to.
func Targets(policies []policy.Policy, port int) ([]Target, []Unprobed) {
	if port == 0 {
		port = DefaultPort
	}
	var out []Target
	var un []Unprobed
	seen := map[string]bool{}
	for _, p := range policies {
		pat, err := policy.ParsePattern(p.Pattern, p.IncludeSubdomains)
		if err != nil {
			un = append(un, Unprobed{Pattern: p.Pattern, Reason: err.Error()})
			continue
		}
		if pat.Wildcard == policy.OneLabel || pat.Wildcard == policy.AnyDepth {
			un = append(un, Unprobed{Pattern: p.Pattern, Reason: "a wildcard names no host to connect to: name the hosts it covers on the command line (pinset check --manifest M api." + pat.Base + ")"})
			continue
		}
		if !seen[pat.Base] {
			seen[pat.Base] = true
			out = append(out, Target{Host: pat.Base, Port: port})
		}
	}
	return out, un
}

// Run checks targets against policies. With no targets it checks every
// concrete host of the policies and lists the wildcard-only patterns in
// Report.Unprobed. The error is for invalid policies or a cancelled
// context; unreachable addresses are results, not errors.
func Run(ctx context.Context, policies []policy.Policy, targets []Target, opts Options) (*Report, error) {
	opts = opts.withDefaults()
	set, err := policy.NewSet(policies)
	if err != nil {
		return nil, err
	}
	rep := &Report{CheckedAt: opts.Now().UTC(), ExpiryWarningSeconds: int64(opts.ExpiryWarning / time.Second), Findings: []Finding{}}
	if len(targets) == 0 {
		targets, rep.Unprobed = Targets(policies, opts.DefaultPort)
	}
	rep.Hosts = make([]HostResult, len(targets))
	addrs := make([][]string, len(targets))
	// Resolve every host, then probe every address of every host, each
	// stage with at most opts.Concurrency in flight: a host behind many
	// addresses costs one timeout, not one per address.
	parallel(len(targets), opts.Concurrency, func(i int) {
		t := targets[i]
		hr := HostResult{Host: t.Host, Port: t.Port, BackupPins: -1, Addresses: []AddressResult{}}
		if pol, pinned := set.Match(t.Host); pinned {
			hr.Pattern, hr.Pins, hr.ReportOnly = pol.Pattern, pol.Pins, pol.ReportOnly
		}
		a, err := probe.Resolve(ctx, t.Host, t.Port, probe.Options{Resolve: opts.Resolve, Timeout: opts.Timeout})
		if err != nil {
			hr.Error = err.Error()
		}
		rep.Hosts[i], addrs[i] = hr, a
	})
	type job struct{ host, addr int }
	var jobs []job
	for i, a := range addrs {
		for j := range a {
			jobs = append(jobs, job{i, j})
		}
		rep.Hosts[i].Addresses = make([]AddressResult, len(a))
	}
	parallel(len(jobs), opts.Concurrency, func(k int) {
		j := jobs[k]
		t := targets[j.host]
		rep.Hosts[j.host].Addresses[j.addr] = probeAddr(ctx, set, t, addrs[j.host][j.addr], opts)
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i := range rep.Hosts {
		as := rep.Hosts[i].Addresses
		sort.SliceStable(as, func(a, b int) bool { return addrLess(as[a].Address, as[b].Address) })
	}
	finish(rep, set, opts)
	return rep, nil
}

// parallel runs f(0..n-1) with at most limit calls at once.
func parallel(n, limit int, f func(i int)) {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(i)
		}()
	}
	wg.Wait()
}

// probeAddr probes one address of a target through probe.Probe (with a
// one-address override, so the handshake, SNI and verification are the
// probe package's) and judges it.
func probeAddr(ctx context.Context, set *policy.Set, t Target, addr string, opts Options) AddressResult {
	results, err := probe.Probe(ctx, t.Host, t.Port, probe.Options{
		ServerName: t.Host,
		RootCAs:    opts.RootCAs,
		Timeout:    opts.Timeout,
		Resolve:    map[string][]string{t.String(): {addr}},
		Now:        opts.Now,
	})
	if err != nil || len(results) == 0 {
		if err == nil {
			err = errors.New("no result")
		}
		return AddressResult{Address: net.JoinHostPort(addr, strconv.Itoa(t.Port)), Verdict: Unreachable, Reason: err.Error()}
	}
	return judge(set, t, results[0], opts.Now)
}

// judge decides what a client holding the policies does with one probed
// address. The pin decision is enforce's, on the verified chains only.
func judge(set *policy.Set, t Target, r probe.Result, now func() time.Time) AddressResult {
	ar := AddressResult{Address: r.Addr}
	if ar.Address == "" {
		ar.Address = t.String()
	}
	ar.Chain = describeChain(r.ServedChain)
	if len(r.ServedChain) > 0 {
		ar.NotAfter = r.ServedChain[0].NotAfter.UTC()
	}
	switch {
	case r.Err != nil && len(r.ServedChain) == 0:
		ar.Verdict, ar.Reason = Unreachable, r.Err.Error()
		return ar
	case r.VerifyErr != nil || len(r.VerifiedChains) == 0:
		ar.Verdict = RefusedUntrusted
		ar.VerifyError = "no verified chain"
		if r.VerifyErr != nil {
			ar.VerifyError = r.VerifyErr.Error()
		}
		ar.Reason = "the chain does not verify: " + ar.VerifyError
		ar.EarliestNotAfter = earliest(r.ServedChain)
		return ar
	}
	ar.Verified = true
	ar.VerifiedChain = describeChain(r.VerifiedChains[0])
	ar.EarliestNotAfter = earliest(r.VerifiedChains[0])

	var failure *enforce.Failure
	cs := tls.ConnectionState{ServerName: t.Host, PeerCertificates: r.ServedChain, VerifiedChains: r.VerifiedChains}
	enf := enforce.New(enforce.Static(set), enforce.Options{Now: now, OnFailure: func(f *enforce.Failure) { failure = f }})
	err := enf.Verify(cs, t.Port)
	pol, pinned := set.Match(t.Host)
	switch {
	case err != nil:
		ar.Verdict = RefusedPin
		missing := pin.FromCertificate(r.VerifiedChains[0][0])
		ar.MissingPin = &missing
		ar.Reason = fmt.Sprintf("no key of the verified chain is among the %d pin(s) of %q; the server's key is %s", len(pol.Pins), pol.Pattern, missing.Format(pin.OkHttp))
	case failure != nil && failure.ReportOnly:
		ar.Verdict = AcceptedReportOnly
		missing := pin.FromCertificate(r.VerifiedChains[0][0])
		ar.MissingPin = &missing
		ar.Reason = fmt.Sprintf("no pin of %q matches (report-only: clients connect and report); the server's key is %s", pol.Pattern, missing.Format(pin.OkHttp))
	case !pinned:
		ar.Verdict, ar.Reason = Accepted, "the manifest does not pin this host; the chain verifies"
	default:
		ar.Verdict = Accepted
		for _, ch := range r.VerifiedChains {
			for _, c := range ch {
				if p := pin.FromCertificate(c); pin.Contains(pol.Pins, p) && !pin.Contains(ar.MatchedPins, p) {
					ar.MatchedPins = append(ar.MatchedPins, p)
				}
			}
		}
		ar.Reason = fmt.Sprintf("verified chain holds %d of the %d pin(s) of %q", len(ar.MatchedPins), len(pol.Pins), pol.Pattern)
	}
	return ar
}

func earliest(chain []*x509.Certificate) time.Time {
	var t time.Time
	for _, c := range chain {
		if t.IsZero() || c.NotAfter.Before(t) {
			t = c.NotAfter
		}
	}
	return t.UTC()
}

// finish counts verdicts and derives the findings.
func finish(rep *Report, set *policy.Set, opts Options) {
	now := opts.Now()
	add := func(f Finding) { rep.Findings = append(rep.Findings, f) }
	// served[pattern] holds the pins of every chain any address of any
	// host under that policy served or verified.
	served := map[string][]pin.Pin{}
	probed := map[string]policy.Policy{}
	var order []string
	for _, u := range rep.Unprobed {
		add(Finding{Severity: SevInfo, Code: CodeUnprobedPattern, Pattern: u.Pattern, Message: fmt.Sprintf("%s: not probed: %s", u.Pattern, u.Reason)})
	}
	for hi := range rep.Hosts {
		h := &rep.Hosts[hi]
		rep.Summary.Hosts++
		target := Target{h.Host, h.Port}.String()
		if h.Error != "" {
			rep.Summary.Unresolved++
			add(Finding{Severity: SevError, Code: CodeUnresolved, Host: h.Host, Port: h.Port, Message: fmt.Sprintf("%s: cannot check: %s", target, h.Error)})
			continue
		}
		pol, pinned := set.Match(h.Host)
		if !pinned {
			add(Finding{Severity: SevInfo, Code: CodeUnpinnedHost, Host: h.Host, Port: h.Port, Message: fmt.Sprintf("%s: the manifest pins no pattern covering this host; clients only verify its chain", target)})
		} else if _, ok := probed[pol.Pattern]; !ok {
			probed[pol.Pattern] = pol
			order = append(order, pol.Pattern)
		}
		var hostPins []pin.Pin
		answered := false
		for _, a := range h.Addresses {
			rep.Summary.Addresses++
			switch a.Verdict {
			case Accepted:
				rep.Summary.Accepted++
			case AcceptedReportOnly:
				rep.Summary.AcceptedReportOnly++
				add(Finding{Severity: SevWarning, Code: CodeReportOnlyMiss, Host: h.Host, Port: h.Port, Address: a.Address, Pattern: pol.Pattern, Pin: a.MissingPin,
					Message: fmt.Sprintf("%s %s: %s", h.Host, a.Address, a.Reason)})
			case RefusedPin:
				rep.Summary.RefusedPin++
				add(Finding{Severity: SevError, Code: CodeRefusedPin, Host: h.Host, Port: h.Port, Address: a.Address, Pattern: pol.Pattern, Pin: a.MissingPin,
					Message: fmt.Sprintf("%s %s: clients refuse this address: it serves key %s (%s), which none of the %d pin(s) of %q covers",
						h.Host, a.Address, a.MissingPin.Format(pin.OkHttp), a.Chain[0].Subject, len(pol.Pins), pol.Pattern)})
			case RefusedUntrusted:
				rep.Summary.RefusedUntrusted++
				add(Finding{Severity: SevError, Code: CodeRefusedUntrusted, Host: h.Host, Port: h.Port, Address: a.Address,
					Message: fmt.Sprintf("%s %s: clients refuse this address whatever the pins: %s", h.Host, a.Address, a.VerifyError)})
			case Unreachable:
				rep.Summary.Unreachable++
				add(Finding{Severity: SevError, Code: CodeUnreachable, Host: h.Host, Port: h.Port, Address: a.Address,
					Message: fmt.Sprintf("%s %s: no TLS handshake: %s", h.Host, a.Address, a.Reason)})
			}
			if a.Verdict == Unreachable {
				continue
			}
			answered = true
			for _, c := range a.Chain {
				if !pin.Contains(hostPins, c.Pin) {
					hostPins = append(hostPins, c.Pin)
				}
			}
			for _, c := range a.VerifiedChain {
				if !pin.Contains(hostPins, c.Pin) {
					hostPins = append(hostPins, c.Pin)
				}
			}
			if a.Verified && opts.ExpiryWarning > 0 {
				chain := a.VerifiedChain
				for _, c := range chain {
					if c.NotAfter.Sub(now) < opts.ExpiryWarning {
						p := c.Pin
						add(Finding{Severity: SevWarning, Code: CodeExpiring, Host: h.Host, Port: h.Port, Address: a.Address, Pin: &p, NotAfter: c.NotAfter,
							Message: fmt.Sprintf("%s %s: certificate %q expires %s, in %s (warning window %s)",
								h.Host, a.Address, c.Subject, c.NotAfter.Format(time.RFC3339), humanDuration(c.NotAfter.Sub(now)), humanDuration(opts.ExpiryWarning))})
					}
				}
			}
		}
		if pinned {
			served[pol.Pattern] = append(served[pol.Pattern], hostPins...)
			if err := pol.RequireBackup(); err != nil || len(pol.Pins) < policy.MinEnforcedPins {
				add(Finding{Severity: SevWarning, Code: CodeNoBackupPin, Host: h.Host, Port: h.Port, Pattern: pol.Pattern,
					Message: fmt.Sprintf("%s: %q has %d pin(s): without a backup pin the next key rotation bricks clients", target, pol.Pattern, len(pol.Pins))})
			}
			if answered {
				h.BackupPins = 0
				for _, p := range pol.Pins {
					if !pin.Contains(hostPins, p) {
						h.BackupPins++
					}
				}
				if h.BackupPins == 0 {
					add(Finding{Severity: SevWarning, Code: CodeNoKeyHeldBack, Host: h.Host, Port: h.Port, Pattern: pol.Pattern,
						Message: fmt.Sprintf("%s: every pin of %q is in the chains served now: no key is held back, so a compromised or lost key cannot be rotated without bricking clients", target, pol.Pattern)})
				}
			}
		}
	}
	for _, pat := range order {
		pol := probed[pat]
		for _, p := range pol.Pins {
			if !pin.Contains(served[pat], p) {
				p := p
				add(Finding{Severity: SevInfo, Code: CodeUnmatchedPin, Pattern: pat, Pin: &p,
					Message: fmt.Sprintf("%s: pin %s matches nothing served at any address: a key held back for rotation, or a stale pin", pat, p.Format(pin.OkHttp))})
			}
		}
	}
	sort.SliceStable(rep.Findings, func(i, j int) bool {
		return rep.Findings[i].Severity.rank() < rep.Findings[j].Severity.rank()
	})
	for _, f := range rep.Findings {
		switch f.Severity {
		case SevError:
			rep.Summary.Errors++
		case SevWarning:
			rep.Summary.Warnings++
		}
	}
}

func humanDuration(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d >= 48*time.Hour:
		s = fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	case d >= time.Hour:
		s = fmt.Sprintf("%dh", int(d/time.Hour))
	default:
		s = d.Round(time.Second).String()
	}
	if neg {
		return "-" + s
	}
	return s
}

// addrLess orders IP:port strings numerically (IPv4 before IPv6).
func addrLess(a, b string) bool {
	ha, _, _ := net.SplitHostPort(a)
	hb, _, _ := net.SplitHostPort(b)
	ia, ib := net.ParseIP(ha), net.ParseIP(hb)
	if ia == nil || ib == nil {
		return a < b
	}
	a4, b4 := ia.To4() != nil, ib.To4() != nil
	if a4 != b4 {
		return a4
	}
	return string(ia.To16()) < string(ib.To16()) || (string(ia.To16()) == string(ib.To16()) && a < b)
}

// ErrWouldRefuse is matched by a *GateError.
var ErrWouldRefuse = errors.New("the manifest would make clients refuse live addresses")
