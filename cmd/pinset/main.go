// Command pinset computes, signs, serves, checks, exports and scans SPKI pins.
//
// Each subcommand lives in its own file and only wires flags to a package;
// what it prints to people goes through the helpers in ui.go.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"

	"pinset.dev/pinset/internal/atomicfile"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the command line and returns the exit status. Subcommand
// files register themselves with addCommand from init functions.
func run(args []string) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := handleInterrupts(os.Stderr, cancel)
	defer stop()
	return runContext(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}

// runWith is run with explicit standard streams (tests capture them).
func runWith(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdin, stdout, stderr)
}

func runContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		return reportError(root.ErrOrStderr(), err)
	}
	return 0
}

// stopsOnItsOwn lists the commands that finish cleanly by themselves when
// interrupted (they watch their context: servers shut down, the demo
// removes its directory). Every other command stops at once.
var stopsOnItsOwn = map[string]bool{"pinset serve": true, "pinset demo": true, "pinset edge": true}

// running is the command path of the command being run.
var running atomic.Value

// handleInterrupts makes SIGINT and SIGTERM safe: the temporary files of
// outputs not yet complete are removed (internal/atomicfile) and the
// command's context is cancelled; then pinset says "interrupted" and exits
// with 128+signal (130 for Ctrl-C), unless the command stops on its own
// (stopsOnItsOwn), in which case a second signal exits at once.
func handleInterrupts(stderr io.Writer, cancel func()) (stop func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for n := 0; ; n++ {
			var sig os.Signal
			select {
			case sig = <-ch:
			case <-done:
				return
			}
			atomicfile.Interrupt()
			cancel()
			path, _ := running.Load().(string)
			if n > 0 || !stopsOnItsOwn[path] {
				io.WriteString(stderr, "pinset: interrupted\n")
				os.Exit(interruptStatus(sig))
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

// interruptStatus is the shell's status for a process killed by sig.
func interruptStatus(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

// registry holds the constructors of the subcommands; each file adds one.
var registry []func() *cobra.Command

// addCommand registers a subcommand constructor. Call it from init.
func addCommand(f func() *cobra.Command) { registry = append(registry, f) }

// rootHelp is the long help of `newRootCmd`.
const rootHelp = `pinset keeps TLS public-key pinning safe when certificates rotate.

It computes SPKI SHA-256 pins in every spelling the platforms use, signs pin
manifests under offline threshold root keys, serves them to apps that refresh
their pins at run time, checks that what servers present stays covered, exports
pins to Android and iOS configuration, and scans built apps.

Start with:
  pinset demo                      the whole story on loopback, in seconds
  pinset pin cert.pem              the pin of a certificate or key
  pinset pin --connect example.com the pins of a live server's chain`

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "pinset",
		Short:         "Safe, dynamic public-key pinning for mobile apps",
		Long:          rootHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			running.Store(cmd.CommandPath())
		},
	}
	root.SetUsageFunc(usage)
	root.Version = versionString()
	root.SetVersionTemplate("{{.Version}}\n")
	root.CompletionOptions.HiddenDefaultCmd = false
	for _, f := range registry {
		root.AddCommand(f())
	}
	return root
}
