package main

import (
	"bytes"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/trust"
)

func init() { addCommand(newSignCmd) }

// signHelp is the long help of `newSignCmd`.
const signHelp = `pinset sign adds one signature by the given key to each envelope file, in
place, so that k of n signers can sign one after another on separate
machines: pass the file along, each signer runs 'pinset sign' with their key.

Signing with a key that already signed changes nothing (the file is left
untouched). pinset sign warns when the key is not one the root names for the
document's role (a root names its own root keys; give the root of a manifest,
or the previous root of a root, with --root) and when the document already
carries a signature that does not verify.

The signature covers the exact payload bytes and the payload type (DSSE
PAE); the algorithm is the key's. The file is replaced atomically.

Examples:
  pinset sign --key root-a.key root.json
  pinset sign --key pins.key --passphrase-file pass.txt --root root.json pins.json
  pinset verify --root root.json pins.json    # then check the result`

func newSignCmd() *cobra.Command {
	var keyFile, passFile, rootFile string
	cmd := &cobra.Command{
		Use:   "sign --key K.key FILE...",
		Short: "Add a signature to a root or manifest envelope, in place",
		Long:  signHelp,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyFile == "" {
				return errorWithHint(fmt.Errorf("--key is required"), "make one with 'pinset key new NAME'")
			}
			s, err := trustReadSigner(cmd.InOrStdin(), cmd.ErrOrStderr(), keyFile, passFile)
			if err != nil {
				return err
			}
			var given *trust.Root
			if rootFile != "" {
				if given, _, err = readRootUnverified(rootFile); err != nil {
					return err
				}
			}
			for _, name := range args {
				if err := signFile(cmd, s, name, rootFile, given); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "private key `FILE` (PKCS#8 PEM, from 'pinset key new')")
	cmd.Flags().StringVar(&passFile, "passphrase-file", "", "passphrase `FILE` of an encrypted key (default: asked on the terminal)")
	cmd.Flags().StringVar(&rootFile, "root", "", "root `FILE` naming the pins keys (of a manifest) or the previous root keys (of a root): warn about a key it does not name")
	return cmd
}

func signFile(cmd *cobra.Command, s *trust.Signer, name, rootFile string, given *trust.Root) error {
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
	stderr := cmd.ErrOrStderr()
	what, invalid, err := signCheckDocument(stderr, s, name, env, rootFile, given)
	if err != nil {
		return err
	}
	if slices.Contains(invalid, s.Key.ID) {
		// Otherwise Sign would keep the bad signature as "already signed".
		env.Signatures = slices.DeleteFunc(env.Signatures, func(sig trust.Signature) bool { return sig.KeyID == s.Key.ID })
		fmt.Fprintf(stderr, "%s: replacing the invalid signature by key %s\n", name, s.Key.ID)
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

// signCheckDocument decodes the envelope's document (never sign bytes that
// no verifier would accept), warns when the key is not one the root (or
// given) names for the document's role, and returns what the document is
// and the key ids of signatures on it that do not verify.
func signCheckDocument(stderr io.Writer, s *trust.Signer, name string, env *trust.Envelope, rootFile string, given *trust.Root) (what string, invalid []string, err error) {
	switch env.PayloadType {
	case trust.PayloadTypeRoot:
		r, err := trust.DecodeRoot(env.Payload)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", name, err)
		}
		switch {
		case slices.Contains(r.RootRole.KeyIDs, s.Key.ID):
		case given == nil:
			warningf(stderr, "%s: key %s is not a root key of this root: its signature counts only as a key of the previous root", name, s.Key.ID)
		case !slices.Contains(given.RootRole.KeyIDs, s.Key.ID):
			warningf(stderr, "%s: key %s is a root key neither of this root nor of %s (v%d): its signature will count for nothing", name, s.Key.ID, rootFile, given.Version)
		}
		return fmt.Sprintf("root %s v%d", r.AppID, r.Version), signWarnInvalid(stderr, name, env, trust.RoleRoot, r, given), nil
	case trust.PayloadTypeManifest:
		m, err := trust.DecodeManifest(env.Payload)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", name, err)
		}
		what = fmt.Sprintf("manifest %s v%d", m.AppID, m.Version)
		if given == nil {
			return what, nil, nil
		}
		if !slices.Contains(given.PinsRole.KeyIDs, s.Key.ID) {
			warningf(stderr, "%s: key %s is not a pins key of %s (root %s v%d): its signature will count for nothing", name, s.Key.ID, rootFile, given.AppID, given.Version)
		}
		return what, signWarnInvalid(stderr, name, env, trust.RolePins, given), nil
	}
	return "", nil, fmt.Errorf("%s: payload type %q: %w", name, env.PayloadType, trust.ErrPayloadType)
}

// signWarnInvalid warns about each signature on env by a key of role in
// one of roots that does not verify: it counts for nothing, and usually
// means the document was changed after it was signed.
func signWarnInvalid(stderr io.Writer, name string, env *trust.Envelope, role string, roots ...*trust.Root) (invalid []string) {
	for _, sig := range env.Signatures {
		for _, r := range roots {
			if r == nil {
				continue
			}
			rr, _ := r.Role(role)
			if !slices.Contains(rr.KeyIDs, sig.KeyID) {
				continue
			}
			one := &trust.Envelope{PayloadType: env.PayloadType, Payload: env.Payload, Signatures: []trust.Signature{sig}}
			if n, _ := r.VerifyRole(role, one); n == 0 {
				warningf(stderr, "%s: already carries an invalid signature by key %s (changed after it was signed?): it counts for nothing", name, sig.KeyID)
				invalid = append(invalid, sig.KeyID)
			}
			break
		}
	}
	return invalid
}
