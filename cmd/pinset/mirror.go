package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/server/mirror"
	"pinset.dev/pinset/server/serveconfig"
)

// serveMoreFlags registers serve's --mirror and the completions of its
// log flags.
func serveMoreFlags(cmd *cobra.Command, flags *serveconfig.File) {
	cmd.Flags().StringVar(&flags.Mirror, "mirror", "", "write every publication into this static origin `DIR` (v1/apps/APP/...) for nginx or a CDN")
	_ = cmd.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
}

// runPublishTo publishes to the service, or with --mirror into a static
// origin directory without one.
func runPublishTo(cmd *cobra.Command, o *publishOptions, args []string) error {
	if o.mirror == "" {
		return runPublish(cmd, o, args)
	}
	if o.conn.serverURL != "" {
		return errors.New("publish: --mirror and --server go to different places: give one")
	}
	items, err := readPublishItems(args)
	if err != nil {
		return err
	}
	d := mirror.Dir{Root: o.mirror}
	for _, it := range items {
		if o.app != "" {
			it.app = o.app
		}
		var roots [][]byte
		var manifest []byte
		if it.kind == "root" {
			roots = [][]byte{it.body}
		} else {
			manifest = it.body
		}
		if _, err := d.Publish(it.app, roots, manifest, time.Now()); err != nil {
			return fmt.Errorf("%s: %w", it.file, err)
		}
		what := map[string]string{"root": "root", "pins": "manifest"}[it.kind]
		fmt.Fprintf(cmd.OutOrStdout(), "%s: %s %s v%d written to %s\n", it.file, it.app, what, it.version, o.mirror)
		if it.kind == "pins" {
			warningf(cmd.ErrOrStderr(), "%s: the publish gate did not run (no service): nothing checked the live hosts; run 'pinset check' first", it.file)
		}
	}
	return nil
}
