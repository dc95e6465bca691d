package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"pinset.dev/pinset/scan"
)

// quotedCommand finds the commands a fix text tells people to run:
// "pinset ..." in double quotes.
var quotedCommand = regexp.MustCompile(`"(pinset [^"]*)"`)

// placeholderArg is an argument a person replaces (FORMAT, FILE).
var placeholderArg = regexp.MustCompile(`^[A-Z][A-Z0-9_.]*$`)

// TestScanFixTextsNameRealCommands runs every command quoted in a scan
// finding's fix text through pinset's own command tree: the command must
// exist, its flags must parse, and an argument of a command with fixed
// choices (export FORMAT) must be one of them.
func TestScanFixTextsNameRealCommands(t *testing.T) {
	n := 0
	for _, r := range scan.Rules {
		for _, m := range quotedCommand.FindAllStringSubmatch(r.Fix, -1) {
			n++
			checkCommandLine(t, r.ID, m[1])
		}
		if strings.Contains(r.Fix, "pinset ") && !quotedCommand.MatchString(r.Fix) && !strings.Contains(r.Fix, "with pinset") {
			t.Errorf("%s: fix text names a pinset command without quoting it: %s", r.ID, r.Fix)
		}
	}
	if n < 3 {
		t.Fatalf("only %d quoted commands in the fix texts", n)
	}
}

// checkCommandLine checks that line ("pinset export android-nsc ...")
// names a real command whose flags parse.
func checkCommandLine(t *testing.T, where, line string) {
	t.Helper()
	args := strings.Fields(line)[1:]
	root := newRootCmd()
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == root {
		t.Errorf("%s: %q: no such command (%v)", where, line, err)
		return
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Errorf("%s: %q: %v", where, line, err)
		return
	}
	pos := cmd.Flags().Args()
	if len(cmd.ValidArgs) > 0 && len(pos) > 0 && !placeholderArg.MatchString(pos[0]) && !slices.Contains(cmd.ValidArgs, pos[0]) {
		t.Errorf("%s: %q: %q is not one of %v", where, line, pos[0], cmd.ValidArgs)
	}
	if cmd.Args != nil && len(pos) == 0 && cmd.Use != "" && strings.Contains(cmd.Use, " ") {
		if err := cmd.Args(cmd, pos); err != nil {
			t.Errorf("%s: %q: %v", where, line, err)
		}
	}
}
