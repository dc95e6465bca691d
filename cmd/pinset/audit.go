package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/audit"
	"pinset.dev/pinset/internal/redact"
	"pinset.dev/pinset/server/serveconfig"
)

func init() { addCommand(newAuditCmd) }

// auditHelp is the long help of `newAuditCmd`.
const auditHelp = `pinset audit fetches an app's transparency log from the pin service (or a
static mirror of /v1/apps/APP/log/), verifies its checkpoint under the log key
the app's root names, rebuilds the tree from every entry, checks it against
the checkpoint of the last run (kept in --state DIR), fetches every logged
root and manifest and lists them: index, kind, version, SHA-256, the time it
was logged and the keys that signed it.

It exits 1 on anything unexpected: a fork (another history than last time),
a rollback (a smaller log), entries or documents that do not match, versions
going backwards, and, with --expect-keys, a root naming or a document signed
by a key not in the list (one key id per line, the hex SHA-256 of the key's
SubjectPublicKeyInfo as 'pinset pin KEY.pub --format hex' prints it; # starts
a comment). It exits 2 when the audit could not be done. The first run
trusts root v1 and the log as they are (it says so); later runs check
against them. Run it from cron or CI.

  pinset audit log-key --key log.key --name pins.example.com --app APP

prints the log key a root names (root new --log-key) for the service's
transparency_log key and name.

Examples:
  pinset audit --server https://pins.example.com --app com.example.app \
      --expect-keys keys.txt --state /var/lib/pinset-audit`

// auditOptions are the flags of 'pinset audit'.
type auditOptions struct {
	serverURL, app, expectFile, stateDir string
	asJSON                               bool
}

func newAuditCmd() *cobra.Command {
	var o auditOptions
	cmd := &cobra.Command{
		Use:   "audit --server URL --app APP [--expect-keys FILE] [--state DIR] [--json]",
		Short: "Check an app's transparency log: consistent, and only expected keys",
		Long:  auditHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAudit(cmd, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.serverURL, "server", "", "pin service base `URL`")
	f.StringVar(&o.app, "app", "", "app id")
	f.StringVar(&o.expectFile, "expect-keys", "", "`FILE` of the key ids that may sign (one hex id per line)")
	f.StringVar(&o.stateDir, "state", "", "`DIR` keeping the last verified checkpoint between runs")
	f.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	cmd.AddCommand(newAuditLogKeyCmd())
	return cmd
}

// runAudit runs audit.Run and prints its report; the exit status is 1 for
// problems in the log, 2 when the audit could not be done.
func runAudit(cmd *cobra.Command, o *auditOptions) error {
	if o.serverURL == "" || o.app == "" {
		return errorWithHint(errors.New("--server and --app are required"), "pinset audit --server https://pins.example.com --app com.example.app")
	}
	u, err := url.Parse(o.serverURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("--server %s: not an http(s) URL", redact.URL(o.serverURL))
	}
	cfg := audit.Config{Server: u, App: o.app, StateDir: o.stateDir}
	if o.expectFile != "" {
		if cfg.ExpectKeys, err = readExpectKeys(o.expectFile); err != nil {
			return err
		}
	}
	rep, err := audit.Run(cmd.Context(), cfg)
	if err != nil {
		return exitCode(2, fmt.Errorf("audit of %s at %s not done: %v", o.app, redact.URL(o.serverURL), redact.Error(err)))
	}
	if o.asJSON {
		if err := writeJSON(cmd.OutOrStdout(), rep); err != nil {
			return err
		}
	} else {
		printAudit(cmd.OutOrStdout(), cmd.ErrOrStderr(), rep)
	}
	if len(rep.Problems) > 0 {
		return exitCode(1, fmt.Errorf("%s: %s in the transparency log", o.app, plural(len(rep.Problems), "problem")))
	}
	return nil
}

func newAuditLogKeyCmd() *cobra.Command {
	var c serveconfig.TransparencyLog
	var app string
	cmd := &cobra.Command{
		Use:   "log-key --key FILE --name NAME --app APP",
		Short: "Print the log key a root names for the service's transparency log",
		Long: `pinset audit log-key prints the note verifier key of app APP's transparency
log, as the service signs it with its transparency_log key and name: the
value of 'pinset root new --log-key'. Clients under such a root accept a
manifest only with a proof that it is in this log (docs/trust.md).

Examples:
  pinset key new log --alg ed25519
  pinset audit log-key --key log.key --name pins.example.com --app com.example.app`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			lc, err := c.Load()
			if err != nil {
				return err
			}
			k, err := lc.LogVerifierKey(app)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), k)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.Key, "key", "", "the log's Ed25519 private key `FILE` (0600)")
	f.StringVar(&c.PassphraseFile, "passphrase-file", "", "passphrase `FILE` of an encrypted key")
	f.StringVar(&c.Name, "name", "", "the service's transparency_log name")
	f.StringVar(&app, "app", "", "app id")
	return cmd
}

// readExpectKeys is serveconfig.ReadExpectKeys: key ids, one per line.
func readExpectKeys(path string) ([]string, error) { return serveconfig.ReadExpectKeys(path) }

func printAudit(out, errw io.Writer, rep *audit.Report) {
	fmt.Fprintf(out, "log %s: %s, root hash %s", rep.Origin, plural(int(rep.Size), "entry", "entries"), rep.RootHash)
	if rep.PreviousSize > 0 {
		fmt.Fprintf(out, " (consistent with the last run's %d)", rep.PreviousSize)
	}
	fmt.Fprintln(out)
	for _, e := range rep.Entries {
		what := fmt.Sprintf("%s v%d", e.Kind, e.Version)
		if e.RootVersion > 0 {
			what += fmt.Sprintf(" (root v%d)", e.RootVersion)
		}
		fmt.Fprintf(out, "#%d %s %-28s sha256:%s signed by %s", e.Index, e.Logged.UTC().Format("2006-01-02T15:04:05Z"), what, e.SHA256[:16], strings.Join(short(e.SignedBy), ", "))
		if len(e.OtherSignatures) > 0 {
			fmt.Fprintf(out, "; unverified signatures by %s", strings.Join(short(e.OtherSignatures), ", "))
		}
		fmt.Fprintln(out)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(errw, "pinset: note: %s\n", n)
	}
	for _, p := range rep.Problems {
		where := ""
		if p.Index >= 0 {
			where = fmt.Sprintf(" #%d", p.Index)
		}
		fmt.Fprintf(errw, "pinset: %s%s: %s\n", p.Kind, where, p.Message)
	}
}

// short abbreviates key ids for the listing (the JSON has them whole).
func short(ids []string) []string {
	if len(ids) == 0 {
		return []string{"nobody"}
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id[:min(16, len(id))]
	}
	return out
}
