package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// maxHelpWidth is the widest line any --help may print.
const maxHelpWidth = 100

// helpCommands returns every command of pinset except cobra's own
// (help, completion).
func helpCommands(c *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, sub := range c.Commands() {
		if sub.Name() == "help" || sub.Name() == "completion" {
			continue
		}
		out = append(out, sub)
		out = append(out, helpCommands(sub)...)
	}
	return out
}

// helpOwnedElsewhere lists help texts that still break the rules and the
// change that fixes each, in files being changed by others at the time of
// writing. The test reports them, and fails once one is fixed so that the
// entry is removed.
var helpOwnedElsewhere = map[string]string{}

// TestHelpText walks every command's --help: each line fits 100 columns,
// no raw Markdown backticks reach the terminal, and every command shows
// examples.
func TestHelpText(t *testing.T) {
	cmds := helpCommands(newRootCmd())
	if len(cmds) < 15 {
		t.Fatalf("only %d commands found", len(cmds))
	}
	for _, c := range cmds {
		path := strings.Fields(c.CommandPath())[1:]
		code, out, errs := runCLI(t, append(path, "--help")...)
		name := strings.Join(path, " ")
		if code != 0 {
			t.Errorf("%s --help: exit %d: %s", name, code, errs)
			continue
		}
		var problems []string
		for i, line := range strings.Split(out, "\n") {
			if n := len([]rune(line)); n > maxHelpWidth {
				problems = append(problems, fmt.Sprintf("line %d is %d columns: %q", i+1, n, line))
			}
		}
		if strings.Contains(out, "`") {
			problems = append(problems, "a raw backtick")
		}
		if !strings.Contains(out, "Examples:\n") && !strings.Contains(out, "Example:\n") {
			problems = append(problems, "no examples")
		}
		known, isKnown := helpOwnedElsewhere[name]
		switch {
		case isKnown && len(problems) == 0:
			t.Errorf("%s --help is fixed: remove it from helpOwnedElsewhere", name)
		case isKnown:
			t.Logf("%s --help, known (%s): %s", name, known, strings.Join(problems, "; "))
		default:
			for _, p := range problems {
				t.Errorf("%s --help: %s", name, p)
			}
		}
	}
}
