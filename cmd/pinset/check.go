package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/probe"
	"pinset.dev/pinset/trust"
)

func init() { addCommand(newCheckCmd) }

// checkFlags are the probe settings shared by `pinset check` and
// `pinset manifest new --check`.
type checkFlags struct {
	caFile        string
	timeout       time.Duration
	expiryWarning string
	resolve       []string
	port          int
	concurrency   int
}

func (cf *checkFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&cf.caFile, "cafile", "", "PEM `FILE` of extra trusted CA certificates (added to the system roots)")
	durationVar(f, &cf.timeout, "timeout", check.DefaultTimeout, "time limit for each address (connection and handshake)")
	f.StringVar(&cf.expiryWarning, "expiry-warning", "21d", "flag certificates expiring within this `DURATION` (e.g. 21d, 72h)")
	f.StringArrayVar(&cf.resolve, "resolve", nil, "connect to `HOST:PORT:ADDR` instead of resolving HOST (repeatable, as curl's --resolve)")
	f.IntVar(&cf.port, "port", check.DefaultPort, "port of the manifest's hosts and of hosts given without one")
	f.IntVar(&cf.concurrency, "concurrency", check.DefaultConcurrency, "addresses probed at once")
}

// options turns the flags into check.Options.
func (cf *checkFlags) options() (check.Options, error) {
	o := check.Options{Timeout: cf.timeout, DefaultPort: cf.port, Concurrency: cf.concurrency}
	if cf.port < 1 || cf.port > 65535 {
		return o, fmt.Errorf("--port %d: not a port number from 1 to 65535", cf.port)
	}
	d, err := parseDays(cf.expiryWarning)
	if err != nil {
		return o, fmt.Errorf("--expiry-warning: %v", err)
	}
	o.ExpiryWarning = d
	if o.Resolve, err = probe.ParseResolve(cf.resolve); err != nil {
		return o, err
	}
	if cf.caFile != "" {
		pool, err := loadCAs("--cafile", cf.caFile)
		if err != nil {
			return o, err
		}
		o.RootCAs = pool
	}
	return o, nil
}

// checkHelp is the long help of `newCheckCmd`.
const checkHelp = `pinset check connects to every address (IPv4 and IPv6) of each host, with SNI
set to the host, and decides per address whether a client holding the
manifest would accept the connection: the served chain must verify (system
roots plus --cafile) and the verified chain must hold a pin of the host's
policy. The decision is the one the client SDK makes.

It also flags hosts with fewer than two pins, hosts whose pins are all served
right now (no key held back for the next rotation), certificates expiring
within --expiry-warning, and pins that match nothing served anywhere.

With no HOST arguments every concrete host of the manifest is checked on
--port; wildcard patterns (*.example.com, **.example.com) name no host to
connect to and are listed as not probed: name such hosts as arguments.
Without --root the manifest's signatures are not checked (a warning says so);
with --root they are verified as a client would.

Exit status: 0 when every address is accepted, 1 when clients would refuse
any address (or on bad input), 2 when none is refused but some host or
address could not be checked (or there was no host to check).

The same check guards publication: 'pinset manifest new --check' and the
pin service refuse a manifest that would make clients refuse a live address
(naming host, address and missing pin) unless forced. See docs/check.md.

Examples:
  pinset check --manifest pins.json
  pinset check --manifest pins.json --root root.json api.example.com cdn.example.com:8443
  pinset check --manifest pins.json --json > report.json
  pinset check --manifest pins.json --cafile private-ca.pem \
      --resolve api.example.com:443:10.0.0.7 api.example.com`

func newCheckCmd() *cobra.Command {
	var (
		cf                     checkFlags
		manifestFile, rootFile string
		asJSON                 bool
	)
	cmd := &cobra.Command{
		Use:   "check --manifest pins.json [--root root.json] [flags] [HOST[:PORT] ...]",
		Short: "Check that a pin manifest covers what every address of its hosts serves",
		Long:  checkHelp,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCheck(cmd, manifestFile, rootFile, asJSON, &cf, args)
		},
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&manifestFile, "manifest", "", "pin manifest envelope `FILE` (required)")
	f.StringVar(&rootFile, "root", "", "trusted root envelope `FILE`: verify the manifest's signatures first")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON (docs/check.md)")
	_ = cmd.MarkFlagRequired("manifest")
	return cmd
}

func runCheck(cmd *cobra.Command, manifestFile, rootFile string, asJSON bool, cf *checkFlags, args []string) error {
	opts, err := cf.options()
	if err != nil {
		return err
	}
	m, err := checkLoadManifest(cmd.ErrOrStderr(), manifestFile, rootFile)
	if err != nil {
		return err
	}
	var targets []check.Target
	for _, a := range args {
		t, err := check.ParseTarget(a, cf.port)
		if err != nil {
			return err
		}
		targets = append(targets, t)
	}
	rep, err := check.Run(cmd.Context(), m.Hosts, targets, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", manifestFile, err)
	}
	out := cmd.OutOrStdout()
	if asJSON {
		err = rep.WriteJSON(out)
	} else {
		err = rep.WriteText(out)
	}
	if err != nil {
		return err
	}
	switch {
	case rep.Summary.Hosts == 0:
		return &exitError{code: 2, err: fmt.Errorf("%s: nothing to check: every pattern is a wildcard", manifestFile),
			hint: "name the hosts to check as arguments: pinset check --manifest " + manifestFile + " api.example.com"}
	case rep.Refused():
		return exitCode(1, fmt.Errorf("%s: clients would refuse %d address(es)", manifestFile, rep.Summary.RefusedPin+rep.Summary.RefusedUntrusted))
	case rep.Incomplete():
		return exitCode(2, fmt.Errorf("%s: %d address(es) unreachable and %d host(s) unresolved: not checked", manifestFile, rep.Summary.Unreachable, rep.Summary.Unresolved))
	}
	return nil
}

// checkLoadManifest reads a manifest envelope, verified against rootFile
// when one is given, else decoded without verification (with a warning).
func checkLoadManifest(stderr io.Writer, manifestFile, rootFile string) (*trust.Manifest, error) {
	mb, err := readInput(manifestFile, maxInputFile)
	if err != nil {
		return nil, err
	}
	if rootFile == "" {
		m, err := trust.DecodeManifestUnverified(mb)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", manifestFile, err)
		}
		warningf(stderr, "%s: signatures not verified (pass --root root.json to verify them)", manifestFile)
		return m, nil
	}
	rb, err := readInput(rootFile, maxInputFile)
	if err != nil {
		return nil, err
	}
	st, err := verifyBundled(rootFile, rb, manifestFile, mb)
	if err != nil {
		return nil, err
	}
	return st.Manifest(), nil
}

// checkMaxFile caps the files check reads (envelopes and CA bundles).
const checkMaxFile = 8 << 20

// The publish gate of 'pinset manifest new --check' (manifest.go leaves
// the hook; the decision is check.Gate's, the one the service runs too).
func init() {
	manifestGateFlags = func(cmd *cobra.Command) { new(checkFlags).register(cmd) }
	manifestGate = checkManifestGate
}

// checkFlagsOf reads the probe flags registered on cmd.
func checkFlagsOf(cmd *cobra.Command) (*checkFlags, error) {
	f := cmd.Flags()
	cf := &checkFlags{}
	var err error
	get := func(fn func() error) {
		if err == nil {
			err = fn()
		}
	}
	get(func() (e error) { cf.caFile, e = f.GetString("cafile"); return })
	get(func() (e error) { cf.timeout, e = f.GetDuration("timeout"); return })
	get(func() (e error) { cf.expiryWarning, e = f.GetString("expiry-warning"); return })
	get(func() (e error) { cf.resolve, e = f.GetStringArray("resolve"); return })
	get(func() (e error) { cf.port, e = f.GetInt("port"); return })
	get(func() (e error) { cf.concurrency, e = f.GetInt("concurrency"); return })
	return cf, err
}

// checkManifestGate runs the publish gate on a manifest about to be
// written. A refusal names host, address and missing pin; with force it
// becomes a warning.
func checkManifestGate(cmd *cobra.Command, m *trust.Manifest, force bool) error {
	cf, err := checkFlagsOf(cmd)
	if err != nil {
		return err
	}
	opts, err := cf.options()
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	rep, err := check.Gate(cmd.Context(), m.Hosts, opts)
	var ge *check.GateError
	switch {
	case errors.As(err, &ge) && force:
		warningf(stderr, "--force-check: writing the manifest although %v", err)
	case err != nil:
		return errorWithHint(fmt.Errorf("check: %w", err), "add the missing pins (see 'pinset check'), or pass --force-check if clients are meant to refuse these addresses")
	}
	for _, f := range rep.Findings {
		if f.Code == check.CodeRefusedPin {
			continue // in the refusal above
		}
		if f.Severity != check.SevInfo || f.Code == check.CodeUnprobedPattern {
			warningf(stderr, "check: %s", f.Message)
		}
	}
	fmt.Fprintf(stderr, "pinset: check: %s\n", rep.SummaryLine())
	return nil
}
