package main

import (
	"crypto"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"pinset.dev/pinset/keyring"
	"pinset.dev/pinset/pin"
)

// tlsKeyHelp is the part of "key new --help" about server keys.
const tlsKeyHelp = `
Server (TLS) keys, with --tls:

  pinset key new --tls NAME                        NAME.key, ECDSA P-256
  pinset key new --tls NAME --alg rsa3072          p256 (default), p384, rsa2048, rsa3072
  pinset key new --tls --ring keys --host api.example.com

write an unencrypted PKCS#8 PEM private key, mode 0600 (the server reads it
without a passphrase), and print its pin: make the next key before any
certificate exists for it, put its pin in the manifest as the backup pin,
and get its certificate later with pinset cert issue --key. With --ring the
key goes into the host's key ring (DIR/HOST/, see docs/rotation.md): the
first key of a ring is its live key, later ones queue as next keys. A server
key file is never overwritten (its pin may already be in apps).`

// tlsKeyOptions are the flags of "key new" for server keys.
type tlsKeyOptions struct {
	tls        bool
	ring, host string
}

func (o *tlsKeyOptions) addFlags(f *pflag.FlagSet) {
	f.BoolVar(&o.tls, "tls", false, "make a server (TLS) key instead of a signing key: NAME.key only, and its pin")
	f.StringVar(&o.ring, "ring", "", "with --tls: add the key to the key ring in `DIR` (with --host) instead of writing NAME.key")
	f.StringVar(&o.host, "host", "", "with --ring: the `HOST` whose ring gets the key")
}

func (o *tlsKeyOptions) run(cmd *cobra.Command, args []string, alg string, force, asJSON bool) error {
	if force {
		return errorWithHint(errors.New("--force: a server key is never overwritten"), "its pin may already be in a manifest; choose another NAME")
	}
	if cmd.Flags().Changed("passphrase-file") {
		return errorWithHint(errors.New("--passphrase-file: a server key is written unencrypted"), "the server must read it unattended; protect it with its 0600 mode")
	}
	typ, err := keyring.ParseType(alg)
	if err != nil {
		return fmt.Errorf("--alg: %w", err)
	}
	switch {
	case o.ring != "" && len(args) > 0:
		return errorWithHint(errors.New("give NAME or --ring, not both"), "a ring names its key files by pin")
	case o.ring == "" && len(args) != 1:
		return errorWithHint(errors.New("key new --tls needs a NAME or --ring DIR --host HOST"), "pinset key new --tls api-next")
	case o.ring != "" && o.host == "":
		return errors.New("--ring needs --host")
	case o.ring == "" && o.host != "":
		return errors.New("--host is for --ring")
	}
	key, err := keyring.Generate(typ, trustRand)
	if err != nil {
		return err
	}
	p, err := keyring.Pin(key)
	if err != nil {
		return err
	}
	var file, role string
	if o.ring != "" {
		file, role, err = o.addToRing(key, p)
	} else {
		file, err = tlsKeyWriteNew(args[0], key)
	}
	if err != nil {
		return err
	}
	return o.print(cmd.OutOrStdout(), file, role, typ, p, asJSON)
}

// addToRing adds key to the ring of --host in --ring (made if there is
// none), returning its file and its role there (live or next).
func (o *tlsKeyOptions) addToRing(key crypto.Signer, p pin.Pin) (file, role string, err error) {
	r, err := keyring.Open(o.ring, o.host)
	if errors.Is(err, keyring.ErrNoRing) {
		r, err = keyring.Create(o.ring, o.host)
	}
	if err != nil {
		return "", "", err
	}
	if _, err := r.Add(key); err != nil {
		return "", "", err
	}
	role = "next"
	if r.State().Live == p {
		role = "live"
	}
	return r.KeyPath(p), role, nil
}

// tlsKeyWriteNew writes key to NAME.key (0600), never over a file.
func tlsKeyWriteNew(name string, key crypto.Signer) (string, error) {
	b, err := keyring.MarshalPEM(key)
	if err != nil {
		return "", err
	}
	file := name + ".key"
	if err := keyring.WriteNew(file, b); err != nil {
		if errors.Is(err, keyring.ErrExist) {
			return "", errorWithHint(fmt.Errorf("%s already exists", file), "a server key is never overwritten; choose another NAME")
		}
		return "", err
	}
	return file, nil
}

// print says which key was written, with its pin (and ring role).
func (o *tlsKeyOptions) print(out io.Writer, file, role string, typ keyring.Type, p pin.Pin, asJSON bool) error {
	if asJSON {
		m := map[string]any{"key_file": file, "type": typ, "pin": p}
		if role != "" {
			m["ring_role"] = role
		}
		return writeJSON(out, m)
	}
	fmt.Fprintf(out, "%s: %s server key (PKCS#8, unencrypted, mode 0600)\n", file, typ)
	if role != "" {
		fmt.Fprintf(out, "ring: %s key of %s\n", role, o.host)
	}
	fmt.Fprintf(out, "pin: %s\n", p)
	return nil
}
