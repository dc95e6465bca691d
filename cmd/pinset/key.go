package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/internal/input"
	"pinset.dev/pinset/trust"
)

func init() { addCommand(newKeyCmd) }

// trustRand is the randomness of key generation and signing; tests
// replace it with a seeded source.
var trustRand io.Reader = rand.Reader

// trustNow is the clock of verify, root new and manifest new; tests
// replace it.
var trustNow = time.Now

// keyHelp is the long help of `newKeyCmd`.
const keyHelp = `Signing keys for pinset's root and pin manifest documents, and, with
"key new --tls", the private keys TLS servers present.

A root lists the public keys of two roles: "root" (signs roots; keep these
offline, ideally on separate machines) and "pins" (signs pin manifests).
See docs/trust.md.

Examples:
  pinset key new root-a --passphrase-file pass.txt
  pinset key new pins
  pinset root new --app com.example.app --root-key root-a.pub --pins-key pins.pub -o root.json`

func newKeyCmd() *cobra.Command {
	return group("key", "Make signing keys for roots and pin manifests, and server (TLS) keys", keyHelp,
		newKeyNewCmd())
}

// keyNewHelp is the long help of `newKeyNewCmd` (tlsKeyHelp follows).
const keyNewHelp = `pinset key new writes a new signing key:

  NAME.key  the private key, PKCS#8 PEM, mode 0600; encrypted (PKCS#8 PBES2
            with scrypt and AES-256-CBC, which OpenSSL also reads) with the
            passphrase of --passphrase-file or, on a terminal, one typed
            twice (not echoed); --no-passphrase writes it unencrypted
  NAME.pub  the public key, PUBLIC KEY PEM, to list in a root

and prints the key id: the hex SHA-256 of the public key's SubjectPublicKeyInfo
(the same 32 bytes as its SPKI pin).

ECDSA P-256 (the default) is verified natively by Android and iOS; Ed25519
needs Android API 33 or a library. Existing files are not overwritten
without --force. Without a terminal, --passphrase-file or --no-passphrase,
the key is written unencrypted and a warning says so.

Keep root keys encrypted and offline; a pins key that a CI job or
'pinset serve' uses unattended may be unencrypted (--no-passphrase).

Examples:
  pinset key new root-a                      # asks for a passphrase
  pinset key new root-b --passphrase-file pass.txt
  pinset key new ci-pins --no-passphrase
  pinset key new pins --alg p256
  pinset key new ci-signer --alg ed25519
`

// keyNewOptions are the flags of 'pinset key new'.
type keyNewOptions struct {
	alg, passFile string
	force, asJSON bool
	noPass        bool
	tk            tlsKeyOptions
}

func newKeyNewCmd() *cobra.Command {
	var o keyNewOptions
	cmd := &cobra.Command{
		Use:   "new NAME | new --tls [NAME | --ring DIR --host HOST]",
		Short: "Generate a key pair: NAME.key (private, 0600) and NAME.pub",
		Long:  keyNewHelp + tlsKeyHelp,
		Args:  cobra.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.tk.tls {
				return o.tk.run(cmd, args, o.alg, o.force, o.asJSON)
			}
			return runKeyNew(cmd, args, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.alg, "alg", "p256", "key algorithm: p256 (ECDSA P-256, SHA-256) or ed25519; with --tls: p256, p384, rsa2048 or rsa3072")
	f.StringVar(&o.passFile, "passphrase-file", "", "encrypt the private key with the passphrase in `FILE` (first line)")
	f.BoolVar(&o.noPass, "no-passphrase", false, "write the private key unencrypted, without asking")
	f.BoolVar(&o.force, "force", false, "overwrite existing NAME.key and NAME.pub")
	f.BoolVar(&o.asJSON, "json", false, "print the result as JSON")
	_ = cmd.RegisterFlagCompletionFunc("alg", cobra.FixedCompletions([]string{"p256\tECDSA P-256 with SHA-256 (default)", "ed25519\tEd25519 (signing keys)", "p384\tECDSA P-384 (--tls)", "rsa2048\tRSA 2048 (--tls)", "rsa3072\tRSA 3072 (--tls)"}, cobra.ShellCompDirectiveNoFileComp))
	o.tk.addFlags(f)
	return cmd
}

// runKeyNew writes a signing key pair, NAME.key (0600) and NAME.pub.
func runKeyNew(cmd *cobra.Command, args []string, o *keyNewOptions) error {
	if len(args) != 1 {
		return errorWithHint(errors.New("key new needs a NAME"), "pinset key new NAME (a signing key), or pinset key new --tls NAME (a server key)")
	}
	name := args[0]
	if base := filepath.Base(name); name == "" || strings.HasSuffix(name, string(filepath.Separator)) || base == "." || base == ".." {
		return errorWithHint(fmt.Errorf("key name %q: want a file name such as root-a", name), "pinset key new NAME writes NAME.key and NAME.pub")
	}
	keyFile, pubFile := name+".key", name+".pub"
	if err := checkOutput(keyFile, o.force); err != nil {
		return err
	}
	if err := checkOutput(pubFile, o.force); err != nil {
		return err
	}
	a, err := trust.ParseAlgorithm(o.alg)
	if err != nil {
		return fmt.Errorf("--alg: %w", err)
	}
	pass, err := newKeyPassphrase(cmd.InOrStdin(), cmd.ErrOrStderr(), keyFile, o.passFile, o.noPass)
	if err != nil {
		return err
	}
	s, err := trust.GenerateKey(a, trustRand)
	if err != nil {
		return err
	}
	if err := keyWritePair(s, pass, keyFile, pubFile, o.force); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if o.asJSON {
		return writeJSON(out, map[string]any{"key_file": keyFile, "public_file": pubFile, "keyid": s.Key.ID, "alg": s.Key.Alg, "encrypted": len(pass) > 0})
	}
	enc := "unencrypted"
	if len(pass) > 0 {
		enc = "encrypted"
	}
	fmt.Fprintf(out, "%s: %s private key (%s, mode 0600)\n%s: public key\nkey id: %s\n", keyFile, s.Key.Alg, enc, pubFile, s.Key.ID)
	return nil
}

// keyWritePair writes the private key (encrypted with pass when it is not
// empty; mode 0600) and the public key; a private key written just now is
// removed again when the public key cannot be written.
func keyWritePair(s *trust.Signer, pass []byte, keyFile, pubFile string, force bool) error {
	priv, err := s.MarshalPrivateKeyPEM(pass)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(keyFile, priv, 0o600, force); err != nil {
		return err
	}
	if err := writeFileAtomic(pubFile, s.Key.MarshalPublicKeyPEM(), 0o644, force); err != nil {
		if !force {
			os.Remove(keyFile) // created just now: no half key pair
		}
		return err
	}
	return nil
}

// trustMaxFile caps the files the trust commands read.
const trustMaxFile = trust.MaxEnvelopeSize

// trustReadPassphrase is input.ReadPassphrase: the first line of a passphrase file.
func trustReadPassphrase(name string) ([]byte, error) { return input.ReadPassphrase(name) }

// trustReadSigner loads a private key file. An encrypted key takes the
// passphrase of passFile or, when in is a terminal, one typed at a prompt
// on stderr (not echoed).
func trustReadSigner(in io.Reader, stderr io.Writer, keyFile, passFile string) (*trust.Signer, error) {
	b, err := readInput(keyFile, 64<<10)
	if err != nil {
		return nil, err
	}
	var pass []byte
	if passFile != "" {
		if pass, err = trustReadPassphrase(passFile); err != nil {
			return nil, err
		}
	}
	s, err := trust.ParsePrivateKeyPEM(b, pass)
	if passFile == "" && errors.Is(err, trust.ErrPassphrase) {
		fd, ok := stdinTerminal(in)
		if !ok {
			return nil, errorWithHint(fmt.Errorf("%s: %w", keyFile, err), "the key is encrypted and there is no terminal to ask on: give --passphrase-file FILE")
		}
		if pass, err = promptPassphrase(fd, stderr, "Passphrase for "+keyFile+": "); err != nil {
			return nil, err
		}
		s, err = trust.ParsePrivateKeyPEM(b, pass)
	}
	if err != nil {
		if passFile != "" && errors.Is(err, trust.ErrPassphrase) {
			return nil, fmt.Errorf("%s: %w (passphrase from %s)", keyFile, err, passFile)
		}
		return nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	return s, nil
}

// trustParseDuration reads a lifetime: Go durations (72h) or days (30d).
func trustParseDuration(s string) (time.Duration, error) {
	d, err := parseDays(s)
	if err == nil && d == 0 {
		err = fmt.Errorf("%q: a lifetime must be longer than zero", s)
	}
	return d, err
}
