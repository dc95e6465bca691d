package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/internal/input"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/probe"
)

func init() { addCommand(newPinCmd) }

// pinFormats are the values of --format, in the order --help shows them.
var pinFormats = []string{"text", "base64", "hex", "hex-colons", "okhttp", "hpkp", "json"}

type pinOptions struct {
	connect    string
	serverName string
	caFile     string
	allAddrs   bool
	resolve    []string
	timeout    time.Duration
	format     string
	asJSON     bool
}

// pinHelp is the long help of `newPinCmd`.
const pinHelp = `pinset pin prints the pin (SHA-256 of the SubjectPublicKeyInfo) of every
certificate, public or private key and certificate request in the given files,
or of the chain a live server presents.

Files may hold PEM (several blocks of CERTIFICATE, PUBLIC KEY, RSA PUBLIC KEY,
PRIVATE KEY, EC PRIVATE KEY, RSA PRIVATE KEY, CERTIFICATE REQUEST) or DER; "-"
reads standard input. Certificates in one file are read as a chain and labelled
leaf, intermediate and root. Each line shows the pin, the position, the
subject and the not-after date.

With --connect, pinset connects with SNI set to the host (or --servername),
verifies the chain against the system roots plus --cafile, and prints the
verified chain from leaf to root: the root usually comes from the trust store,
not from the server. Certificates the server sent that are not part of the
verified chain are listed as "not in verified chain": clients never match
them, so pinning them has no effect. When the chain does not verify (expired,
self-signed, unknown CA, wrong name), the served certificates are still
printed, marked unverified, with the reason, and pinset exits with status 1.

A pin of the leaf survives only as long as its key; a pin of an intermediate
or root survives leaf key changes but trusts everything that CA issues. Keep
at least one backup pin of a key that is not yet in use.

Formats (--format):
  text        a table for people (default)
  base64      one bare pin per line, leaf first (Android NSC, TrustKit, iOS)
  okhttp      sha256/BASE64 per line (OkHttp CertificatePinner)
  hpkp        pin-sha256="BASE64" per line
  hex         lower-case hex per line; hex-colons: pairs separated by ':'
  json        every field, for scripts (the same as --json)

Examples:
  pinset pin cert.pem
  pinset pin --format okhttp fullchain.pem
  openssl s_client -connect example.com:443 -showcerts </dev/null | pinset pin -
  pinset pin --connect example.com
  pinset pin --connect [2001:db8::1]:8443 --servername api.example.com
  pinset pin --connect api.internal:8443 --cafile internal-root.pem --all-addrs
  pinset pin --connect example.com --format base64`

func newPinCmd() *cobra.Command {
	var o pinOptions
	cmd := &cobra.Command{
		Use:   "pin [flags] FILE... | pin --connect HOST[:PORT] [flags]",
		Short: "Compute the SPKI SHA-256 pins of certificates, keys, CSRs or a live server",
		Long:  pinHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.connect != "" && len(args) > 0 {
				return errorWithHint(errors.New("give files or --connect, not both"), "run pinset pin twice")
			}
			if o.connect == "" && len(args) == 0 {
				return errorWithHint(errors.New("no input: give FILE... (- for standard input) or --connect HOST[:PORT]"), "see pinset pin --help")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.asJSON {
				if cmd.Flags().Changed("format") && o.format != "json" {
					return fmt.Errorf("--json and --format %s: choose one", o.format)
				}
				o.format = "json"
			}
			if !pinKnownFormat(o.format) {
				return fmt.Errorf("--format %q: want one of %s", o.format, strings.Join(pinFormats, ", "))
			}
			if o.connect != "" {
				return pinConnect(cmd, o)
			}
			if o.serverName != "" || o.caFile != "" || o.allAddrs || len(o.resolve) > 0 {
				return errors.New("--servername, --cafile, --all-addrs and --resolve apply to --connect only")
			}
			return pinFiles(cmd, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.connect, "connect", "", "connect to `HOST[:PORT]` (port 443 by default; IPv6 in brackets: [::1]:8443) and pin its chain")
	f.StringVar(&o.serverName, "servername", "", "SNI and the name verified, when it differs from HOST")
	f.StringVar(&o.caFile, "cafile", "", "PEM `FILE` of private root certificates, trusted in addition to the system roots")
	f.BoolVar(&o.allAddrs, "all-addrs", false, "connect to every resolved address (IPv4 and IPv6) and show each one's chain")
	f.StringArrayVar(&o.resolve, "resolve", nil, "connect to `HOST:PORT:ADDR` instead of resolving HOST (repeatable; as curl's --resolve)")
	durationVar(f, &o.timeout, "timeout", probe.DefaultTimeout, "time limit for each address (connection and handshake)")
	f.StringVar(&o.format, "format", "text", "output `FORMAT`: "+strings.Join(pinFormats, ", "))
	f.BoolVar(&o.asJSON, "json", false, "print every field as JSON (the same as --format json)")
	_ = cmd.RegisterFlagCompletionFunc("format", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return pinFormats, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func pinKnownFormat(f string) bool {
	for _, g := range pinFormats {
		if f == g {
			return true
		}
	}
	return false
}

// pinJSONItem is one certificate, key or CSR in --format json.
type pinJSONItem struct {
	Pin      pin.Pin `json:"pin"`
	Position string  `json:"position"`
	Subject  string  `json:"subject,omitempty"`
	Issuer   string  `json:"issuer,omitempty"`
	NotAfter string  `json:"not_after,omitempty"`
	KeyType  string  `json:"key_type"`
	// Served and Verified are set for --connect only.
	Served   *bool `json:"served,omitempty"`
	Verified *bool `json:"verified,omitempty"`
}

// pinJSONInput is one file, or one address with --connect.
type pinJSONInput struct {
	Input       string        `json:"input"`
	Address     string        `json:"address,omitempty"`
	ServerName  string        `json:"server_name,omitempty"`
	Verified    *bool         `json:"verified,omitempty"`
	VerifyError string        `json:"verify_error,omitempty"`
	Error       string        `json:"error,omitempty"`
	Items       []pinJSONItem `json:"items"`

	// For the text renderer: the lines above the input's table (none: no
	// heading), and whether its table has a NOTE column (--connect).
	heading []string
	notes   bool
	// unverified: the chain of a --connect address did not verify, so its
	// bare pins are what the server sent.
	unverified bool
}

func pinJSONFrom(it pin.Item) pinJSONItem {
	j := pinJSONItem{Pin: it.Pin, Position: string(it.Kind), Subject: it.Subject, Issuer: it.Issuer, KeyType: it.KeyType}
	if !it.NotAfter.IsZero() {
		j.NotAfter = it.NotAfter.UTC().Format(time.RFC3339)
	}
	return j
}

// pinFiles prints the items of each file. A file that cannot be read is
// reported on its own line; the others are still printed.
func pinFiles(cmd *cobra.Command, o pinOptions, names []string) error {
	var inputs []pinJSONInput
	var failed []error
	for _, name := range names {
		items, err := pinReadFile(cmd, name)
		display := name
		if name == "-" {
			display = "stdin"
		}
		if err != nil {
			failed = append(failed, err)
			inputs = append(inputs, pinJSONInput{Input: display, Error: err.Error(), Items: []pinJSONItem{}})
			continue
		}
		in := pinJSONInput{Input: display, Items: []pinJSONItem{}}
		for _, it := range items {
			in.Items = append(in.Items, pinJSONFrom(it))
		}
		inputs = append(inputs, in)
	}
	if len(names) > 1 {
		for i := range inputs {
			inputs[i].heading = []string{"# " + inputs[i].Input}
		}
	}
	if err := renderPins(cmd.OutOrStdout(), o.format, inputs, false); err != nil {
		return err
	}
	return pinFailures(cmd, failed)
}

// pinFailures prints every error but the last and returns the last, so
// that each failed input gets one line and the exit status is 1.
func pinFailures(cmd *cobra.Command, errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	for _, err := range errs[:len(errs)-1] {
		reportError(cmd.ErrOrStderr(), err)
	}
	return errs[len(errs)-1]
}

func pinDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// pinReadFile reads one input ("-" for standard input) with pin.ReadItems,
// whose errors name the input.
func pinReadFile(cmd *cobra.Command, name string) ([]pin.Item, error) {
	if name == "-" {
		return pin.ReadItems(cmd.InOrStdin(), "stdin")
	}
	f, err := input.Open(name)
	if errors.Is(err, input.ErrDirectory) {
		return nil, fmt.Errorf("%s: is a directory, not a file of certificates or keys", name)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return pin.ReadItems(f, name)
}

func pinConnect(cmd *cobra.Command, o pinOptions) error {
	host, port, err := probe.SplitHostPort(o.connect, 443)
	if err != nil {
		return fmt.Errorf("--connect %v", err)
	}
	opts := probe.Options{ServerName: o.serverName, Timeout: o.timeout, AllAddrs: o.allAddrs}
	if o.timeout <= 0 {
		return fmt.Errorf("--timeout %v: must be positive", o.timeout)
	}
	if opts.Resolve, err = probe.ParseResolve(o.resolve); err != nil {
		return err
	}
	if o.caFile != "" {
		if opts.RootCAs, err = loadCAs("--cafile", o.caFile); err != nil {
			return err
		}
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	results, err := probe.Probe(ctx, host, port, opts)
	if err != nil {
		return fmt.Errorf("--connect %s: %v", o.connect, strings.TrimPrefix(err.Error(), "probe: "))
	}
	var failed []error
	var inputs []pinJSONInput
	for _, r := range results {
		label := pinAddrLabel(o.connect, r)
		in := pinJSONInput{Input: o.connect, Address: r.Addr, ServerName: r.ServerName, Items: []pinJSONItem{}, notes: true, unverified: r.VerifyErr != nil}
		switch {
		case r.Err != nil:
			failed = append(failed, fmt.Errorf("%s: %v", label, r.Err))
			in.Error = r.Err.Error()
			in.heading = []string{fmt.Sprintf("# %s: no chain: %v", label, r.Err)}
		case r.VerifyErr != nil:
			failed = append(failed, fmt.Errorf("%s: chain NOT verified: %v; the pins shown are what the server sent, not a chain clients trust", label, r.VerifyErr))
			in.VerifyError = r.VerifyErr.Error()
			in.heading = []string{fmt.Sprintf("# %s: UNVERIFIED chain (%v)", label, r.VerifyErr),
				"# these are the certificates the server sent; no trusted chain backs them"}
		default:
			in.heading = []string{fmt.Sprintf("# %s: verified chain, %s", label, tls.VersionName(r.TLSVersion))}
		}
		if r.Err == nil {
			v := r.Verified()
			in.Verified = &v
		}
		for _, ci := range r.Chain() {
			j := pinJSONFrom(ci.Item)
			served, verified := ci.Served, ci.Verified
			j.Served, j.Verified = &served, &verified
			in.Items = append(in.Items, j)
		}
		inputs = append(inputs, in)
	}
	if err := renderPins(cmd.OutOrStdout(), o.format, inputs, true); err != nil {
		return err
	}
	return pinFailures(cmd, failed)
}

// renderPins is the one renderer of `pinset pin`, for files and --connect
// alike: JSON, a table per input (text), or bare pins in a spelling. An
// input with an error shows its heading only (a file's error is printed
// on its own line instead). Bare pins come leaf first; with once, each pin
// is printed once across inputs and certificates outside a verified chain
// are left out, since clients never match them (--connect).
func renderPins(out io.Writer, format string, inputs []pinJSONInput, once bool) error {
	switch format {
	case "json":
		return writeJSON(out, inputs)
	case "text":
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		shown := 0
		for _, in := range inputs {
			if in.Error != "" && !in.notes {
				continue
			}
			if shown > 0 {
				fmt.Fprintln(tw)
			}
			shown++
			for _, h := range in.heading {
				fmt.Fprintln(tw, h)
			}
			if in.Error != "" {
				continue
			}
			if !in.notes {
				fmt.Fprintln(tw, "PIN\tPOSITION\tSUBJECT\tNOT AFTER")
				for _, it := range in.Items {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", it.Pin, it.Position, pinDash(it.Subject), pinDash(it.NotAfter))
				}
				continue
			}
			fmt.Fprintln(tw, "PIN\tPOSITION\tSUBJECT\tNOT AFTER\tNOTE")
			for _, it := range in.Items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.Pin, it.Position, pinDash(it.Subject), pinDash(it.NotAfter), pinNote(in, it))
			}
		}
		return tw.Flush()
	default:
		var seen []pin.Pin
		for _, in := range inputs {
			for _, it := range in.Items {
				if once && (pin.Contains(seen, it.Pin) || (it.Verified != nil && !*it.Verified && !in.unverified)) {
					continue
				}
				seen = append(seen, it.Pin)
				if _, err := fmt.Fprintln(out, it.Pin.Format(pin.Format(format))); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// pinNote is the NOTE column of a --connect table.
func pinNote(in pinJSONInput, it pinJSONItem) string {
	switch {
	case it.Verified == nil || it.Served == nil:
		return ""
	case !*it.Verified && !in.unverified:
		return "not in verified chain: pinning it has no effect"
	case !*it.Verified:
		return "unverified"
	case !*it.Served:
		return "not sent by the server (from the trust store)"
	}
	return ""
}

// pinAddrLabel names one probed address: what was asked for, the address
// connected to, and the name sent as SNI (Go sends none for IP addresses;
// the certificate is then verified for the address).
func pinAddrLabel(input string, r probe.Result) string {
	if net.ParseIP(r.ServerName) != nil {
		return fmt.Sprintf("%s (%s, no SNI: verified for IP %s)", input, r.Addr, r.ServerName)
	}
	return fmt.Sprintf("%s (%s, SNI %s)", input, r.Addr, r.ServerName)
}
