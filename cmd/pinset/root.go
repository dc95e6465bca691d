package main

import (
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
	cmd := &cobra.Command{
		Use:   "root",
		Short: "Make root documents: the keys and thresholds an app trusts",
		Long:  rootDocHelp,
	}
	cmd.AddCommand(newRootNewCmd())
	return cmd
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

func newRootNewCmd() *cobra.Command {
	var (
		logKey                      string
		witnesses                   []string
		witnessThreshold            int
		app, expires, previous, out string
		maxManifestLifetime         string
		rootKeys, pinsKeys          []string
		rootThreshold, pinsThresh   int
		version                     uint64
		force                       bool
	)
	cmd := &cobra.Command{
		Use:   "new --app APP --root-key A.pub ... --pins-key P.pub ... -o root.json",
		Short: "Write an unsigned root envelope",
		Long:  rootNewHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(out, force); err != nil {
				return err
			}
			doc := &trust.Root{AppID: app, Version: version}
			if previous != "" {
				b, err := readInput(previous, trustMaxFile)
				if err != nil {
					return err
				}
				prev, env, err := trust.DecodeRootUnverified(b)
				if err != nil {
					return fmt.Errorf("%s: %w", previous, err)
				}
				if len(env.Signatures) == 0 {
					warningf(cmd.ErrOrStderr(), "%s is unsigned: sign it before publishing either root", previous)
				}
				if doc.AppID == "" {
					doc.AppID = prev.AppID
				} else if doc.AppID != prev.AppID {
					return fmt.Errorf("--app %q differs from %s's app %q", doc.AppID, previous, prev.AppID)
				}
				doc.MaxManifestLifetime = prev.MaxManifestLifetime
				doc.Log = prev.Log
				if doc.Version == 0 {
					doc.Version = prev.Version + 1
				} else if doc.Version != prev.Version+1 {
					return errorWithHint(fmt.Errorf("--version %d does not follow %s (v%d)", doc.Version, previous, prev.Version), "roots are walked one version at a time: use the next version")
				}
			}
			if doc.AppID == "" {
				return fmt.Errorf("--app is required (or --previous ROOT.json)")
			}
			if doc.Version == 0 {
				doc.Version = 1
			}
			if doc.Version > 1 && previous == "" {
				warningf(cmd.ErrOrStderr(), "root v%d without --previous: cannot check it follows the previous root", doc.Version)
			}
			lifetime, err := trustParseDuration(expires)
			if err != nil {
				return fmt.Errorf("--expires: %v", err)
			}
			doc.Expires = trustNow().UTC().Add(lifetime)
			if cmd.Flags().Changed("max-manifest-lifetime") {
				l, err := parseDays(maxManifestLifetime)
				if err != nil {
					return fmt.Errorf("--max-manifest-lifetime: %v", err)
				}
				if l == 0 && doc.MaxManifestLifetime != 0 {
					warningf(cmd.ErrOrStderr(), "--max-manifest-lifetime 0 removes the limit of %s that %s set", doc.MaxManifestLifetime, previous)
				}
				doc.MaxManifestLifetime = l
			}
			if logKey != "" {
				doc.Log = &trust.Log{Key: logKey, Witnesses: witnesses, WitnessThreshold: witnessThreshold}
				if witnessThreshold == 0 && len(witnesses) > 0 {
					doc.Log.WitnessThreshold = len(witnesses)
				}
			} else if len(witnesses) > 0 {
				return fmt.Errorf("--witness needs --log-key")
			}
			if len(rootKeys) == 0 || len(pinsKeys) == 0 {
				return errorWithHint(fmt.Errorf("at least one --root-key and one --pins-key are required"), "make keys with 'pinset key new NAME'")
			}
			add := func(files []string) ([]string, error) {
				var ids []string
				for _, f := range files {
					b, err := readInput(f, 64<<10)
					if err != nil {
						return nil, err
					}
					k, err := trust.ParsePublicKeyPEM(b)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", f, err)
					}
					if doc.Key(k.ID) == nil {
						doc.Keys = append(doc.Keys, k)
					}
					ids = append(ids, k.ID)
				}
				return ids, nil
			}
			if doc.RootRole.KeyIDs, err = add(rootKeys); err != nil {
				return err
			}
			if doc.PinsRole.KeyIDs, err = add(pinsKeys); err != nil {
				return err
			}
			doc.RootRole.Threshold = rootThreshold
			if rootThreshold == 0 {
				doc.RootRole.Threshold = len(doc.RootRole.KeyIDs)/2 + 1
			}
			doc.PinsRole.Threshold = pinsThresh
			if doc.RootRole.Threshold == 1 && len(doc.RootRole.KeyIDs) == 1 {
				warningf(cmd.ErrOrStderr(), "a single root key: losing it or having it stolen loses the app's pins; consider 2 of 3")
			}
			env, err := doc.Envelope()
			if err != nil {
				return err
			}
			b, err := env.Marshal()
			if err != nil {
				return err
			}
			if err := writeOutput(cmd, out, b, force); err != nil {
				return err
			}
			if out != "" && out != "-" {
				limit := "no manifest lifetime limit"
				if doc.MaxManifestLifetime != 0 {
					limit = "manifests valid for at most " + doc.MaxManifestLifetime.String()
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "%s: unsigned root %s v%d (root keys %d of %d, pins keys %d of %d, expires %s, %s); sign it with 'pinset sign --key KEY %s'\n",
					out, doc.AppID, doc.Version, doc.RootRole.Threshold, len(doc.RootRole.KeyIDs), doc.PinsRole.Threshold, len(doc.PinsRole.KeyIDs), doc.Expires.Format(trust.TimeLayout), limit, out)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&app, "app", "", "app id, e.g. com.example.app (A-Z a-z 0-9 . _ -)")
	f.StringArrayVar(&rootKeys, "root-key", nil, "public key `FILE` of the root role (repeatable)")
	f.IntVar(&rootThreshold, "root-threshold", 0, "root signatures required (default: a majority of the root keys)")
	f.StringArrayVar(&pinsKeys, "pins-key", nil, "public key `FILE` of the pins role (repeatable)")
	f.IntVar(&pinsThresh, "pins-threshold", 1, "pins signatures required on a manifest")
	f.StringVar(&expires, "expires", "365d", "lifetime of the root (e.g. 365d, 8760h)")
	f.StringVar(&maxManifestLifetime, "max-manifest-lifetime", "", "longest validity of a manifest under this root (e.g. 90d; 1m to 366d; 0: no limit; default: none, or --previous's)")
	f.Uint64Var(&version, "version", 0, "root version (default 1, or the --previous version plus one)")
	f.StringVar(&logKey, "log-key", "", "require manifests to be in this transparency log (its note verifier `KEY`: pinset audit log-key; default: none, or --previous's)")
	f.StringArrayVar(&witnesses, "witness", nil, "witness note verifier `KEY` that must cosign log checkpoints (repeatable)")
	f.IntVar(&witnessThreshold, "witness-threshold", 0, "witness cosignatures required (default: all --witness keys)")
	f.StringVar(&previous, "previous", "", "the root `FILE` this one follows (for version N+1)")
	f.StringVarP(&out, "output", "o", "", "write the envelope to `FILE` (default stdout)")
	f.BoolVar(&force, "force", false, "overwrite the -o file if it exists")
	return cmd
}
