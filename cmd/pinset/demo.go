package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/demo"
)

func init() { addCommand(newDemoCmd) }

// demoHelp is the long help of `newDemoCmd`.
const demoHelp = `pinset demo runs the whole story of dynamic pinning on this machine, with
real TLS servers, a real pin service and a real client, all on 127.0.0.1
(ports chosen by the kernel; nothing else is contacted):

  1. three root keys (2 of 3 must sign) and a pins key; root v1
  2. a backend HTTPS server for api.demo.test, a second key held back
  3. manifest v1 (live key + held-back key), the pin service on SQLite with
     the publish gate, root and manifest published through the admin API
  4. a client bundled with root v1 and manifest v1 calls the backend: accepted
  5. an interceptor with a trusted CA's certificate but an unpinned key:
     refused, and its failure report reaches the service
  6. the backend rotates to the held-back key; the publish gate checks
     manifest v2 against the live server; the running client picks it up
  7. the pin service stops: the client keeps working on its cached pins
  8. manifest v1 replayed by a hostile endpoint: refused as a rollback

It ends with a table of what each step was expected to do and what it did,
and exits with status 1 if any step misbehaved.

The work happens in a temporary directory that is removed afterwards. With
--keep DIR (a new or empty directory) the keys (mode 0600), roots,
manifests, certificates, the service's database and the client's cache stay
there, and the demo prints the commands to inspect them.

Examples:
  pinset demo
  pinset demo --keep ./pinset-demo
  pinset demo --json | jq '.steps[] | select(.ok | not)'`

func newDemoCmd() *cobra.Command {
	var (
		keep   string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "demo [--keep DIR] [--json]",
		Short: "Watch pinset do its whole job on loopback, in seconds",
		Long:  demoHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := demo.Config{Out: cmd.OutOrStdout(), Keep: keep}
			if asJSON {
				cfg.Out = io.Discard
			}
			// Ctrl-C stops the demo cleanly: servers closed, the temporary
			// directory removed.
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
			defer stop()
			res, err := demo.Run(ctx, cfg)
			if ctx.Err() != nil {
				// The steps cut short are in the table above; the exit
				// status is the shell's for Ctrl-C, not a failed demo.
				return exitCode(130, errors.New("interrupted"))
			}
			if err != nil {
				return err
			}
			if asJSON {
				if err := res.WriteJSON(cmd.OutOrStdout()); err != nil {
					return err
				}
			}
			if !res.OK() {
				return exitCode(1, fmt.Errorf("demo: %d of %d steps did not behave as expected", len(res.Failed()), len(res.Steps)))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&keep, "keep", "", "work in `DIR` and leave the keys, documents and database there")
	f.BoolVar(&asJSON, "json", false, "print the steps and their outcomes as JSON instead of the narration")
	return cmd
}
