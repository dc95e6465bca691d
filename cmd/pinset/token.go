package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/server/serveconfig"
	"pinset.dev/pinset/store"
)

func init() { addCommand(newTokenCmd) }

// tokenHelp is the long help of `newTokenCmd`.
const tokenHelp = `Admin tokens authorise uploads and queries on the pin service's admin API
(Authorization: Bearer TOKEN). They are stored as SHA-256 hashes and compared
in constant time; a token is printed once, when it is created.

The commands work on the service's database directly: give the same --data,
--database or --config as 'pinset serve'. They never create a store: a
--data or --database that names none is an error (a typo must not yield a
token no server knows). 'pinset serve' creates it, or 'token new --init'.

Examples:
  pinset token new --name ci
  pinset token new --name laptop --database postgres://pinset@127.0.0.1/pinset
  pinset token list --json
  pinset token revoke ci`

func newTokenCmd() *cobra.Command {
	return group("token", "Create, list and revoke admin tokens of the pin service", tokenHelp,
		newTokenNewCmd(), newTokenListCmd(), newTokenRevokeCmd())
}

// tokenNewHelp is the long help of `newTokenNewCmd`.
const tokenNewHelp = `pinset token new creates an admin token named NAME, stores its SHA-256 hash
in the service's database and prints the token on stdout, once. Names are
unique and never reused, even after 'pinset token revoke'.

Examples:
  pinset token new --name ci --data /var/lib/pinset
  pinset token new --name laptop --config /etc/pinset/pinset.yaml
  pinset token new --name first --data ./pinset-data --init   # before the first 'pinset serve'`

func newTokenNewCmd() *cobra.Command {
	var sf storeFlags
	var name string
	var initStore bool
	cmd := &cobra.Command{
		Use:   "new --name NAME",
		Short: "Create a token and print it (once)",
		Long:  tokenNewHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return errorWithHint(errors.New("token new: --name is required"), "name tokens after who or what uses them, e.g. --name ci")
			}
			st, err := tokenOpenStore(cmd, &sf, initStore)
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
					return tokenExistsError(cmd, st, name)
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
	cmd.Flags().BoolVar(&initStore, "init", false, "create the store if there is none yet (as 'pinset serve' does)")
	return cmd
}

// tokenListHelp is the long help of `newTokenListCmd`.
const tokenListHelp = `pinset token list prints each token's name, creation time and state (active,
or revoked with the time). The tokens themselves are not stored and cannot be
shown.

Examples:
  pinset token list --data /var/lib/pinset
  pinset token list --config /etc/pinset/pinset.yaml --json`

func newTokenListCmd() *cobra.Command {
	var sf storeFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tokens (names and dates; never the tokens)",
		Long:  tokenListHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := tokenOpenStore(cmd, &sf, false)
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
				return writeJSON(out, ts)
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

// tokenRevokeHelp is the long help of `newTokenRevokeCmd`.
const tokenRevokeHelp = `pinset token revoke marks the token NAME revoked: every server on the store
refuses it from the next request on. The record stays, so the name is not
reused.

Examples:
  pinset token revoke ci --data /var/lib/pinset
  pinset token revoke laptop --database postgres://pinset@127.0.0.1/pinset`

func newTokenRevokeCmd() *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a token: it stops working at once",
		Long:  tokenRevokeHelp,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := tokenOpenStore(cmd, &sf, false)
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

// tokenOpenStore opens the store the flags name (the same settings as
// 'pinset serve': --config, then --data and --database). It creates one
// only when create is set (--init); a store that is not there is an error
// with a hint, never a new empty database.
func tokenOpenStore(cmd *cobra.Command, sf *storeFlags, create bool) (store.Store, error) {
	cfg, err := serveconfig.Load(sf.config)
	if err != nil {
		return nil, err
	}
	if cmd.Flags().Changed("data") || cfg.Data == "" {
		cfg.Data = sf.data
	}
	if cmd.Flags().Changed("database") || cfg.Database == "" {
		cfg.Database = sf.database
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if create {
		return store.Open(ctx, cfg.Database, cfg.Data)
	}
	st, err := store.OpenExisting(ctx, cfg.Database, cfg.Data)
	if errors.Is(err, store.ErrNoStore) {
		hint := "give the --data, --database or --config of 'pinset serve'; a new service creates its store when it first starts"
		if cmd.Flags().Lookup("init") != nil {
			hint += ", or pass --init to create it now"
		}
		return nil, errorWithHint(err, hint)
	}
	return st, err
}

// tokenExistsError explains why a name is taken: by an active token, or
// by a revoked one (names are never reused).
func tokenExistsError(cmd *cobra.Command, st store.Store, name string) error {
	ts, _ := st.Tokens(cmd.Context())
	for _, t := range ts {
		if t.Name == name && !t.RevokedAt.IsZero() {
			return errorWithHint(fmt.Errorf("token %q was revoked on %s; a name is never reused", name, t.RevokedAt.Format(time.RFC3339)),
				fmt.Sprintf("pick another name, e.g. --name %s-2", name))
		}
	}
	return errorWithHint(fmt.Errorf("token %q already exists", name), fmt.Sprintf("pick another name, or revoke it first with 'pinset token revoke %s'", name))
}
