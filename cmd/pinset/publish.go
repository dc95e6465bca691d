package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/check"
	"pinset.dev/pinset/internal/redact"
	"pinset.dev/pinset/trust"
)

func init() { addCommand(newPublishCmd) }

// publishItem is one file to upload.
type publishItem struct {
	file    string
	body    []byte
	kind    string // "root" or "pins"
	app     string
	version uint64
}

// publishHelp is the long help of `newPublishCmd`.
const publishHelp = `pinset publish uploads signed roots and manifests through the pin service's
admin API. Each file's kind (root or manifest) is read from its envelope's
payloadType and its app from the document; roots go first, in version order,
then manifests. The service verifies each upload as a client would and
refuses it with the reason (threshold not met, rollback, wrong app, ...).

The token may come from the environment variable PINSET_TOKEN instead of
--token (better: it stays out of shell history and process listings).

Examples:
  pinset publish --server https://pins.example.com --token "$TOKEN" root.json pins.json
  PINSET_TOKEN=... pinset publish --server http://127.0.0.1:8080 pins.json
  pinset publish --server URL --force pins.json     # override the publish gate
  pinset publish --server URL --force-unpin pins.json   # unpin a host now (audited, alerted)
  pinset publish --mirror /srv/pins root.json pins.json  # a static origin, no service

A manifest that stops pinning a host the current manifest enforces (drops
it, or makes it report-only) is refused unless --force-unpin is given; a
host that has been report-only for the service's unpin_period (7 days by
default) may be dropped without it.`

// publishOptions are the flags of `pinset publish`.
type publishOptions struct {
	conn                      adminConn
	app, mirror               string
	force, forceUnpin, asJSON bool
}

func newPublishCmd() *cobra.Command {
	var o publishOptions
	cmd := &cobra.Command{
		Use:   "publish --server URL --token TOKEN FILE...",
		Short: "Upload signed roots and manifests to the pin service",
		Long:  publishHelp,
		Args:  cobra.MinimumNArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return runPublishTo(cmd, &o, args) },
	}
	o.conn.flags(cmd, 60*time.Second)
	f := cmd.Flags()
	f.StringVar(&o.app, "app", "", "upload to this `APP` instead of the app the documents name (the service refuses a mismatch)")
	f.BoolVar(&o.force, "force", false, "publish manifests even if the service's publish gate refuses them")
	f.BoolVar(&o.forceUnpin, "force-unpin", false, "publish manifests even if they stop pinning hosts the current manifest pins (the service logs and alerts on it)")
	f.BoolVar(&o.asJSON, "json", false, "print the service's answers as JSON")
	f.StringVar(&o.mirror, "mirror", "", "write into this static origin `DIR` instead of uploading: verified as the service would, no publish gate")
	return cmd
}

// runPublish uploads each file to the admin API and prints each answer.
func runPublish(cmd *cobra.Command, o *publishOptions, args []string) error {
	if err := o.conn.open(); err != nil {
		return err
	}
	items, err := readPublishItems(args)
	if err != nil {
		return err
	}
	base, client, token := o.conn.base, o.conn.hc, o.conn.token
	var results []map[string]any
	for _, it := range items {
		if o.app != "" {
			it.app = o.app
		}
		u := *base
		u.Path += "/v1/admin/apps/" + url.PathEscape(it.app) + "/" + it.kind
		if it.kind == "pins" {
			q := url.Values{}
			if o.force {
				q.Set("force", "1")
			}
			if o.forceUnpin {
				q.Set("force_unpin", "1")
			}
			u.RawQuery = q.Encode()
		}
		res, err := putDocument(cmd, client, u.String(), token, it.body)
		if err != nil {
			var ee *exitError
			if errors.As(err, &ee) {
				return errorWithHint(fmt.Errorf("%s: %w", it.file, ee.err), ee.hint)
			}
			return fmt.Errorf("%s: %w", it.file, err)
		}
		res["file"] = it.file
		results = append(results, res)
		printPublished(cmd, it, res, o.asJSON)
	}
	warnManifestBehindRoot(cmd, client, base, items)
	if o.asJSON {
		return writeJSON(cmd.OutOrStdout(), results)
	}
	return nil
}

// printPublished says what the service did with one file: a line (unless
// --json), the hosts a forced manifest unpins, the gate's summary and what
// it could not check.
func printPublished(cmd *cobra.Command, it publishItem, res map[string]any, asJSON bool) {
	out, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if !asJSON {
		what := map[string]string{"root": "root", "pins": "manifest"}[it.kind]
		state := "published"
		if changed, _ := res["changed"].(bool); !changed {
			state = "already current"
		}
		if forced, _ := res["forced"].(bool); forced {
			state += " (forced past the publish gate)"
		}
		fmt.Fprintf(out, "%s: %s %s v%d %s\n", it.file, it.app, what, it.version, state)
	}
	if hosts, _ := res["unpinned"].([]any); len(hosts) > 0 {
		warningf(stderr, "%s: forced: this manifest stops pinning %d host(s); the service logged it and alerts on it", it.file, len(hosts))
		for _, h := range hosts {
			if m, ok := h.(map[string]any); ok {
				fmt.Fprintf(stderr, "  %v\n", m["reason"])
			}
		}
	}
	if g := gateSummary(res); g != nil {
		if !asJSON {
			writeGateSummary(out, g)
		}
		if n := g.Unverifiable + g.Unreachable + g.Unresolved; n > 0 {
			warningf(stderr, "%s: the publish gate could not check %d address(es) or host(s) (publish_gate.strict refuses such manifests)", it.file, n)
		} else if g.Skipped != "" {
			warningf(stderr, "%s: %s", it.file, g.Skipped)
		}
	}
}

func readPublishItems(files []string) ([]publishItem, error) {
	var items []publishItem
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		b, err := trust.ReadEnvelope(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		env, err := trust.ParseEnvelope(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		it := publishItem{file: name, body: b}
		// Decoded without verification only to route the upload; the
		// service verifies everything.
		switch env.PayloadType {
		case trust.PayloadTypeRoot:
			r, _, err := trust.DecodeRootUnverified(b)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			it.kind, it.app, it.version = "root", r.AppID, r.Version
		case trust.PayloadTypeManifest:
			m, err := trust.DecodeManifestUnverified(b)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			it.kind, it.app, it.version = "pins", m.AppID, m.Version
		default:
			return nil, fmt.Errorf("%s: payload type %q is neither a pinset root nor a manifest", name, env.PayloadType)
		}
		items = append(items, it)
	}
	sort.SliceStable(items, func(i, j int) bool {
		if items[i].kind != items[j].kind {
			return items[i].kind == "root"
		}
		return items[i].version < items[j].version
	})
	return items, nil
}

func publishClient(caFile, certFile, keyFile string, timeout time.Duration) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := loadCAs("--cafile", caFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("--client-cert and --client-key go together")
	}
	if certFile != "" {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", certFile, err)
		}
		tc.Certificates = []tls.Certificate{c}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr, Timeout: timeout, CheckRedirect: sameOriginRedirect}, nil
}

// maxPublishRedirects bounds the same-origin redirects publish follows.
const maxPublishRedirects = 3

// sameOriginRedirect follows a redirect only to the same scheme and host
// (with port): the admin token travels with each request, and net/http
// forwards it to any port of the same host name and from https to http.
// A redirect elsewhere is refused, before anything is sent there.
func sameOriginRedirect(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	if req.URL.Scheme != first.Scheme || !strings.EqualFold(req.URL.Host, first.Host) {
		return fmt.Errorf("the service redirected to %s://%s: not following a redirect to another scheme or host with the admin token (use that address as --server if it is the service)",
			req.URL.Scheme, req.URL.Host)
	}
	if len(via) > maxPublishRedirects {
		return fmt.Errorf("stopped after %d redirects", maxPublishRedirects)
	}
	return nil
}

func putDocument(cmd *cobra.Command, client *http.Client, u, token string, body []byte) (map[string]any, error) {
	req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("upload failed: %v", redact.Error(redactURLError(err)))
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var out map[string]any
	if json.Unmarshal(rb, &out) != nil {
		return nil, fmt.Errorf("%s answered %s, not JSON: is --server a pinset service?", redact.URL(u), resp.Status)
	}
	if resp.StatusCode/100 != 2 {
		msg, _ := out["error"].(string)
		msg = redact.Text(msg)
		if msg == "" {
			msg = resp.Status
		}
		if g := gateSummary(out); g != nil {
			writeGateSummary(cmd.ErrOrStderr(), g)
		}
		if f, _ := out["force_unpin"].(bool); f {
			return nil, errorWithHint(errors.New(msg), "make the hosts report-only first and drop them after the service's unpin period, or rerun with --force-unpin (logged and alerted)")
		}
		if f, _ := out["force"].(bool); f {
			return nil, errorWithHint(errors.New(msg), "rerun with --force to publish anyway")
		}
		return nil, fmt.Errorf("%s (HTTP %d)", msg, resp.StatusCode)
	}
	return out, nil
}

// gateSummary reads the publish gate's summary from a service answer, if
// it has one.
func gateSummary(answer map[string]any) *check.GateSummary {
	raw, ok := answer["gate"]
	if !ok {
		return nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil
	}
	var g check.GateSummary
	if json.Unmarshal(b, &g) != nil {
		return nil
	}
	return &g
}

// writeGateSummary prints the gate's summary line, then every address it
// did not accept, with the reason.
func writeGateSummary(w io.Writer, g *check.GateSummary) {
	fmt.Fprintf(w, "  %s\n", g)
	for _, a := range g.Addresses {
		if a.Verdict == string(check.Accepted) {
			continue
		}
		where := a.Host
		if a.Address != "" {
			where += " " + a.Address
		}
		fmt.Fprintf(w, "    %s %s: %s\n", where, a.Verdict, a.Reason)
	}
	if g.AddressesOmitted > 0 {
		fmt.Fprintf(w, "    (%d more addresses not listed)\n", g.AddressesOmitted)
	}
	for _, u := range g.Unprobed {
		fmt.Fprintf(w, "    %s not probed: %s\n", u.Pattern, u.Reason)
	}
}

// redactURLError keeps the cause of a transport error without repeating
// the request URL's user info.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// warnManifestBehindRoot warns when a root was published and the app's
// current manifest (none of this run's uploads) is still bound to an older
// root: clients that take the new root refuse that manifest as an update
// (mix-and-match guard) and keep enforcing the manifest they hold until a
// manifest for the new root is published. The manifest is read from the
// public endpoint and decoded without verification: the warning decides
// nothing.
func warnManifestBehindRoot(cmd *cobra.Command, hc *http.Client, base *url.URL, items []publishItem) {
	newest := map[string]uint64{} // app -> newest root version published now
	manifestToo := map[string]bool{}
	for _, it := range items {
		switch it.kind {
		case "root":
			if it.version > newest[it.app] {
				newest[it.app] = it.version
			}
		case "pins":
			manifestToo[it.app] = true
		}
	}
	for app, rv := range newest {
		if manifestToo[app] {
			continue
		}
		u := *base
		u.Path += "/v1/apps/" + url.PathEscape(app) + "/pins.json"
		req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, u.String(), nil)
		if err != nil {
			continue
		}
		resp, err := hc.Do(req)
		if err != nil {
			warningf(cmd.ErrOrStderr(), "%s: could not read the current manifest to compare its root: %v", app, redact.Error(err))
			continue
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxInputFile))
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			continue // no manifest yet: nothing is bound to the old root
		}
		m, err := trust.DecodeManifestUnverified(body)
		if err != nil {
			warningf(cmd.ErrOrStderr(), "%s: the current manifest could not be read to compare its root: %v", app, err)
			continue
		}
		if m.RootVersion < rv {
			warningf(cmd.ErrOrStderr(), "%s: the current manifest v%d is bound to root v%d, not the root v%d just published: "+
				"clients holding root v%d refuse it as an update and keep the manifest they have; publish a manifest "+
				"made with --root for root v%d", app, m.Version, m.RootVersion, rv, rv, rv)
		}
	}
}
