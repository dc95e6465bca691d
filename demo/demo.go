// Package demo tells pinset's whole story in one run, on loopback, in a few
// seconds: it is `pinset demo`.
//
// # What it shows
//
// [Run] plays eight steps with the real packages, each narrated in plain
// words and checked against what should happen:
//
//  1. three root keys (any two of which must sign) and a pins key; root v1,
//     signed by two of the three (package trust);
//  2. a backend HTTPS server for api.demo.test with a certificate from a
//     demo CA (package internal/pki), and a second key held back for the
//     next rotation;
//  3. manifest v1 pinning the live key and the held-back key; the pin
//     service (package server) on SQLite with the publish gate (package
//     check); root v1 and manifest v1 published through the admin HTTP API;
//  4. a client built with the SDK (package client), bundled with root v1 and
//     manifest v1, calls the backend: accepted;
//  5. an interceptor whose certificate comes from a CA the client trusts but
//     whose key is not pinned: refused, and the client's failure report is
//     found through the service's admin reports API;
//  6. the backend rotates to the held-back key; the publish gate refuses a
//     manifest that forgets the live key and accepts manifest v2 (the new
//     key and a new held-back one); the running client refreshes to v2 and
//     keeps working;
//  7. the pin service stops: the client keeps working on its pins, and a
//     client started afresh from the cache directory starts from v2;
//  8. a hostile endpoint takes the service's address and serves manifest v1
//     again: the client refuses the rollback and keeps v2.
//
// The outcome of each step is observed, never assumed: [Result] holds, per
// step, what was expected, what was observed and whether they agree, and
// [Result.WriteTable] prints them.
//
// # How the name reaches loopback
//
// The backend and the interceptor both answer for api.demo.test, the name
// the manifests pin. Nothing touches /etc/hosts or DNS: the demo's client
// dials through a small routing table (the "network" of the demo) that
// sends api.demo.test to the backend's listener, or to the interceptor's
// while the network is hostile, and refuses every other address. The TLS
// configuration is the SDK's own ([client.Client.TLSConfig]), with the demo
// CAs as RootCAs: certificates are verified normally and pins are checked
// on the verified chains. The publish gate and the probes reach the same
// listener through curl-style resolve overrides (probe.ParseResolve).
//
// Everything lives in a temporary directory that is removed afterwards,
// unless [Config.Keep] names a directory to keep: then the keys (mode
// 0600), roots, manifests, certificates, the service's SQLite database and
// the client's cache stay there for people to inspect.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// Config configures a run. Every field is optional.
type Config struct {
	// Out receives the narration; nil discards it.
	Out io.Writer
	// Keep, when set, is the directory the demo works in and leaves in
	// place (created if missing; it must be empty). Empty: a temporary
	// directory, removed at the end.
	Keep string
	// Now is the clock of documents, certificates and verification
	// (default time.Now).
	Now func() time.Time
	// Rand is the randomness of keys, signatures and the admin token
	// (default crypto/rand).
	Rand io.Reader
	// Timeout bounds the whole run (default one minute).
	Timeout time.Duration

	// fault breaks one thing on purpose, so that tests can show that a
	// step's verdict comes from what happened (see demo_test.go).
	fault string
}

// Step is one step of the demo and its verdict.
type Step struct {
	Number   int    `json:"step"`
	Title    string `json:"title"`
	Expected string `json:"expected"`
	// Observed is what really happened, in a few words.
	Observed string `json:"observed"`
	OK       bool   `json:"ok"`
	// Details are the narrated observations behind Observed.
	Details []string `json:"details,omitempty"`
}

// Result is the outcome of a run.
type Result struct {
	Steps []Step `json:"steps"`
	// Dir is the work directory; Kept says whether it was left in place
	// (Config.Keep) or removed.
	Dir  string `json:"dir"`
	Kept bool   `json:"kept"`
	// Files are the files left in a kept Dir, relative to it.
	Files    []string      `json:"files,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// OK reports whether every step behaved as expected.
func (r *Result) OK() bool {
	if r == nil || len(r.Steps) == 0 {
		return false
	}
	for _, s := range r.Steps {
		if !s.OK {
			return false
		}
	}
	return true
}

// Failed returns the steps that did not behave as expected.
func (r *Result) Failed() []Step {
	var out []Step
	for _, s := range r.Steps {
		if !s.OK {
			out = append(out, s)
		}
	}
	return out
}

// WriteTable prints the steps as a table: step, expected, observed, verdict.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tEXPECTED\tOBSERVED\tRESULT")
	for _, s := range r.Steps {
		verdict := "ok"
		if !s.OK {
			verdict = "FAILED"
		}
		fmt.Fprintf(tw, "%d. %s\t%s\t%s\t%s\n", s.Number, s.Title, s.Expected, s.Observed, verdict)
	}
	return tw.Flush()
}

// WriteJSON writes the result as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Run plays the demo and returns what each step did. The error is for a
// demo that could not start (the work directory); a step that fails or
// misbehaves is recorded in the Result, and the steps after a step that
// could not finish are recorded as not run.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	dir, cleanup, err := workDir(cfg.Keep)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	start := time.Now()
	d := newWorld(cfg, dir)
	defer d.close()
	d.intro()
	res := &Result{}
	stopped := false
	for i, s := range steps {
		st := Step{Number: i + 1, Title: s.title, Expected: s.expected}
		if stopped {
			st.Observed = "not run (an earlier step could not finish)"
			res.Steps = append(res.Steps, st)
			continue
		}
		d.heading(st.Number, s.title, s.intro)
		d.details = nil
		seen := d.eventCount()
		obs, ok, err := runStep(s, d, ctx)
		d.sayEvents(seen)
		if err != nil {
			obs, ok, stopped = "could not finish: "+err.Error(), false, true
			d.say("ERROR: %v", err)
		}
		st.Observed, st.OK, st.Details = obs, ok, d.details
		d.verdict(st)
		res.Steps = append(res.Steps, st)
	}
	d.close()
	res.Duration = time.Since(start)

	fmt.Fprintf(d.out, "\nSummary (%.1fs)\n\n", res.Duration.Seconds())
	res.WriteTable(d.out)
	res.Dir = dir
	if cfg.Keep != "" {
		res.Kept = true
		res.Files = listFiles(dir)
		d.keepHelp(dir)
	} else {
		fmt.Fprintf(d.out, "\nThe work directory was removed; run 'pinset demo --keep DIR' to keep the keys,\nroots and manifests and inspect them.\n")
	}
	if res.OK() {
		fmt.Fprintf(d.out, "\nEvery step behaved as expected.\n")
	} else {
		fmt.Fprintf(d.out, "\n%d step(s) did not behave as expected.\n", len(res.Failed()))
	}
	return res, nil
}

// runStep runs one step; a panic in it (a bug) stops the demo as an error
// instead of crashing the command.
func runStep(s step, d *world, ctx context.Context) (obs string, ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	return s.run(d, ctx)
}

// workDir returns the directory to work in and what to do at the end.
func workDir(keep string) (string, func(), error) {
	if keep == "" {
		dir, err := os.MkdirTemp("", "pinset-demo-")
		if err != nil {
			return "", nil, fmt.Errorf("demo: temporary directory: %w", err)
		}
		return dir, func() { os.RemoveAll(dir) }, nil
	}
	dir, err := filepath.Abs(keep)
	if err != nil {
		return "", nil, fmt.Errorf("demo: --keep %s: %w", keep, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("demo: --keep %s: %w", keep, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", nil, fmt.Errorf("demo: --keep %s: %w", keep, err)
	}
	if len(entries) > 0 {
		return "", nil, fmt.Errorf("demo: --keep %s: the directory is not empty; give a new or empty directory", keep)
	}
	return dir, func() {}, nil
}

// listFiles lists the regular files under dir, relative to it.
func listFiles(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

// keepHelp tells people what was kept and how to look at it.
func (d *world) keepHelp(dir string) {
	p := func(name string) string { return shellQuote(filepath.Join(dir, name)) }
	fmt.Fprintf(d.out, `
The files are kept in %s:
  root-a.key root-b.key root-c.key pins.key   signing keys (mode 0600) and their .pub
  root.json                                   root v1, signed by root keys A and B
  pins-v1.json pins-v2.json                   manifests v1 and v2, signed by the pins key
  pins-v2-refused.json                        the manifest the publish gate refused
  demo-ca.pem inspection-ca.pem               the CAs the client trusts
  backend-1.pem backend-2.pem backend-N.key   the backend's certificates and keys
  data/pinset.db                              the pin service's SQLite database
  client-cache/                               the client's verified cache

Look at them with:
  pinset inspect %s
  pinset inspect %s
  pinset verify --root %s %s
  pinset pin %s %s
  pinset token new --data %s --name me   # then: pinset serve --data %s
`, dir, p("root.json"), p("pins-v2.json"), p("root.json"), p("pins-v2.json"),
		p("backend-2.pem"), p("backend-3.pub"), p("data"), p("data"))
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:=@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// errNotFound is used by helpers that look for something that is missing.
var errNotFound = errors.New("not found")
