package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/export"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/probe"
)

func init() { addCommand(newExportCmd) }

type exportFlags struct {
	manifest, root, out, expiration, maxAge, pkg, caFile string
	pins, hosts, certs, connects, anchors                []string
	nsc                                                  string
	timeout                                              time.Duration
	asJSON, strict                                       bool
	okhttpVersion                                        int
}

// exportHelp is the long help of `newExportCmd`.
const exportHelp = `Export writes the host policies of a pin manifest (or of --pin arguments) in
the configuration format an app consumes:

  android-nsc       res/xml/network_security_config.xml: a domain-config and
                    pin-set per host, cleartext off, the app's trust anchors
                    (--nsc or --trust-anchor; system only without them)
  okhttp            Kotlin code building OkHttp's CertificatePinner
  trustkit-ios      TrustKit's TSKConfiguration, an Info.plist fragment
  trustkit-android  the Network Security Config with TrustKit's tags
  ios-ats           Info.plist NSAppTransportSecurity/NSPinnedDomains (iOS 14+)
  alamofire         Swift ServerTrustManager with PublicKeysTrustEvaluator
  curl              curl --pinnedpubkey 'sha256//...;sha256//...' per host
  hpkp              Public-Key-Pins-Report-Only header values
  go                a Go file bundling the signed root and manifest for
                    pinset's client SDK (needs --manifest and --root)

No platform expresses every pinset policy. Where one cannot (a one-label
*.wildcard on Android or iOS, report-only hosts, OkHttp accepting the pins of
every matching pattern, no expiry in ATS...), export writes the closest safe
configuration and prints a warning saying exactly what behaves differently;
--strict turns warnings into a failure. docs/export.md lists them all.

--pin takes the syntax of 'pinset manifest new --host':
  HOST=PIN,PIN[;include-subdomains][;report-only][;report-uri=URL]
where HOST is api.example.com, *.example.com (one label), **.example.com (any
depth) or an IP literal, and each PIN is in any spelling 'pinset pin' prints.
An enforced host needs two pins: the key in use and a backup.

--host PATTERN (repeatable) exports only some policies: a pattern as written
in the manifest, or a host name, which selects the policy that applies to it.

--expiration keeps android-nsc and trustkit pins enforced until the end of a
day (UTC), an RFC 3339 time, or the manifest's expiry. The platforms stop
enforcing at 00:00 ON the date written, in the device's own time zone
(Android, TrustKit-Android: at UTC+14 that is 10:00 UTC the day before) or
in UTC (TrustKit iOS), so export writes the first date that starts after the
time asked for in every zone: --expiration 2027-06-30 writes 2027-07-02 for
Android and 2027-07-01 for TrustKit iOS, and the file's comment says when
each device stops.

okhttp writes "**.x" patterns, which OkHttp reads from 4.3.0 on; OkHttp 3.x
(and 4.0 to 4.2) read "**.x" as a literal host name and pin nothing. With
--okhttp-version 3, "**.x" is written as "x" and "*.x" and a warning names
the deeper names left unpinned. The output states the minimum version.

A pinned host's <domain-config> has its own <trust-anchors>, which replace
the <base-config>'s: an app that bundles its CA there (@raw/...) would stop
trusting it for pinned hosts. Pass the app's current file with --nsc (its
base-config anchors are written for every pinned host, overridePins never),
or name the anchors with --trust-anchor; without either, system only, with a
warning.

ios-ats files a pin under NSPinnedLeafIdentities or NSPinnedCAIdentities by
where it sits in the chain, learned from --cert files (PEM or DER certificate
chains, leaf first) or from live servers with --connect HOST[:PORT] (and
--cafile for private CAs). Alamofire also embeds the keys it learns this way.

Examples:
  pinset export android-nsc --manifest pins.json --root root.json \
      -o app/src/main/res/xml/network_security_config.xml
  LIVE=$(pinset pin --format base64 live.key); NEXT=$(pinset pin --format base64 next.key)
  pinset export okhttp --pin "api.example.com=$LIVE,$NEXT"
  pinset export ios-ats --manifest pins.json --connect api.example.com
  pinset export okhttp --okhttp-version 3 --manifest pins.json
  pinset export trustkit-ios --manifest pins.json --expiration 2027-06-30
  pinset export go --manifest pins.json --root root.json --package pins -o pins/pins.go`

func newExportCmd() *cobra.Command {
	var ef exportFlags
	cmd := &cobra.Command{
		Use:   "export FORMAT (--manifest pins.json [--root root.json] | --pin HOST=PIN,PIN ...) [flags]",
		Short: "Write pins as Android, iOS, OkHttp, TrustKit, Alamofire, curl, HPKP or Go configuration",
		Long:  exportHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return errorWithHint(fmt.Errorf("export needs one FORMAT, got %d arguments", len(args)),
					"formats: "+strings.Join(export.FormatNames(), ", "))
			}
			return nil
		},
		ValidArgs: export.FormatNames(),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExport(cmd, args[0], &ef)
		},
	}
	f := cmd.Flags()
	f.StringVar(&ef.manifest, "manifest", "", "signed pin manifest `FILE` (pins.json)")
	f.StringVar(&ef.root, "root", "", "trusted root `FILE`: verify the manifest's signatures (required by the go format)")
	f.StringArrayVar(&ef.pins, "pin", nil, "policy `SPEC` (syntax above), instead of a manifest (repeatable)")
	f.StringArrayVar(&ef.hosts, "host", nil, "export only the policy of this `PATTERN` or host name (repeatable)")
	f.StringVarP(&ef.out, "output", "o", "", "write to `FILE` instead of standard output")
	f.StringVar(&ef.expiration, "expiration", "", "keep android-nsc and trustkit pins enforced until the end of `DATE` (yyyy-mm-dd, 24:00 UTC), an RFC 3339 time, or \"manifest\" (its expiry); the date written is later (see below)")
	f.StringArrayVar(&ef.anchors, "trust-anchor", nil, "android-nsc, trustkit-android: trust anchor `SRC` of pinned hosts: system, user or @raw/name (repeatable; default system)")
	f.StringVar(&ef.nsc, "nsc", "", "android-nsc, trustkit-android: the app's current network_security_config.xml `FILE`; its base-config trust anchors are written for pinned hosts")
	f.IntVar(&ef.okhttpVersion, "okhttp-version", export.OkHttp4, "OkHttp major `VERSION` of the okhttp format: 4 (4.3.0+, reads **.) or 3 (3.2.0 to 4.2.x: **.x written as x and *.x)")
	f.StringArrayVar(&ef.certs, "cert", nil, "certificate chain `FILE` (PEM or DER) telling where pins sit in the chain (repeatable)")
	f.StringArrayVar(&ef.connects, "connect", nil, "learn chain positions from a live server `HOST[:PORT]` (repeatable)")
	f.StringVar(&ef.caFile, "cafile", "", "PEM `FILE` of private CAs --connect trusts in addition to the system roots")
	durationVar(f, &ef.timeout, "timeout", 10*time.Second, "timeout of each --connect")
	f.StringVar(&ef.maxAge, "max-age", "60d", "`AGE` of the hpkp max-age directive: days (60d) or a duration")
	f.StringVar(&ef.pkg, "package", export.DefaultGoPackage, "package `NAME` of the go format")
	_ = cmd.RegisterFlagCompletionFunc("trust-anchor", cobra.FixedCompletions([]string{"system", "user", "@raw/"}, cobra.ShellCompDirectiveNoFileComp|cobra.ShellCompDirectiveNoSpace))
	_ = cmd.RegisterFlagCompletionFunc("okhttp-version", cobra.FixedCompletions([]string{"4\tOkHttp 4.3.0 and later", "3\tOkHttp 3.2.0 to 4.2.x"}, cobra.ShellCompDirectiveNoFileComp))
	f.BoolVar(&ef.asJSON, "json", false, "print {format, output, warnings} as JSON instead of the file (okhttp: also the patterns and sha256/ pins, for PinsetOkHttp)")
	f.BoolVar(&ef.strict, "strict", false, "fail (exit 3) when the format cannot express a policy exactly")
	return cmd
}

func runExport(cmd *cobra.Command, format string, ef *exportFlags) error {
	spec, err := exportSpec(format, ef)
	if err != nil {
		return err
	}
	a, err := exportAssemble(cmd, ef)
	if err != nil {
		return err
	}
	in := a.Input
	in.GoPackage, in.OkHttpVersion = ef.pkg, ef.okhttpVersion
	if ef.expiration != "" {
		until, err := parseExpiration(ef.expiration, a.ManifestExpires)
		if err != nil {
			return err
		}
		if !until.After(time.Now()) {
			warningf(cmd.ErrOrStderr(), "--expiration %s is not in the future: the platforms treat these hosts as NOT pinned", ef.expiration)
		}
		in.Expiration = until
	}
	if in.HPKPMaxAge, err = parseDays(ef.maxAge); err != nil {
		return fmt.Errorf("--max-age %w", err)
	}
	if len(ef.connects) > 0 {
		if err := exportConnect(cmd, ef, in.Positions); err != nil {
			return err
		}
	}
	res, err := export.Export(spec.Name, in)
	if err != nil {
		if errors.Is(err, policy.ErrNoBackupPin) {
			return errorWithHint(err, "add the pin of a key held back for rotation (pinset pin backup.pub), or mark the host ;report-only")
		}
		return err
	}
	for _, w := range res.Warnings {
		warningf(cmd.ErrOrStderr(), "%s: %s", format, w)
	}
	out, err := exportOutput(format, ef, in, res, a.ManifestVersion)
	if err != nil {
		return err
	}
	if ef.strict && len(res.Warnings) > 0 {
		// A command that fails writes nothing: no file; with --json the
		// document (which carries the warnings) still goes to stdout.
		if ef.asJSON {
			if _, err := cmd.OutOrStdout().Write(out); err != nil {
				return err
			}
		}
		return exitCode(3, fmt.Errorf("%s: %d policy difference(s) (see the warnings); --strict refuses them, nothing was written", format, len(res.Warnings)))
	}
	if ef.out != "" && ef.out != "-" {
		return writeFileAtomic(ef.out, out, 0o644, true)
	}
	_, err = cmd.OutOrStdout().Write(out)
	return err
}

// exportSpec finds the format and refuses flags it cannot use.
func exportSpec(format string, ef *exportFlags) (*export.Format, error) {
	var spec *export.Format
	for _, f := range export.Formats() {
		if f.Name == format {
			spec = &f
		}
	}
	switch {
	case spec == nil:
		return nil, errorWithHint(fmt.Errorf("unknown export format %q", format), "formats: "+strings.Join(export.FormatNames(), ", "))
	case spec.NeedsSigned && (ef.manifest == "" || ef.root == ""):
		return nil, errorWithHint(fmt.Errorf("the %s format bundles the signed root and manifest: --manifest and --root are required", format),
			"pinset export go --manifest pins.json --root root.json -o pins/pins.go")
	case spec.NeedsSigned && len(ef.hosts) > 0:
		return nil, fmt.Errorf("the %s format bundles the signed manifest whole: --host cannot select part of it", format)
	case ef.root != "" && ef.manifest == "":
		return nil, errors.New("--root verifies a --manifest; it does nothing with --pin")
	}
	return spec, nil
}

// exportAssemble reads the files the flags name and hands them to
// export.Assemble, which puts the input together.
func exportAssemble(cmd *cobra.Command, ef *exportFlags) (*export.Assembly, error) {
	src := export.Sources{ManifestName: ef.manifest, Pins: ef.pins, Hosts: ef.hosts, TrustAnchors: ef.anchors, NSCName: ef.nsc, Now: time.Now()}
	var err error
	read := func(name string, dst *[]byte) {
		if name != "" && err == nil {
			*dst, err = readInput(name, maxInputFile)
		}
	}
	read(ef.manifest, &src.Manifest)
	read(ef.root, &src.Root)
	read(ef.nsc, &src.NSC)
	for _, name := range ef.certs {
		var b []byte
		if read(name, &b); err != nil {
			return nil, err
		}
		items, err := pin.ParseItems(b, name)
		if err != nil {
			return nil, err
		}
		src.Certs = append(src.Certs, items...)
	}
	if err != nil {
		return nil, err
	}
	a, err := export.Assemble(src)
	switch {
	case errors.Is(err, export.ErrNothingToDo):
		return nil, errorWithHint(err, "give --manifest pins.json (signed) or --pin 'HOST=PIN,PIN'")
	case errors.Is(err, export.ErrBadPinSpec):
		return nil, errorWithHint(err, "syntax: HOST=PIN,PIN[;include-subdomains][;report-only][;report-uri=URL]")
	case errors.Is(err, export.ErrNoBaseAnchors):
		return nil, errorWithHint(err, "name the anchors the pinned hosts should trust with --trust-anchor system (and --trust-anchor @raw/NAME for a bundled CA)")
	case err != nil:
		return nil, err
	}
	for _, w := range a.Warnings {
		warningf(cmd.ErrOrStderr(), "%s", w)
	}
	return a, nil
}

// exportOutput is what export writes: the format's data, or with --json
// a document (the okhttp format as data, the others wrapped with their
// warnings).
func exportOutput(format string, ef *exportFlags, in export.Input, res *export.Result, manifestVersion int64) ([]byte, error) {
	if !ef.asJSON {
		return res.Data, nil
	}
	if format == "okhttp" {
		// The okhttp format as data (patterns, sha256/ pins, minimum
		// version, warnings, the code): what PinsetOkHttp reads, and what
		// package mobile returns for the pins in force.
		doc, err := export.OkHttp(in)
		if err != nil {
			return nil, err
		}
		doc.ManifestVersion = manifestVersion
		return doc.JSON()
	}
	type jw struct {
		Code    string `json:"code"`
		Pattern string `json:"pattern,omitempty"`
		Message string `json:"message"`
	}
	doc := struct {
		Format   string `json:"format"`
		Output   string `json:"output"`
		Warnings []jw   `json:"warnings"`
	}{Format: format, Output: string(res.Data), Warnings: []jw{}}
	for _, w := range res.Warnings {
		doc.Warnings = append(doc.Warnings, jw{w.Code, w.Pattern, w.Message})
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// parseExpiration reads --expiration: a date means until the end of that
// day (24:00 UTC), an RFC 3339 time means that instant, "manifest" the
// manifest's expiry. The date written for each platform is chosen by
// package export.
func parseExpiration(s string, manifestExpires time.Time) (time.Time, error) {
	if s == "manifest" {
		if manifestExpires.IsZero() {
			return time.Time{}, errors.New("--expiration manifest needs --manifest")
		}
		return manifestExpires, nil
	}
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d.AddDate(0, 0, 1), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--expiration %q: want a date such as 2027-06-30, an RFC 3339 time such as 2027-06-30T12:00:00Z, or manifest", s)
}

// exportConnect learns chain positions from live servers.
func exportConnect(cmd *cobra.Command, ef *exportFlags, ps export.Positions) error {
	opts := probe.Options{Timeout: ef.timeout}
	if ef.caFile != "" {
		pool, err := loadCAs("--cafile", ef.caFile)
		if err != nil {
			return err
		}
		opts.RootCAs = pool
	}
	for _, target := range ef.connects {
		host, port, err := exportSplitHostPort(target)
		if err != nil {
			return fmt.Errorf("--connect %q: %w", target, err)
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), ef.timeout+time.Second)
		results, err := probe.Probe(ctx, host, port, opts)
		cancel()
		if err != nil {
			return fmt.Errorf("--connect %s: %w", target, err)
		}
		unverified, err := ps.AddProbe(results)
		if err != nil {
			return fmt.Errorf("--connect %s: %w", target, err)
		}
		if unverified > 0 {
			warningf(cmd.ErrOrStderr(), "--connect %s: the chain did not verify (%v); positions are taken from the chain the server sent", target, firstVerifyErr(results))
		}
	}
	return nil
}

func firstVerifyErr(rs []probe.Result) error {
	for _, r := range rs {
		if r.VerifyErr != nil {
			return r.VerifyErr
		}
	}
	return nil
}

func exportSplitHostPort(s string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		// No port: the whole string is the host (a bare IPv6 literal too).
		return strings.Trim(s, "[]"), 443, nil
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number from 1 to 65535", portStr)
	}
	return host, port, nil
}
