package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/client"
	"pinset.dev/pinset/enforce"
	"pinset.dev/pinset/internal/redact"
	"pinset.dev/pinset/pin"
)

// maxGetBody caps what pinset get reads from a server.
const maxGetBody = 256 << 20

func init() { addCommand(newGetCmd) }

func newGetCmd() *cobra.Command {
	var (
		rootFile, manifestFile, pinsURL, cacheDir, caFile, outFile string
		timeout                                                    time.Duration
		asJSON                                                     bool
	)
	cmd := &cobra.Command{
		Use:   "get URL --root root.json [--manifest pins.json] [--pins-url BASE] [--cache DIR] [--cafile FILE] [-o FILE]",
		Short: "Fetch a URL with pins enforced (a pinned curl)",
		Long: `pinset get fetches URL the way an app built with pinset's client SDK would:
the server's chain must verify against the system roots (plus --cafile), and
then contain a key pinned by the signed manifest for the URL's host.

The pins come from --manifest (verified against --root), from the cache in
--cache, and, with --pins-url, from the pin service, which is asked for newer
roots and a newer manifest before the request. The newest valid state wins;
a failed refresh keeps the last valid pins and prints a warning.

The body goes to stdout (or -o FILE). On a pin failure pinset exits with
status 3 and lists the pins the manifest expects and the pins the server
presented. Other failures exit with status 1.

Examples:
  pinset get https://api.example.com/health --root root.json --manifest pins.json
  pinset get https://api.example.com/ --root root.json --pins-url https://pins.example.com --cache ~/.cache/pinset
  pinset get https://10.0.0.5:8443/ --root root.json --manifest pins.json --cafile private-ca.pem -o out.html
  pinset get https://api.example.com/ --root root.json --manifest pins.json --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGet(cmd, args[0], getOptions{rootFile, manifestFile, pinsURL, cacheDir, caFile, outFile, timeout, asJSON})
		},
	}
	f := cmd.Flags()
	f.StringVar(&rootFile, "root", "", "trusted root envelope (`FILE`, required)")
	f.StringVar(&manifestFile, "manifest", "", "signed pin manifest `FILE` (needed unless --pins-url or a cache supplies one)")
	f.StringVar(&pinsURL, "pins-url", "", "pin service base `URL` to refresh roots and the manifest from")
	f.StringVar(&cacheDir, "cache", "", "`DIR` keeping the last verified state between runs")
	f.StringVar(&caFile, "cafile", "", "PEM `FILE` of extra trusted CA certificates (private CAs)")
	f.StringVarP(&outFile, "output", "o", "", "write the body to `FILE` instead of stdout")
	f.DurationVar(&timeout, "timeout", 60*time.Second, "time limit for the request")
	f.BoolVar(&asJSON, "json", false, "print a JSON summary (status, pins, failure) instead of the body")
	cmd.MarkFlagRequired("root")
	return cmd
}

type getOptions struct {
	root, manifest, pinsURL, cache, caFile, out string
	timeout                                     time.Duration
	json                                        bool
}

// getResult is the --json output.
type getResult struct {
	URL             string      `json:"url"`
	Status          int         `json:"status,omitempty"`
	Bytes           int64       `json:"bytes"`
	RootVersion     int64       `json:"root_version"`
	ManifestVersion int64       `json:"manifest_version"`
	Stale           bool        `json:"stale"`
	PinFailure      *getFailure `json:"pin_failure,omitempty"`
	Error           string      `json:"error,omitempty"`
}

type getFailure struct {
	Host      string   `json:"host"`
	Port      int      `json:"port"`
	Policy    string   `json:"policy"`
	Expected  []string `json:"expected"`
	Presented []string `json:"presented"`
	Served    []string `json:"served"`
}

// runGet fetches rawURL with pins enforced. Every URL it prints (the
// target, the pin service, in errors, warnings and --json) goes through
// package redact: user info and query strings are never shown.
func runGet(cmd *cobra.Command, rawURL string, o getOptions) error {
	stderr := cmd.ErrOrStderr()
	shownURL := redact.URL(rawURL)
	rootBytes, err := readInput(o.root, maxInputFile)
	if err != nil {
		return err
	}
	var manifestBytes []byte
	if o.manifest != "" {
		if manifestBytes, err = readInput(o.manifest, maxInputFile); err != nil {
			return err
		}
	}
	if manifestBytes == nil && o.pinsURL == "" {
		return errorWithHint(errors.New("no pins: give --manifest FILE or --pins-url BASE"), "pinset get never fetches without pins; see pinset get --help")
	}
	tc := &tls.Config{}
	if o.caFile != "" {
		pool, err := loadCAs("--cafile", o.caFile)
		if err != nil {
			return err
		}
		tc.RootCAs = pool
	}
	var failure *enforce.Failure
	cfg := client.Config{
		BundledRoot:     rootBytes,
		BundledManifest: manifestBytes,
		ServiceURL:      o.pinsURL,
		TLS:             tc,
		FetchTimeout:    o.timeout,
		Platform:        "GO",
		OnEvent: func(e client.Event) {
			switch e.Kind {
			case client.EventRejected, client.EventStale, client.EventReportDropped:
				if e.Source != "" || e.Kind != client.EventReportDropped {
					warningf(stderr, "%s", e.Reason)
				}
			case client.EventPinFailure:
				if e.Failure != nil && failure == nil {
					failure = e.Failure
				}
			}
		},
	}
	if o.cache != "" {
		cfg.Store = client.NewDirStore(o.cache)
	}
	c, err := client.New(cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", o.root, redact.Error(err))
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	if o.pinsURL != "" {
		// A failure is a warning (through the event above): the last
		// valid pins stay in force.
		_ = c.Refresh(ctx)
	}
	st := c.State()
	res := getResult{URL: shownURL, RootVersion: st.RootVersion, ManifestVersion: st.ManifestVersion, Stale: st.Stale}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", shownURL, redact.Error(err))
	}
	if req.URL.Scheme != "https" {
		return fmt.Errorf("%s: only https URLs can be pinned", shownURL)
	}
	req.Header.Set("User-Agent", "pinset-get")
	hc := &http.Client{Transport: c.Transport()}
	resp, err := hc.Do(req)
	if err != nil {
		getFlush(c)
		var f *enforce.Failure
		if errors.As(err, &f) {
			failure = f
		}
		if failure != nil && !failure.ReportOnly {
			res.PinFailure = getDescribeFailure(failure)
			if o.json {
				res.Error = redact.Text(failure.Error())
				getWriteJSON(cmd.OutOrStdout(), res)
			}
			return exitCode(3, getPinFailureError(failure))
		}
		return fmt.Errorf("%s: %w", shownURL, redact.Error(err))
	}
	defer resp.Body.Close()
	var w io.Writer = cmd.OutOrStdout()
	if o.json {
		w = io.Discard
	} else if o.out != "" {
		fh, err := os.Create(o.out)
		if err != nil {
			return err
		}
		defer fh.Close()
		w = fh
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, maxGetBody))
	res.Status, res.Bytes = resp.StatusCode, n
	if err != nil {
		return fmt.Errorf("%s: reading body: %w", shownURL, redact.Error(err))
	}
	if failure != nil { // a report-only host: allowed, reported
		res.PinFailure = getDescribeFailure(failure)
		warningf(stderr, "%s", failure.Error())
	}
	getFlush(c)
	if o.json {
		getWriteJSON(cmd.OutOrStdout(), res)
	}
	if resp.StatusCode >= 400 {
		return exitCode(1, fmt.Errorf("%s: HTTP status %d", shownURL, resp.StatusCode))
	}
	return nil
}

// getFlush gives queued failure reports a moment to leave before exit.
func getFlush(c *client.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.FlushReports(ctx)
}

func getDescribeFailure(f *enforce.Failure) *getFailure {
	g := &getFailure{Host: f.Host, Port: f.Port, Policy: f.Policy.Pattern, Expected: []string{}, Presented: []string{}, Served: []string{}}
	for _, p := range f.Expected {
		g.Expected = append(g.Expected, p.Format(pin.Base64))
	}
	for _, p := range f.VerifiedPins() {
		g.Presented = append(g.Presented, p.Format(pin.Base64))
	}
	for _, p := range f.ServedPins() {
		g.Served = append(g.Served, p.Format(pin.Base64))
	}
	return g
}

// getPinFailureError lists the expected and the presented pins.
func getPinFailureError(f *enforce.Failure) error {
	var b strings.Builder
	fmt.Fprintf(&b, "pin failure for %s:%d (policy %q): the verified chain holds none of the pinned keys\n", f.Host, f.Port, f.Policy.Pattern)
	b.WriteString("  expected (any of):\n")
	for _, p := range f.Expected {
		fmt.Fprintf(&b, "    %s\n", p.Format(pin.OkHttp))
	}
	b.WriteString("  presented (verified chain, leaf first):\n")
	for _, ch := range f.VerifiedChains {
		for i, c := range ch {
			pos := "intermediate"
			switch {
			case i == 0:
				pos = "leaf"
			case i == len(ch)-1:
				pos = "root"
			}
			fmt.Fprintf(&b, "    %s  %-12s %s\n", pin.FromCertificate(c).Format(pin.OkHttp), pos, c.Subject.String())
		}
		break
	}
	return errors.New(strings.TrimRight(b.String(), "\n"))
}

func getWriteJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
