package main

import "github.com/spf13/cobra"

// group is a command that only holds subcommands (pinset key, cert,
// token, ...): its name, one-line summary and long help, and its children.
// Run without one, it prints its help.
func group(use, short, long string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Long: long}
	cmd.AddCommand(subs...)
	return cmd
}
