package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/probe"
	"pinset.dev/pinset/scan"
)

func init() { addCommand(newScanCmd) }

type scanFlags struct {
	format, failOn         string
	asJSON                 bool
	manifestFile, rootFile string
	connect                bool
	firstParty             []string
	expiryWarning          time.Duration
	date                   string
	timeout                time.Duration
	caFile                 string
	resolve                []string
	port                   int
}

// scanHelp is the long help of `newScanCmd`.
const scanHelp = `Scan reads a built app in place (no decompiling, nothing unpacked to disk)
and reports what it really does with TLS, mapped to OWASP MASVS-NETWORK
controls and MASTG tests.

  APK  binary AndroidManifest.xml (SDK levels, debuggable, cleartext) and the
       Network Security Config it references, resolved through
       resources.arsc even when release builds rename res/ files
  AAB  the same from the bundle's protobuf manifest and resources.pb
  IPA  Info.plist (XML or binary): ATS keys and exception domains,
       NSPinnedDomains, TrustKit; the executable's FairPlay encryption
  all  hard-coded http:// URLs in code, resources and strings

A bare Info.plist or network_security_config.xml is accepted too, and "-"
reads an artifact or a bare file from standard input (at most 256 MiB).
Several files are scanned one after the other; with --json or --format
sarif their reports come out as one document (JSON: an array of reports
when more than one FILE is given; SARIF: one run).

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

Exit status: 0 when no finding is at or above --fail-on (default: none
fails); 3 when one is (the reports are still printed); 1 on an error
(a file that cannot be read or scanned, a bad flag), even when findings
were printed too.

Examples:
  pinset scan app-release.apk
  pinset scan --first-party api.example.com app.aab
  pinset scan --format sarif --fail-on high MyApp.ipa > pinset.sarif
  pinset scan --manifest pins.json --root root.json --connect app-release.apk
  pinset scan --json res/xml/network_security_config.xml
  adb shell cat /data/app/network_security_config.xml | pinset scan -
  pinset scan --fail-on medium --expiry-warning 21d build/*.apk`

func newScanCmd() *cobra.Command {
	var sf scanFlags
	cmd := &cobra.Command{
		Use:   "scan [flags] FILE... (FILE.apk|.aab|.ipa|Info.plist|network_security_config.xml|-)",
		Short: "Report a built app's transport security against OWASP MASVS-NETWORK",
		Long:  scanHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errorWithHint(errors.New("scan needs a FILE"), "pinset scan app-release.apk (- for standard input)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScan(cmd, &sf, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&sf.format, "format", "text", "output `FORMAT`: text, json (as --json) or sarif")
	f.BoolVar(&sf.asJSON, "json", false, "print the reports as JSON (the same as --format json)")
	f.StringVar(&sf.failOn, "fail-on", "", "exit 3 when a finding is at or above `SEVERITY`: high, medium, low or info")
	f.StringVar(&sf.manifestFile, "manifest", "", "signed pin manifest `FILE` to cross-check embedded pins against")
	f.StringVar(&sf.rootFile, "root", "", "trusted root envelope `FILE`: verify --manifest's signatures first")
	f.BoolVar(&sf.connect, "connect", false, "also check embedded pins against the verified chains their hosts serve now")
	f.StringSliceVar(&sf.firstParty, "first-party", nil, "`DOMAIN` under your control that must be pinned (repeatable)")
	daysVar(f, &sf.expiryWarning, "expiry-warning", 30*24*time.Hour, "warn when a pin-set expires within this long (21d, 72h; a bare number is days)")
	f.StringVar(&sf.date, "date", "", "judge expirations as of `YYYY-MM-DD` instead of today")
	durationVar(f, &sf.timeout, "timeout", 10*time.Second, "per-host timeout of --connect")
	f.IntVar(&sf.port, "port", 443, "port --connect probes")
	f.StringVar(&sf.caFile, "cafile", "", "PEM `FILE` of private CA certificates --connect trusts in addition to the system roots")
	f.StringArrayVar(&sf.resolve, "resolve", nil, "--connect goes to `HOST:PORT:ADDR` instead of resolving HOST (repeatable, as curl's --resolve)")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(scanFormats, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("fail-on", cobra.FixedCompletions(scan.SeverityNames(), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// scanFormats are the values of scan --format.
var scanFormats = []string{"text", "json", "sarif"}

// scanFindingsStatus is the exit status of scan when a finding is at or
// above --fail-on (1 stays for errors).
const scanFindingsStatus = 3

// maxScanStdin caps what scan - reads from standard input (held in memory).
const maxScanStdin = 256 << 20

func runScan(cmd *cobra.Command, sf *scanFlags, files []string) error {
	threshold, err := scanCheckFlags(cmd, sf)
	if err != nil {
		return err
	}
	opts, err := scanOptions(cmd, sf)
	if err != nil {
		return err
	}
	reports, failed := scanFiles(cmd, files, opts)
	if err := scanPrint(cmd.OutOrStdout(), sf.format, len(files), reports); err != nil {
		return err
	}
	if len(failed) > 0 {
		return pinFailures(cmd, failed)
	}
	if sf.failOn != "" {
		var names []string
		for _, rep := range reports {
			if rep.Fails(threshold) {
				names = append(names, rep.File)
			}
		}
		if len(names) > 0 {
			return exitCode(scanFindingsStatus, fmt.Errorf("%s: findings at or above %s (--fail-on)", strings.Join(names, ", "), threshold))
		}
	}
	return nil
}

// scanCheckFlags checks the flags that go together and returns the
// --fail-on threshold.
func scanCheckFlags(cmd *cobra.Command, sf *scanFlags) (threshold scan.Severity, err error) {
	if sf.asJSON {
		if cmd.Flags().Changed("format") && sf.format != "json" {
			return 0, fmt.Errorf("--json and --format %s: choose one", sf.format)
		}
		sf.format = "json"
	}
	if !slices.Contains(scanFormats, sf.format) {
		return 0, errorWithHint(fmt.Errorf("--format %q: unknown format", sf.format), "use text, json or sarif")
	}
	if sf.failOn != "" {
		if threshold, err = scan.ParseSeverity(sf.failOn); err != nil {
			return 0, fmt.Errorf("--fail-on: %w", err)
		}
	}
	if sf.rootFile != "" && sf.manifestFile == "" {
		return 0, errorWithHint(fmt.Errorf("--root needs --manifest"), "pass the pin manifest to verify with --manifest pins.json")
	}
	return threshold, nil
}

// scanOptions turns the flags into scan.Options: the date, the manifest's
// policies and, with --connect, the live pins through probe.VerifiedPins.
func scanOptions(cmd *cobra.Command, sf *scanFlags) (scan.Options, error) {
	opts := scan.Options{FirstParty: sf.firstParty, ExpiryWarning: sf.expiryWarning, Context: cmd.Context()}
	if sf.date != "" {
		d, err := time.Parse("2006-01-02", sf.date)
		if err != nil {
			return opts, fmt.Errorf("--date %q: want YYYY-MM-DD", sf.date)
		}
		opts.Now = func() time.Time { return d }
	}
	if sf.manifestFile != "" {
		m, err := checkLoadManifest(cmd.ErrOrStderr(), sf.manifestFile, sf.rootFile)
		if err != nil {
			return opts, err
		}
		if opts.Expected, err = m.PolicySet(); err != nil {
			return opts, fmt.Errorf("%s: %w", sf.manifestFile, err)
		}
	}
	if !sf.connect {
		return opts, nil
	}
	// Live chains are verified at the real time, whatever --date says.
	popts := probe.Options{Timeout: sf.timeout, AllAddrs: true}
	if sf.port < 1 || sf.port > 65535 {
		return opts, fmt.Errorf("--port %d: not a port number from 1 to 65535", sf.port)
	}
	var err error
	if popts.Resolve, err = probe.ParseResolve(sf.resolve); err != nil {
		return opts, err
	}
	if sf.caFile != "" {
		if popts.RootCAs, err = loadCAs("--cafile", sf.caFile); err != nil {
			return opts, err
		}
	}
	opts.Live = func(ctx context.Context, host string) ([]pin.Pin, error) {
		return probe.VerifiedPins(ctx, host, sf.port, popts)
	}
	return opts, nil
}

// scanFiles scans each file ("-" once: standard input), keeping the
// reports and the errors apart.
func scanFiles(cmd *cobra.Command, files []string, opts scan.Options) (reports []*scan.Report, failed []error) {
	stdinRead := false
	for _, file := range files {
		var rep *scan.Report
		var err error
		if file == "-" {
			if stdinRead {
				err = errors.New("-: standard input can be read only once")
			} else {
				stdinRead = true
				rep, err = scanStdin(cmd, opts)
			}
		} else {
			rep, err = scan.File(file, opts)
		}
		if err != nil {
			failed = append(failed, err)
			continue
		}
		reports = append(reports, rep)
	}
	return reports, failed
}

// scanPrint prints the reports in format: JSON (one report for one FILE,
// else an array), SARIF (one run) or text.
func scanPrint(out io.Writer, format string, files int, reports []*scan.Report) error {
	switch format {
	case "json":
		if files != 1 {
			return writeJSON(out, scanNonNil(reports))
		}
		if len(reports) == 1 {
			return reports[0].WriteJSON(out)
		}
		return nil
	case "sarif":
		return scan.WriteSARIF(out, reports...)
	}
	for i, rep := range reports {
		if i > 0 {
			fmt.Fprintln(out)
		}
		if err := rep.WriteText(out); err != nil {
			return err
		}
	}
	return nil
}

// scanNonNil is reports, as an empty JSON array rather than null.
func scanNonNil(reports []*scan.Report) []*scan.Report {
	if reports == nil {
		return []*scan.Report{}
	}
	return reports
}

// scanStdin scans what standard input holds, named "stdin" in the report.
func scanStdin(cmd *cobra.Command, opts scan.Options) (*scan.Report, error) {
	b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), maxScanStdin+1))
	if err != nil {
		return nil, fmt.Errorf("stdin: %w", err)
	}
	if len(b) > maxScanStdin {
		return nil, errorWithHint(fmt.Errorf("stdin: larger than %d bytes", maxScanStdin), "give the file's name instead of -")
	}
	if len(b) == 0 {
		return nil, errors.New("stdin: empty")
	}
	return scan.Reader("stdin", bytes.NewReader(b), int64(len(b)), opts)
}
