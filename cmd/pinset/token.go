package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/store"
)

func init() { addCommand(newTokenCmd) }

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke admin tokens of the pin service",
		Long: `Admin tokens authorise uploads and queries on the pin service's admin API
(Authorization: Bearer TOKEN). They are stored as SHA-256 hashes and compared
in constant time; a token is printed once, when it is created.

The commands work on the service's database directly: give the same --data,
--database or --config as 'pinset serve'.

Examples:
  pinset token new --name ci
  pinset token new --name laptop --database postgres://pinset@127.0.0.1/pinset
  pinset token list --json
  pinset token revoke ci`,
	}
	cmd.AddCommand(newTokenNewCmd(), newTokenListCmd(), newTokenRevokeCmd())
	return cmd
}

func newTokenNewCmd() *cobra.Command {
	var sf storeFlags
	var name string
	cmd := &cobra.Command{
		Use:   "new --name NAME",
		Short: "Create a token and print it (once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return errorWithHint(errors.New("token new: --name is required"), "name tokens after who or what uses them, e.g. --name ci")
			}
			st, err := sf.open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			secret, hash, err := store.NewToken(nil)
			if err != nil {
				return err
			}
			if err := st.AddToken(cmd.Context(), name, hash, time.Now()); err != nil {
				if errors.Is(err, store.ErrExists) {
					return errorWithHint(fmt.Errorf("token %q already exists", name), "pick another name, or revoke the old token first")
				}
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), secret)
			warningf(cmd.ErrOrStderr(), "token %q created; it is shown only now: store it in a secret manager", name)
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&name, "name", "", "unique `NAME` of the token")
	return cmd
}

func newTokenListCmd() *cobra.Command {
	var sf storeFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tokens (names and dates; never the tokens)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := sf.open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			ts, err := st.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if ts == nil {
					ts = []store.Token{}
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(ts)
			}
			for _, t := range ts {
				state := "active"
				if !t.RevokedAt.IsZero() {
					state = "revoked " + t.RevokedAt.Format(time.RFC3339)
				}
				fmt.Fprintf(out, "%-24s created %s  %s\n", t.Name, t.CreatedAt.Format(time.RFC3339), state)
			}
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newTokenRevokeCmd() *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a token: it stops working at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := sf.open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.RevokeToken(cmd.Context(), args[0], time.Now()); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("token %q: no such active token", args[0])
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", args[0])
			return nil
		},
	}
	sf.register(cmd)
	return cmd
}
