// Command pinset computes, signs, serves, checks, exports and scans SPKI pins.
//
// Each subcommand lives in its own file and only wires flags to a package;
// what it prints to people goes through the helpers in ui.go.
package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the command line and returns the exit status. Subcommand
// files register themselves with addCommand from init functions.
func run(args []string) int { return runWith(args, os.Stdin, os.Stdout, os.Stderr) }

// runWith is run with explicit standard streams (tests capture them).
func runWith(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		return reportError(root.ErrOrStderr(), err)
	}
	return 0
}

// registry holds the constructors of the subcommands; each file adds one.
var registry []func() *cobra.Command

// addCommand registers a subcommand constructor. Call it from init.
func addCommand(f func() *cobra.Command) { registry = append(registry, f) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "pinset",
		Short: "Safe, dynamic public-key pinning for mobile apps",
		Long: `pinset keeps TLS public-key pinning safe when certificates rotate.

It computes SPKI SHA-256 pins in every spelling the platforms use, signs pin
manifests under offline threshold root keys, serves them to apps that refresh
their pins at run time, checks that what servers present stays covered, exports
pins to Android and iOS configuration, and scans built apps.

Start with:
  pinset demo                      the whole story on loopback, in seconds
  pinset pin cert.pem              the pin of a certificate or key
  pinset pin --connect example.com the pins of a live server's chain`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.HiddenDefaultCmd = false
	for _, f := range registry {
		root.AddCommand(f())
	}
	return root
}
