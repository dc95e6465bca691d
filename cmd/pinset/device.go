package main

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/device"
	"pinset.dev/pinset/internal/input"
)

func init() { addCommand(newDeviceCmd) }

// deviceHelp is the long help of `newDeviceCmd`.
const deviceHelp = `pinset device runs the device CA of managed devices: the CA whose
short-lived client certificates pinset edge requires on mtls routes, and the
revocation list (X.509 CRL) the edge refreshes (docs/edge.md).

The device generates its own key and sends a certificate signing request;
the certificate names only the device id, is for client authentication
only, and lives at most 30 days. Revoke by listing its serial number in the
revocation file and signing a new CRL before the last one's next update.`

func newDeviceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "device",
		Short: "Run the device CA: issue device certificates and sign revocation lists",
		Long:  deviceHelp,
		Example: `  pinset device ca new --cert device-ca.pem --key device-ca.key
  pinset device issue --id phone-42 --csr phone.csr -o phone.pem   # --ca, --ca-key as above
  pinset device crl --revoked revoked.txt -o crl.pem`,
	}
	ca := &cobra.Command{Use: "ca", Short: "Manage the device CA", Example: "  pinset device ca new --cert device-ca.pem --key device-ca.key"}
	ca.AddCommand(newDeviceCANewCmd())
	cmd.AddCommand(ca, newDeviceIssueCmd(), newDeviceCRLCmd())
	return cmd
}

func newDeviceCANewCmd() *cobra.Command {
	var cert, key, name, validity string
	var force bool
	cmd := &cobra.Command{
		Use:     "new --cert FILE --key FILE",
		Short:   "Make a device CA (ECDSA P-256; the key is written with mode 0600)",
		Example: "  pinset device ca new --cert device-ca.pem --key device-ca.key --name 'Example devices'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := input.ParseDays(validity)
			if err != nil {
				return fmt.Errorf("--validity: %w", err)
			}
			if err := checkOutput(cert, force); err != nil {
				return err
			}
			if err := checkOutput(key, force); err != nil {
				return err
			}
			c, err := device.NewCA(name, d, time.Now(), rand.Reader)
			if err != nil {
				return err
			}
			kp, err := c.KeyPEM()
			if err != nil {
				return err
			}
			if err := writeFileAtomic(key, kp, 0o600, force); err != nil {
				return err
			}
			return writeFileAtomic(cert, c.CertPEM(), 0o644, force)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cert, "cert", "device-ca.pem", "the CA certificate to write")
	f.StringVar(&key, "key", "device-ca.key", "the CA key to write (mode 0600)")
	f.StringVar(&name, "name", "pinset device CA", "the CA's common name")
	f.StringVar(&validity, "validity", "1825d", "how long the CA is valid")
	f.BoolVar(&force, "force", false, "overwrite existing files")
	return cmd
}

// loadDeviceCA reads the CA's files (the key capped like every key).
func loadDeviceCA(cert, key string) (*device.CA, error) {
	cb, err := input.Read(cert, 1<<20)
	if err != nil {
		return nil, err
	}
	kb, err := input.Read(key, 1<<20)
	if err != nil {
		return nil, err
	}
	return device.LoadCA(cb, kb)
}

func newDeviceIssueCmd() *cobra.Command {
	var caCert, caKey, csr, id, lifetime, out string
	cmd := &cobra.Command{
		Use:     "issue --ca FILE --ca-key FILE --csr FILE --id ID",
		Short:   "Issue a device certificate from a certificate signing request",
		Example: "  pinset device issue --ca-key /secure/device-ca.key --csr phone.csr --id phone-42 --lifetime 7d",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ca, err := loadDeviceCA(caCert, caKey)
			if err != nil {
				return err
			}
			d, err := input.ParseDays(lifetime)
			if err != nil {
				return fmt.Errorf("--lifetime: %w", err)
			}
			b, err := input.Read(csr, 64<<10)
			if err != nil {
				return err
			}
			c, err := ca.Issue(b, id, d, time.Now(), rand.Reader)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "pinset: issued %s, serial %x, valid until %s\n", id, c.SerialNumber, c.NotAfter.Format(time.RFC3339))
			return writeOutput(cmd, out, device.CertPEM(c), false)
		},
	}
	f := cmd.Flags()
	f.StringVar(&caCert, "ca", "device-ca.pem", "the CA certificate")
	f.StringVar(&caKey, "ca-key", "device-ca.key", "the CA key")
	f.StringVar(&csr, "csr", "", "the device's certificate signing request (PEM or DER)")
	f.StringVar(&id, "id", "", "the device id (1 to 128 of A-Z a-z 0-9 . _ -)")
	f.StringVar(&lifetime, "lifetime", "7d", "how long the certificate is valid (1h to 30d)")
	f.StringVarP(&out, "output", "o", "", "write the certificate here instead of standard output")
	_ = cmd.MarkFlagRequired("csr")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}

func newDeviceCRLCmd() *cobra.Command {
	var caCert, caKey, revoked, next, out string
	cmd := &cobra.Command{
		Use:     "crl --ca FILE --ca-key FILE [--revoked FILE]",
		Short:   "Sign the revocation list (X.509 CRL, PEM) pinset edge refreshes",
		Example: "  pinset device crl --revoked revoked.txt --next-update 7d -o /srv/edge/crl.pem",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ca, err := loadDeviceCA(caCert, caKey)
			if err != nil {
				return err
			}
			d, err := input.ParseDays(next)
			if err != nil {
				return fmt.Errorf("--next-update: %w", err)
			}
			now := time.Now()
			var list []device.Revoked
			if revoked != "" {
				b, err := input.Read(revoked, 64<<20)
				if err != nil {
					return err
				}
				if list, err = device.ParseRevoked(b, now); err != nil {
					return fmt.Errorf("%s: %w", revoked, err)
				}
			}
			crl, err := ca.CRL(list, now, d, rand.Reader)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "pinset: %s revoked, next update %s\n", plural(len(list), "certificate"), now.Add(d).UTC().Format(time.RFC3339))
			return writeOutput(cmd, out, crl, true)
		},
	}
	f := cmd.Flags()
	f.StringVar(&caCert, "ca", "device-ca.pem", "the CA certificate")
	f.StringVar(&caKey, "ca-key", "device-ca.key", "the CA key")
	f.StringVar(&revoked, "revoked", "", "revoked serial numbers, one a line in hexadecimal, optionally with an RFC 3339 time")
	f.StringVar(&next, "next-update", "7d", "when the list expires: devices are refused past it unless a newer list is signed")
	f.StringVarP(&out, "output", "o", "", "write the list here (replaced atomically) instead of standard output")
	return cmd
}
