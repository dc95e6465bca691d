package main

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/device"
)

func init() { addCommand(newDeviceCmd) }

// deviceHelp is the long help of `newDeviceCmd`.
const deviceHelp = `Device certificates authenticate managed devices to the app's backend with
mutual TLS (docs/devices.md). 'pinset device ca new' makes the device CA;
'pinset serve' with a devices: section issues short-lived client
certificates from it to devices that enroll with a one-time token, renews
them, revokes them and serves the CRL at /v1/apps/APP/devices/crl.

Examples:
  pinset device ca new --out-key device-ca.key --out-cert device-ca.pem
  pinset device token new --server https://pins.example.com --app shop --device-id phone-42
  pinset device revoke --server https://pins.example.com --app shop phone-42 --reason lost`

func newDeviceCmd() *cobra.Command {
	ca := group("ca", "Make the device CA", "", newDeviceCANewCmd())
	ca.Example = "  pinset device ca new --out-key device-ca.key --out-cert device-ca.pem"
	tok := group("token", "Create one-time enrollment tokens", "", newDeviceTokenNewCmd())
	tok.Example = "  pinset device token new --server https://pins.example.com --app shop"
	return group("device", "Make the device CA, enrollment tokens and revocations", deviceHelp, ca, tok, newDeviceRevokeCmd())
}

func newDeviceCANewCmd() *cobra.Command {
	var keyFile, certFile, name string
	var force bool
	cmd := &cobra.Command{
		Use:   "new --out-key FILE --out-cert FILE",
		Short: "Make a device CA: a P-256 key (written 0600) and its self-signed certificate",
		Long: `pinset device ca new makes the device CA: a P-256 key, written mode 0600, and a
self-signed certificate valid for 10 years that may sign client certificates
and CRLs. Give both files to 'pinset serve' (devices.ca_key, devices.ca_cert)
and the certificate to whatever verifies devices ('pinset edge').`,
		Example: "  pinset device ca new --out-key device-ca.key --out-cert device-ca.pem --name 'Shop devices'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyFile == "" || certFile == "" {
				return errors.New("device ca new: --out-key and --out-cert are required")
			}
			keyPEM, certPEM, err := device.NewCA(name, time.Now(), nil)
			if err != nil {
				return err
			}
			if err := writeFileAtomic(keyFile, keyPEM, 0o600, force); err != nil {
				return err
			}
			if err := writeFileAtomic(certFile, certPEM, 0o644, force); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote the device CA key to %s (0600) and its certificate to %s\n", keyFile, certFile)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&keyFile, "out-key", "", "`FILE` for the CA's private key (PEM, mode 0600)")
	f.StringVar(&certFile, "out-cert", "", "`FILE` for the CA's certificate (PEM)")
	f.StringVar(&name, "name", "", "the CA's common `NAME` (default \"pinset device CA\")")
	f.BoolVar(&force, "force", false, "replace existing files")
	return cmd
}

func newDeviceTokenNewCmd() *cobra.Command {
	var c adminConn
	var app, id string
	cmd := &cobra.Command{
		Use:   "new --server URL --app APP [--device-id ID]",
		Short: "Create a one-time enrollment token and print it (once)",
		Long: `pinset device token new asks the service for a one-time enrollment token for
one device of APP (a random device id unless --device-id), and prints the
token on stdout; the service stores only its hash. Hand it to the device's
app, which enrolls with it once, before it expires (devices.token_lifetime).`,
		Example: "  pinset device token new --server https://pins.example.com --app shop --device-id phone-42",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := openDeviceAdmin(&c, "device token new", app); err != nil {
				return err
			}
			var tok device.Token
			err := c.call(cmd, "POST", "/v1/admin/apps/"+url.PathEscape(app)+"/devices/tokens", map[string]string{"device_id": id}, &tok)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "enrollment token for device %s of %s, valid once until %s:\n", tok.DeviceID, tok.App, tok.ExpiresAt.Format(time.RFC3339))
			fmt.Fprintln(cmd.OutOrStdout(), tok.Secret)
			return nil
		},
	}
	c.flags(cmd, adminTimeout)
	cmd.Flags().StringVar(&app, "app", "", "the `APP` id")
	cmd.Flags().StringVar(&id, "device-id", "", "the device's `ID` (1 to 64 of a-z A-Z 0-9 . _ -; default random)")
	return cmd
}

func newDeviceRevokeCmd() *cobra.Command {
	var c adminConn
	var app, reason string
	cmd := &cobra.Command{
		Use:   "revoke --server URL --app APP DEVICE-ID",
		Short: "Revoke a device: its certificates go into the CRL, it renews no more",
		Long: `pinset device revoke revokes a device of APP: every certificate issued to it
goes into the app's CRL (within devices.crl_cache on other serve processes),
and it can neither renew nor enroll again.`,
		Example: "  pinset device revoke --server https://pins.example.com --app shop phone-42 --reason lost",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := openDeviceAdmin(&c, "device revoke", app); err != nil {
				return err
			}
			var out struct {
				Revoked int64 `json:"revoked_certificates"`
			}
			path := "/v1/admin/apps/" + url.PathEscape(app) + "/devices/" + url.PathEscape(args[0]) + "/revoke"
			if err := c.call(cmd, "POST", path, map[string]string{"reason": reason}, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked device %s of %s: %d certificates in the next CRL\n", args[0], app, out.Revoked)
			return nil
		},
	}
	c.flags(cmd, adminTimeout)
	cmd.Flags().StringVar(&app, "app", "", "the `APP` id")
	cmd.Flags().StringVar(&reason, "reason", "", "why (kept in the audit)")
	return cmd
}

// openDeviceAdmin checks --app and opens the admin connection.
func openDeviceAdmin(c *adminConn, what, app string) error {
	if app == "" {
		return fmt.Errorf("%s: --app is required", what)
	}
	return c.open()
}
