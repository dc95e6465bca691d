package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/client"
	"pinset.dev/pinset/enforce"
	"pinset.dev/pinset/internal/atomicfile"
	"pinset.dev/pinset/internal/redact"
	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/probe"
)

// maxGetBody caps what pinset get reads from a server.
const maxGetBody = 256 << 20

func init() { addCommand(newGetCmd) }

// getHelp is the long help of `newGetCmd`.
const getHelp = `pinset get fetches URL the way an app built with pinset's client SDK would:
the server's chain must verify against the system roots (plus --cafile), and
then contain a key pinned by the signed manifest for the URL's host.

The pins come from --manifest (verified against --root), from the cache in
--cache, and, with --pins-url, from the pin service, which is asked for newer
roots and a newer manifest before the request. The newest valid state wins;
a failed refresh keeps the last valid pins and prints a warning.

A host the manifest does not pin is fetched with normal certificate
verification only, and pinset says so ("not pinned" on stderr, "pinned":
false with --json); --require-pin refuses to fetch it.

The body goes to stdout (or -o FILE, written whole or not at all).
Exit status: 0 for a 2xx answer; 3 on a pin failure (pinset lists the pins
the manifest expects and the pins the server presented); 4 when the server
answered with a status outside 200-299 (the body is still written); 5 when
--require-pin refused an unpinned host; 1 for any other error.

Examples:
  pinset get https://api.example.com/health --root root.json --manifest pins.json
  pinset get https://api.example.com/ --root root.json \
      --pins-url https://pins.example.com --cache ~/.cache/pinset
  pinset get https://10.0.0.5:8443/ --root root.json --manifest pins.json \
      --cafile private-ca.pem -o out.html
  pinset get https://api.example.com/ --root root.json --manifest pins.json \
      --resolve api.example.com:443:127.0.0.2 --require-pin --json`

func newGetCmd() *cobra.Command {
	var (
		o       getOptions
		resolve []string
	)
	cmd := &cobra.Command{
		Use:   "get URL --root root.json [--manifest pins.json] [--pins-url BASE] [--cache DIR] [flags]",
		Short: "Fetch a URL with pins enforced (a pinned curl)",
		Long:  getHelp,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := probe.ParseResolve(resolve)
			if err != nil {
				return err
			}
			o.resolve = r
			return runGet(cmd, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.root, "root", "", "trusted root envelope (`FILE`, required)")
	f.StringVar(&o.manifest, "manifest", "", "signed pin manifest `FILE` (needed unless --pins-url or --cache supplies one)")
	f.StringVar(&o.pinsURL, "pins-url", "", "pin service base `URL` to refresh roots and the manifest from")
	f.StringVar(&o.cache, "cache", "", "`DIR` keeping the last verified state between runs")
	f.StringVar(&o.caFile, "cafile", "", "PEM `FILE` of CA certificates trusted besides the system roots (private CAs)")
	f.StringVarP(&o.out, "output", "o", "", "write the body to `FILE` instead of stdout")
	durationVar(f, &o.timeout, "timeout", 60*time.Second, "time limit for the request (e.g. 30s, 2m)")
	f.BoolVar(&o.json, "json", false, "print a JSON summary (status, pins, failure) instead of the body")
	f.StringArrayVar(&resolve, "resolve", nil, "connect to `HOST:PORT:ADDR` instead of resolving HOST (repeatable; as curl's --resolve)")
	f.StringVar(&o.serverName, "servername", "", "request this host `NAME` (SNI, certificate name and pins) while connecting to the URL's address")
	f.BoolVar(&o.requirePin, "require-pin", false, "refuse (exit 5) to fetch a host the manifest does not pin")
	cmd.MarkFlagRequired("root")
	return cmd
}

type getOptions struct {
	root, manifest, pinsURL, cache, caFile, out string
	timeout                                     time.Duration
	json                                        bool
	resolve                                     map[string][]string // HOST:PORT → addresses
	serverName                                  string
	requirePin                                  bool
}

// getResult is the --json output.
type getResult struct {
	URL             string      `json:"url"`
	Status          int         `json:"status,omitempty"`
	Bytes           int64       `json:"bytes"`
	RootVersion     int64       `json:"root_version"`
	ManifestVersion int64       `json:"manifest_version"`
	Stale           bool        `json:"stale"`
	Pinned          bool        `json:"pinned"`
	Policy          string      `json:"policy,omitempty"` // the pattern that pins the host
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

// getRun is one run of pinset get: its options, the target and the
// client, and what --json prints.
type getRun struct {
	cmd      *cobra.Command
	o        getOptions
	shownURL string
	target   *url.URL
	c        *client.Client
	failure  *enforce.Failure // the first pin failure the client reported
	res      getResult
}

// runGet fetches rawURL with pins enforced. Every URL it prints (the
// target, the pin service, in errors, warnings and --json) goes through
// package redact: user info and query strings are never shown.
func runGet(cmd *cobra.Command, rawURL string, o getOptions) error {
	g := &getRun{cmd: cmd, o: o, shownURL: redact.URL(rawURL)}
	cfg, err := g.config(rawURL)
	if err != nil {
		return err
	}
	c, err := client.New(cfg)
	if err != nil {
		// The files verified in config; what is left is the pin
		// service's or the cache's part.
		return redact.Error(err)
	}
	defer c.Close()
	g.c = c
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	if err := g.pins(ctx); err != nil {
		return err
	}
	return g.fetch(ctx)
}

// config reads and verifies the bundled files, checks the URL and builds
// the client's configuration.
func (g *getRun) config(rawURL string) (client.Config, error) {
	o := &g.o
	rootBytes, manifestBytes, err := getReadBundled(o)
	if err != nil {
		return client.Config{}, err
	}
	if g.target, err = url.Parse(rawURL); err != nil {
		return client.Config{}, fmt.Errorf("%s: %w", g.shownURL, redact.Error(err))
	}
	if g.target.Scheme != "https" || g.target.Hostname() == "" {
		return client.Config{}, fmt.Errorf("%s: only https URLs can be pinned", g.shownURL)
	}
	dial, err := getDialer(g.target, o)
	if err != nil {
		return client.Config{}, err
	}
	tc := &tls.Config{}
	if o.caFile != "" {
		if tc.RootCAs, err = loadCAs("--cafile", o.caFile); err != nil {
			return client.Config{}, err
		}
	}
	cfg := client.Config{
		BundledRoot:     rootBytes,
		BundledManifest: manifestBytes,
		ServiceURL:      o.pinsURL,
		TLS:             tc,
		FetchTimeout:    o.timeout,
		Platform:        "GO",
		DialContext:     dial,
		OnEvent:         g.onEvent,
	}
	if o.cache != "" {
		cfg.Store = client.NewDirStore(o.cache)
	}
	return cfg, nil
}

// getReadBundled reads --root and --manifest and verifies them, naming the
// bad input: the root alone, then the manifest with it.
func getReadBundled(o *getOptions) (root, manifest []byte, err error) {
	if root, err = readInput(o.root, maxInputFile); err != nil {
		return nil, nil, err
	}
	if o.manifest != "" {
		if manifest, err = readInput(o.manifest, maxInputFile); err != nil {
			return nil, nil, err
		}
	}
	if _, err := verifyBundled(o.root, root, o.manifest, manifest); err != nil {
		return nil, nil, err
	}
	if manifest == nil && o.pinsURL == "" && o.cache == "" {
		return nil, nil, errorWithHint(errors.New("no pins: give --manifest FILE, --cache DIR or --pins-url BASE"), "pinset get never fetches without pins; see pinset get --help")
	}
	return root, manifest, nil
}

// onEvent prints the client's warnings and keeps its first pin failure.
func (g *getRun) onEvent(e client.Event) {
	switch e.Kind {
	case client.EventRejected, client.EventStale, client.EventReportDropped:
		if e.Source != "" || e.Kind != client.EventReportDropped {
			warningf(g.cmd.ErrOrStderr(), "%s", e.Reason)
		}
	case client.EventPinFailure:
		if e.Failure != nil && g.failure == nil {
			g.failure = e.Failure
		}
	}
}

// pins refreshes from the pin service (a failure is a warning, through
// onEvent: the last valid pins stay in force) and finds the host's policy;
// an unpinned host is a warning, or refused with --require-pin.
func (g *getRun) pins(ctx context.Context) error {
	if g.o.pinsURL != "" {
		_ = g.c.Refresh(ctx)
	}
	st := g.c.State()
	if st.ManifestVersion == 0 {
		return errorWithHint(errors.New("no pins: no verified manifest from --manifest, the cache or the pin service"), "pinset get never fetches without pins; see the warnings above")
	}
	g.res = getResult{URL: g.shownURL, RootVersion: st.RootVersion, ManifestVersion: st.ManifestVersion, Stale: st.Stale}
	host := g.target.Hostname()
	if pol, ok := g.c.Policies().Match(host); ok {
		g.res.Pinned, g.res.Policy = true, pol.Pattern
		return nil
	}
	if g.o.requirePin {
		if g.o.json {
			g.res.Error = "not pinned: the manifest has no policy for " + host
			g.writeFailureJSON()
		}
		return exitCode(5, fmt.Errorf("%s: not pinned: manifest v%d has no policy for %s (--require-pin)", g.shownURL, st.ManifestVersion, host))
	}
	warningf(g.cmd.ErrOrStderr(), "%s: not pinned: manifest v%d has no policy for %s; only normal certificate verification applies", g.shownURL, st.ManifestVersion, host)
	return nil
}

// writeFailureJSON prints the --json summary of a failed get. Its exit
// status says what failed; a summary that could not be written is said
// on stderr.
func (g *getRun) writeFailureJSON() {
	if err := writeJSON(g.cmd.OutOrStdout(), g.res); err != nil {
		warningf(g.cmd.ErrOrStderr(), "--json summary not written: %v", err)
	}
}

// fetch sends the request through the pinned transport and writes the
// body (or the --json summary); the exit status follows getHelp.
func (g *getRun) fetch(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.target.String(), nil)
	if err != nil {
		return fmt.Errorf("%s: %w", g.shownURL, redact.Error(err))
	}
	req.Header.Set("User-Agent", "pinset-get")
	hc := &http.Client{Transport: g.c.Transport()}
	resp, err := hc.Do(req)
	if err != nil {
		return g.requestFailed(err)
	}
	defer resp.Body.Close()
	if err := g.writeBody(resp); err != nil {
		return err
	}
	if g.failure != nil { // a report-only host: allowed, reported
		g.res.PinFailure = getDescribeFailure(g.failure)
		warningf(g.cmd.ErrOrStderr(), "%s", g.failure.Error())
	}
	getFlush(g.c)
	if g.o.json {
		if err := writeJSON(g.cmd.OutOrStdout(), g.res); err != nil {
			return err
		}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return exitCode(4, fmt.Errorf("%s: HTTP status %d", g.shownURL, resp.StatusCode))
	}
	return nil
}

// requestFailed maps a failed request: a pin failure (exit 3, listing the
// expected and presented pins) or any other error.
func (g *getRun) requestFailed(err error) error {
	getFlush(g.c)
	var f *enforce.Failure
	if errors.As(err, &f) {
		g.failure = f
	}
	if g.failure != nil && !g.failure.ReportOnly {
		g.res.PinFailure = getDescribeFailure(g.failure)
		if g.o.json {
			g.res.Error = redact.Text(g.failure.Error())
			g.writeFailureJSON()
		}
		return exitCode(3, getPinFailureError(g.failure))
	}
	return fmt.Errorf("%s: %w", g.shownURL, redact.Error(err))
}

// writeBody copies the body (capped at maxGetBody) to stdout or -o FILE,
// written whole or not at all; with --json it is only counted.
func (g *getRun) writeBody(resp *http.Response) error {
	var w io.Writer = g.cmd.OutOrStdout()
	var outFile *atomicfile.File
	if g.o.json {
		w = io.Discard
	} else if g.o.out != "" {
		fh, err := atomicfile.Create(g.o.out, atomicfile.Options{Perm: 0o644})
		if err != nil {
			return err
		}
		defer fh.Abort()
		outFile, w = fh, fh
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, maxGetBody))
	g.res.Status, g.res.Bytes = resp.StatusCode, n
	if err != nil {
		return fmt.Errorf("%s: reading body: %w", g.shownURL, redact.Error(err))
	}
	if outFile != nil {
		return outFile.Commit()
	}
	return nil
}

// getDialer applies --servername and --resolve. With --servername the
// request goes to that name (SNI, the certificate name and the pins are
// its), and connections to it go to the URL's own host and port; with
// --resolve a HOST:PORT listed there is dialled at its addresses in turn.
// target is rewritten for --servername. Pins are always checked for the
// host asked for, not for the address dialled.
func getDialer(target *url.URL, o *getOptions) (func(ctx context.Context, network, addr string) (net.Conn, error), error) {
	port := target.Port()
	if port == "" {
		port = "443"
	}
	routes := map[string][]string{}
	for k, v := range o.resolve {
		routes[k] = v
	}
	if o.serverName != "" {
		name, err := policy.NormalizeHost(o.serverName)
		if err != nil {
			return nil, fmt.Errorf("--servername: %w", err)
		}
		key := net.JoinHostPort(name, port)
		if _, ok := routes[key]; !ok {
			routes[key] = []string{target.Hostname()}
		}
		if target.Port() == "" {
			target.Host = name
		} else {
			target.Host = net.JoinHostPort(name, port)
		}
	}
	if len(routes) == 0 {
		return nil, nil
	}
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, p, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if h, err := policy.NormalizeHost(host); err == nil {
			host = h
		}
		addrs, ok := routes[net.JoinHostPort(host, p)]
		if !ok {
			return d.DialContext(ctx, network, addr)
		}
		var errs []error
		for _, a := range addrs {
			conn, err := d.DialContext(ctx, network, net.JoinHostPort(a, p))
			if err == nil {
				return conn, nil
			}
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}, nil
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
