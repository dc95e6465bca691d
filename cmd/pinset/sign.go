package main

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/trust"
)

func init() { addCommand(newSignCmd) }

func newSignCmd() *cobra.Command {
	var keyFile, passFile string
	cmd := &cobra.Command{
		Use:   "sign --key K.key FILE...",
		Short: "Add a signature to a root or manifest envelope, in place",
		Long: `pinset sign adds one signature by the given key to each envelope file, in
place, so that k of n signers can sign one after another on separate
machines: pass the file along, each signer runs 'pinset sign' with their key.

Signing with a key that already signed changes nothing (the file is left
untouched). The signature covers the exact payload bytes and the payload
type (DSSE PAE); the algorithm is the key's. The file is replaced atomically.

Examples:
  pinset sign --key root-a.key root.json
  pinset sign --key pins.key --passphrase-file pass.txt pins.json
  pinset verify --root root.json pins.json    # then check the result`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyFile == "" {
				return errorWithHint(fmt.Errorf("--key is required"), "make one with 'pinset key new NAME'")
			}
			s, err := trustReadSigner(keyFile, passFile)
			if err != nil {
				return err
			}
			for _, name := range args {
				if err := signFile(cmd, s, name); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "private key `FILE` (PKCS#8 PEM, from 'pinset key new')")
	cmd.Flags().StringVar(&passFile, "passphrase-file", "", "passphrase `FILE` of an encrypted key")
	return cmd
}

func signFile(cmd *cobra.Command, s *trust.Signer, name string) error {
	if name == "-" {
		return fmt.Errorf("sign works in place: give a file, not standard input")
	}
	b, err := readInput(name, trustMaxFile)
	if err != nil {
		return err
	}
	env, err := trust.ParseEnvelope(b)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	// Decode the document too: never sign bytes that no verifier would
	// accept.
	var what string
	switch env.PayloadType {
	case trust.PayloadTypeRoot:
		r, err := trust.DecodeRoot(env.Payload)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		what = fmt.Sprintf("root %s v%d", r.AppID, r.Version)
		if !slices.Contains(r.RootRole.KeyIDs, s.Key.ID) {
			warningf(cmd.ErrOrStderr(), "%s: key %s is not a root key of this root: its signature counts only as a key of the previous root", name, s.Key.ID)
		}
	case trust.PayloadTypeManifest:
		m, err := trust.DecodeManifest(env.Payload)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		what = fmt.Sprintf("manifest %s v%d", m.AppID, m.Version)
	default:
		return fmt.Errorf("%s: payload type %q: %w", name, env.PayloadType, trust.ErrPayloadType)
	}
	added, err := env.Sign(s, trustRand)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	out := cmd.OutOrStdout()
	if !added {
		fmt.Fprintf(out, "%s: %s already signed by %s; unchanged (%s)\n", name, what, s.Key.ID, plural(len(env.Signatures), "signature"))
		return nil
	}
	nb, err := env.Marshal()
	if err != nil {
		return err
	}
	if bytes.Equal(nb, b) {
		return nil
	}
	if err := replaceFile(name, nb); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %s signed by %s (%s)\n", name, what, s.Key.ID, plural(len(env.Signatures), "signature"))
	return nil
}
