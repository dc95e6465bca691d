package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/probe"
	"pinset.dev/pinset/scan"
)

func init() { addCommand(newScanCmd) }

type scanFlags struct {
	format, failOn         string
	manifestFile, rootFile string
	connect                bool
	firstParty             []string
	expiryDays             int
	date                   string
	timeout                time.Duration
	caFile                 string
	resolve                []string
	port                   int
}

func newScanCmd() *cobra.Command {
	var sf scanFlags
	cmd := &cobra.Command{
		Use:   "scan [flags] FILE.apk|FILE.aab|FILE.ipa|Info.plist|network_security_config.xml",
		Short: "Report a built app's transport security against OWASP MASVS-NETWORK",
		Long: `Scan reads a built app in place (no decompiling, nothing unpacked to disk)
and reports what it really does with TLS, mapped to OWASP MASVS-NETWORK
controls and MASTG tests.

  APK  binary AndroidManifest.xml (SDK levels, debuggable, cleartext) and the
       Network Security Config it references, resolved through
       resources.arsc even when release builds rename res/ files
  AAB  the same from the bundle's protobuf manifest and resources.pb
  IPA  Info.plist (XML or binary): ATS keys and exception domains,
       NSPinnedDomains, TrustKit; the executable's FairPlay encryption
  all  hard-coded http:// URLs in code, resources and strings

A bare Info.plist or network_security_config.xml is accepted too.

Each finding has a stable id, a severity, the MASVS control, the MASTG test,
where it is (file, entry, element) and a one-line fix (docs/scan.md lists
them). Pin-set and TrustKit expirations are compared with today (--date to
pretend another day).

Give the domains you control with --first-party: each must be pinned
(MASVS-NETWORK-2). With --manifest, the signed pin manifest's hosts count as
first-party too, and every pin embedded in the app is cross-checked against
it; --connect also checks them against the verified chains the hosts serve
now (every address; --cafile, --resolve and --port as for pinset check). A
pin that matches neither is reported: it can only cause an outage.

Exit status: 0, or 1 when a finding is at or above --fail-on (default: never).

Examples:
  pinset scan app-release.apk
  pinset scan --first-party api.example.com app.aab
  pinset scan --format sarif --fail-on high MyApp.ipa > pinset.sarif
  pinset scan --manifest pins.json --root root.json --connect app-release.apk
  pinset scan --format json res/xml/network_security_config.xml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScan(cmd, &sf, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&sf.format, "format", "text", "output `FORMAT`: text, json or sarif")
	f.StringVar(&sf.failOn, "fail-on", "", "exit 1 when a finding is at or above `SEVERITY`: high, medium, low or info")
	f.StringVar(&sf.manifestFile, "manifest", "", "signed pin manifest `FILE` to cross-check embedded pins against")
	f.StringVar(&sf.rootFile, "root", "", "trusted root envelope `FILE`: verify --manifest's signatures first")
	f.BoolVar(&sf.connect, "connect", false, "also check embedded pins against the verified chains their hosts serve now")
	f.StringSliceVar(&sf.firstParty, "first-party", nil, "`DOMAIN` under your control that must be pinned (repeatable)")
	f.IntVar(&sf.expiryDays, "expiry-warning", 30, "warn when a pin-set expires within `DAYS`")
	f.StringVar(&sf.date, "date", "", "judge expirations as of `YYYY-MM-DD` instead of today")
	f.DurationVar(&sf.timeout, "timeout", 10*time.Second, "per-host timeout of --connect")
	f.IntVar(&sf.port, "port", 443, "port --connect probes")
	f.StringVar(&sf.caFile, "cafile", "", "PEM `FILE` of CA certificates --connect trusts instead of the system roots")
	f.StringArrayVar(&sf.resolve, "resolve", nil, "--connect goes to `HOST:PORT:ADDR` instead of resolving HOST (repeatable, as curl's --resolve)")
	return cmd
}

func runScan(cmd *cobra.Command, sf *scanFlags, file string) error {
	switch sf.format {
	case "text", "json", "sarif":
	default:
		return errorWithHint(fmt.Errorf("--format %q: unknown format", sf.format), "use text, json or sarif")
	}
	var threshold scan.Severity
	if sf.failOn != "" {
		var err error
		if threshold, err = scan.ParseSeverity(sf.failOn); err != nil {
			return fmt.Errorf("--fail-on: %w", err)
		}
	}
	if sf.rootFile != "" && sf.manifestFile == "" {
		return errorWithHint(fmt.Errorf("--root needs --manifest"), "pass the pin manifest to verify with --manifest pins.json")
	}
	opts := scan.Options{FirstParty: sf.firstParty, ExpiryWarning: time.Duration(sf.expiryDays) * 24 * time.Hour, Context: cmd.Context()}
	if sf.date != "" {
		d, err := time.Parse("2006-01-02", sf.date)
		if err != nil {
			return fmt.Errorf("--date %q: want YYYY-MM-DD", sf.date)
		}
		opts.Now = func() time.Time { return d }
	}
	if sf.manifestFile != "" {
		m, err := checkLoadManifest(cmd.ErrOrStderr(), sf.manifestFile, sf.rootFile)
		if err != nil {
			return err
		}
		set, err := m.PolicySet()
		if err != nil {
			return fmt.Errorf("%s: %w", sf.manifestFile, err)
		}
		opts.Expected = set
	}
	if sf.connect {
		// Live chains are verified at the real time, whatever --date says.
		popts := probe.Options{Timeout: sf.timeout, AllAddrs: true}
		if sf.port < 1 || sf.port > 65535 {
			return fmt.Errorf("--port %d: not a port number from 1 to 65535", sf.port)
		}
		var err error
		if popts.Resolve, err = check.ParseResolve(sf.resolve); err != nil {
			return err
		}
		if sf.caFile != "" {
			if popts.RootCAs, err = loadCAs("--cafile", sf.caFile); err != nil {
				return err
			}
		}
		opts.Live = func(ctx context.Context, host string) ([]pin.Pin, error) {
			results, err := probe.Probe(ctx, host, sf.port, popts)
			if err != nil {
				return nil, err
			}
			// Only verified chains count: a pin that matches what an
			// unverified server sent proves nothing.
			var pins []pin.Pin
			var problem error
			for _, r := range results {
				if !r.Verified() {
					problem = fmt.Errorf("%s: %w", r.Addr, r.Problem())
					continue
				}
				pins = append(pins, r.VerifiedPins()...)
			}
			if len(pins) == 0 && problem != nil {
				return nil, problem
			}
			return pins, nil
		}
	}
	rep, err := scan.File(file, opts)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	switch sf.format {
	case "json":
		err = rep.WriteJSON(out)
	case "sarif":
		err = scan.WriteSARIF(out, rep)
	default:
		err = rep.WriteText(out)
	}
	if err != nil {
		return err
	}
	if sf.failOn != "" && rep.Fails(threshold) {
		return exitCode(1, fmt.Errorf("%s: findings at or above %s (--fail-on)", file, threshold))
	}
	return nil
}
