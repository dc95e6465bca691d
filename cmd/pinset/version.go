package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

func init() { addCommand(newVersionCmd) }

// buildInfo reads the module version and VCS state the Go toolchain
// records in the binary; tests replace it.
var buildInfo = debug.ReadBuildInfo

// versionString describes this build: "pinset v1.2.3 (abcdef012345, 2026-05-01T10:00:00Z, modified) go1.26.8".
// A binary built from a checkout has the version "(devel)"; one built
// without VCS information (go run, -buildvcs=false) has no revision, and
// says so instead of inventing one.
func versionString() string {
	bi, ok := buildInfo()
	if !ok {
		return "pinset (no build information)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, when string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	var parts []string
	switch {
	case rev != "":
		if len(rev) > 12 {
			rev = rev[:12]
		}
		parts = append(parts, rev)
		if when != "" {
			parts = append(parts, when)
		}
		if modified {
			parts = append(parts, "modified")
		}
	default:
		parts = append(parts, "no VCS revision")
	}
	return fmt.Sprintf("pinset %s (%s) %s", v, strings.Join(parts, ", "), bi.GoVersion)
}

// versionHelp is the long help of `newVersionCmd`.
const versionHelp = `pinset version prints the module version and the VCS revision the binary was
built from, as recorded by the Go toolchain (the same as 'pinset --version').

Examples:
  pinset version
  go version -m $(command -v pinset)    # every module the binary holds`

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of pinset: module version, VCS revision, Go version",
		Long:  versionHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), versionString())
			return nil
		},
	}
}
