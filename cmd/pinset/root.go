package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/trust"
)

func init() { addCommand(newRootDocCmd) }

// rootDocHelp is the long help of `newRootDocCmd`.
const rootDocHelp = `A root lists an app's public keys and, for two roles, which keys sign and
how many must:

  root   signs roots (root N+1 needs a threshold of root N's root keys AND
         of its own); keep these keys offline
  pins   signs pin manifests

Apps ship root v1 and walk later roots one version at a time. See
docs/trust.md.

Examples:
  pinset root new --app com.example.app --root-key a.pub --root-key b.pub \
      --root-key c.pub --pins-key pins.pub -o root.json
  pinset sign --key a.key root.json
  pinset inspect root.json`

func newRootDocCmd() *cobra.Command {
	return group("root", "Make root documents: the keys and thresholds an app trusts", rootDocHelp,
		newRootNewCmd())
}

// rootNewHelp is the long help of `newRootNewCmd`.
const rootNewHelp = `pinset root new writes a root document in an unsigned envelope; sign it
with 'pinset sign' by a threshold of the root keys (and, for version N+1, by a
threshold of root N's root keys as well).

The root threshold defaults to a majority of the root keys, the pins
threshold to 1. The expiry defaults to 365 days: an app whose root has
expired accepts no new manifest until it fetches the next root.

--max-manifest-lifetime sets the longest a manifest signed under this root
may be valid for (expires - issued_at); clients refuse longer ones. It bounds
how long a client whose refreshes are blocked stays on one manifest (a
freeze), whatever the pins keys sign. With --previous the previous root's
limit is kept unless the flag is given; 0 removes it.

Examples:
  # root v1: three offline root keys, two of which must sign; one pins key
  pinset root new --app com.example.app \
      --root-key a.pub --root-key b.pub --root-key c.pub --root-threshold 2 \
      --pins-key pins.pub --max-manifest-lifetime 90d -o root.json
  pinset sign --key a.key root.json      # on machine A
  pinset sign --key b.key root.json      # on machine B

  # root v2 rotating key c out: signed by 2 of v1's root keys and 2 of its own
  pinset root new --previous root.json --root-key a.pub --root-key b.pub \
      --root-key d.pub --pins-key pins.pub -o root-2.json`

// rootNewOptions are the flags of 'pinset root new'.
type rootNewOptions struct {
	logKey                      string
	witnesses                   []string
	witnessThreshold            int
	app, expires, previous, out string
	maxManifestLifetime         string
	rootKeys, pinsKeys          []string
	rootThreshold, pinsThresh   int
	version                     uint64
	force                       bool
}

func newRootNewCmd() *cobra.Command {
	var o rootNewOptions
	cmd := &cobra.Command{
		Use:   "new --app APP --root-key A.pub ... --pins-key P.pub ... -o root.json",
		Short: "Write an unsigned root envelope",
		Long:  rootNewHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRootNew(cmd, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.app, "app", "", "app id, e.g. com.example.app (A-Z a-z 0-9 . _ -)")
	f.StringArrayVar(&o.rootKeys, "root-key", nil, "public key `FILE` of the root role (repeatable)")
	f.IntVar(&o.rootThreshold, "root-threshold", 0, "root signatures required (default: a majority of the root keys)")
	f.StringArrayVar(&o.pinsKeys, "pins-key", nil, "public key `FILE` of the pins role (repeatable)")
	f.IntVar(&o.pinsThresh, "pins-threshold", 1, "pins signatures required on a manifest")
	f.StringVar(&o.expires, "expires", "365d", "lifetime of the root (e.g. 365d, 8760h)")
	f.StringVar(&o.maxManifestLifetime, "max-manifest-lifetime", "", "longest validity of a manifest under this root (e.g. 90d; 1m to 366d; 0: no limit; default: none, or --previous's)")
	f.Uint64Var(&o.version, "version", 0, "root version (default 1, or the --previous version plus one)")
	f.StringVar(&o.logKey, "log-key", "", "require manifests to be in this transparency log (its note verifier `KEY`: pinset audit log-key; default: none, or --previous's)")
	f.StringArrayVar(&o.witnesses, "witness", nil, "witness note verifier `KEY` that must cosign log checkpoints (repeatable)")
	f.IntVar(&o.witnessThreshold, "witness-threshold", 0, "witness cosignatures required (default: all --witness keys)")
	f.StringVar(&o.previous, "previous", "", "the root `FILE` this one follows (for version N+1)")
	f.StringVarP(&o.out, "output", "o", "", "write the envelope to `FILE` (default stdout)")
	f.BoolVar(&o.force, "force", false, "overwrite the -o file if it exists")
	return cmd
}

// runRootNew turns the flags into a trust.RootDraft, has trust.NewRoot
// assemble and validate the root, and writes it unsigned.
func runRootNew(cmd *cobra.Command, o *rootNewOptions) error {
	if err := checkOutput(o.out, o.force); err != nil {
		return err
	}
	d, err := rootDraft(cmd, o)
	if err != nil {
		return err
	}
	doc, err := trust.NewRoot(d, trustNow())
	switch {
	case errors.Is(err, trust.ErrWrongApp):
		return fmt.Errorf("--app: %s: %w", o.previous, err)
	case errors.Is(err, trust.ErrRootVersionGap):
		return errorWithHint(fmt.Errorf("--version %d does not follow %s (v%d): %w", d.Version, o.previous, d.Previous.Version, trust.ErrRootVersionGap), "roots are walked one version at a time: use the next version")
	case err != nil:
		return err
	}
	rootNewWarnings(cmd, o, d, doc)
	if err := writeUnsigned(cmd, doc, o.out, o.force); err != nil {
		return err
	}
	if o.out != "" && o.out != "-" {
		limit := "no manifest lifetime limit"
		if doc.MaxManifestLifetime != 0 {
			limit = "manifests valid for at most " + doc.MaxManifestLifetime.String()
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: unsigned root %s v%d (root keys %d of %d, pins keys %d of %d, expires %s, %s); sign it with 'pinset sign --key KEY %s'\n",
			o.out, doc.AppID, doc.Version, doc.RootRole.Threshold, len(doc.RootRole.KeyIDs), doc.PinsRole.Threshold, len(doc.PinsRole.KeyIDs), doc.Expires.Format(trust.TimeLayout), limit, o.out)
	}
	return nil
}

// rootDraft reads the files the flags name (--previous, the keys) and
// parses the durations.
func rootDraft(cmd *cobra.Command, o *rootNewOptions) (trust.RootDraft, error) {
	d := trust.RootDraft{AppID: o.app, Version: o.version, RootThreshold: o.rootThreshold, PinsThreshold: o.pinsThresh}
	var err error
	if o.previous != "" {
		if d.Previous, err = rootReadPrevious(cmd, o.previous); err != nil {
			return d, err
		}
	} else if o.app == "" {
		return d, fmt.Errorf("--app is required (or --previous ROOT.json)")
	}
	if d.Lifetime, err = trustParseDuration(o.expires); err != nil {
		return d, fmt.Errorf("--expires: %v", err)
	}
	if cmd.Flags().Changed("max-manifest-lifetime") {
		l, err := parseDays(o.maxManifestLifetime)
		if err != nil {
			return d, fmt.Errorf("--max-manifest-lifetime: %v", err)
		}
		d.MaxManifestLifetime = &l
	}
	if o.logKey != "" {
		d.Log = &trust.Log{Key: o.logKey, Witnesses: o.witnesses, WitnessThreshold: o.witnessThreshold}
	} else if len(o.witnesses) > 0 {
		return d, fmt.Errorf("--witness needs --log-key")
	}
	if len(o.rootKeys) == 0 || len(o.pinsKeys) == 0 {
		return d, errorWithHint(fmt.Errorf("at least one --root-key and one --pins-key are required"), "make keys with 'pinset key new NAME'")
	}
	if d.RootKeys, err = readPublicKeys(o.rootKeys); err != nil {
		return d, err
	}
	d.PinsKeys, err = readPublicKeys(o.pinsKeys)
	return d, err
}

// rootReadPrevious reads --previous, warning when it is unsigned.
func rootReadPrevious(cmd *cobra.Command, name string) (*trust.Root, error) {
	prev, env, err := readRootUnverified(name)
	if err != nil {
		return nil, err
	}
	if len(env.Signatures) == 0 {
		warningf(cmd.ErrOrStderr(), "%s is unsigned: sign it before publishing either root", name)
	}
	return prev, nil
}

// readPublicKeys reads public key files.
func readPublicKeys(files []string) ([]*trust.Key, error) {
	var keys []*trust.Key
	for _, f := range files {
		b, err := readInput(f, 64<<10)
		if err != nil {
			return nil, err
		}
		k, err := trust.ParsePublicKeyPEM(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// rootNewWarnings says what the new root does that may not be meant.
func rootNewWarnings(cmd *cobra.Command, o *rootNewOptions, d trust.RootDraft, doc *trust.Root) {
	stderr := cmd.ErrOrStderr()
	if doc.Version > 1 && d.Previous == nil {
		warningf(stderr, "root v%d without --previous: cannot check it follows the previous root", doc.Version)
	}
	if d.Previous != nil && d.MaxManifestLifetime != nil && *d.MaxManifestLifetime == 0 && d.Previous.MaxManifestLifetime != 0 {
		warningf(stderr, "--max-manifest-lifetime 0 removes the limit of %s that %s set", d.Previous.MaxManifestLifetime, o.previous)
	}
	if doc.RootRole.Threshold == 1 && len(doc.RootRole.KeyIDs) == 1 {
		warningf(stderr, "a single root key: losing it or having it stolen loses the app's pins; consider 2 of 3")
	}
}

// writeUnsigned writes doc (a root or a manifest) in an unsigned envelope
// to -o FILE or standard output (writeOutput).
func writeUnsigned(cmd *cobra.Command, doc interface {
	Envelope() (*trust.Envelope, error)
}, out string, force bool) error {
	env, err := doc.Envelope()
	if err != nil {
		return err
	}
	b, err := env.Marshal()
	if err != nil {
		return err
	}
	return writeOutput(cmd, out, b, force)
}

// readRootUnverified reads a root file and decodes it strictly, without
// verifying it (trust.DecodeRootUnverified): for assembling and
// inspecting documents, never for deciding trust.
func readRootUnverified(name string) (*trust.Root, *trust.Envelope, error) {
	b, err := readInput(name, trustMaxFile)
	if err != nil {
		return nil, nil, err
	}
	r, env, err := trust.DecodeRootUnverified(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return r, env, nil
}
