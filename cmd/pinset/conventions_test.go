package main

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"pinset.dev/pinset/pin"
	"pinset.dev/pinset/policy"
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

// TestCompletionOfEnumeratedValues asks cobra's __complete, as the shell
// scripts of "pinset completion" do, for every flag with a fixed set of
// values and for export's FORMAT argument.
func TestCompletionOfEnumeratedValues(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"scan", "--format", ""}, []string{"text", "json", "sarif"}},
		{[]string{"scan", "--fail-on", ""}, []string{"high", "medium", "low", "info"}},
		{[]string{"serve", "--log-format", ""}, []string{"text", "json"}},
		{[]string{"serve", "--log-level", ""}, []string{"debug", "info", "warn", "error"}},
		{[]string{"export", ""}, []string{"android-nsc", "okhttp", "trustkit-ios", "ios-ats", "go"}},
		{[]string{"export", "okhttp", "--okhttp-version", ""}, []string{"3", "4"}},
		{[]string{"export", "android-nsc", "--trust-anchor", ""}, []string{"system", "user", "@raw/"}},
		{[]string{"pin", "--format", ""}, pinFormats},
		{[]string{"key", "new", "--alg", ""}, []string{"p256", "ed25519", "p384", "rsa2048", "rsa3072"}},
	} {
		code, out, stderr := runCLI(t, append([]string{"__complete"}, tc.args...)...)
		if code != 0 {
			t.Errorf("%v: exit %d: %s", tc.args, code, stderr)
			continue
		}
		var got []string
		directive := ""
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if strings.HasPrefix(line, ":") {
				directive = line
				continue
			}
			value, _, _ := strings.Cut(line, "\t")
			got = append(got, value)
		}
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("%v: completes to %q, missing %q", tc.args, got, w)
			}
		}
		// ShellCompDirectiveNoFileComp (4): no file names offered
		// instead of (or besides) the values.
		if d, err := strconv.Atoi(strings.TrimPrefix(directive, ":")); err != nil || d&int(cobra.ShellCompDirectiveNoFileComp) == 0 {
			t.Errorf("%v: directive %s, want values only (NoFileComp)", tc.args, directive)
		}
	}
}

// TestDurationFlagsTakeDays walks every command: each duration flag reads
// "21d" as 21 days, the way docs/cli.md promises ("durations take days
// everywhere").
func TestDurationFlagsTakeDays(t *testing.T) {
	n := 0
	for _, c := range helpCommands(newRootCmd()) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Value.Type() != "duration" {
				return
			}
			n++
			if err := f.Value.Set("21d"); err != nil {
				t.Errorf("%s --%s 21d: %v", c.CommandPath(), f.Name, err)
				return
			}
			if d, err := c.Flags().GetDuration(f.Name); err != nil || d != 21*24*time.Hour {
				t.Errorf("%s --%s 21d: read as %v, %v", c.CommandPath(), f.Name, d, err)
			}
		})
	}
	if n < 6 {
		t.Fatalf("only %d duration flags found", n)
	}
}

// exampleSpec finds host policies in examples: --host or --pin followed
// by a quoted HOST=PINS argument.
var exampleSpec = regexp.MustCompile(`--(?:host|pin) (['"])([^'"]*=[^'"]*)['"]`)

// shellVar finds $NAME in a double-quoted example argument.
var shellVar = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)

// TestExamplePinsAreReal reads the README, docs/*.md and every --help:
// an example policy either spells real pins, or takes them from shell
// variables that the same text sets from "pinset pin"; a placeholder
// (LIVE_PIN, PIN1, sha256/AAAA...=) copied by a reader only fails.
func TestExamplePinsAreReal(t *testing.T) {
	texts := map[string]string{}
	files, _ := filepath.Glob("../../docs/*.md")
	for _, f := range append(files, "../../README.md") {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts[f] = string(b)
	}
	for _, c := range helpCommands(newRootCmd()) {
		texts[c.CommandPath()+" --help"] = c.Long
	}
	n := 0
	for where, text := range texts {
		for _, m := range exampleSpec.FindAllStringSubmatch(text, -1) {
			quote, spec := m[1], m[2]
			if strings.ContainsAny(spec, "[]") {
				continue // the syntax (PATTERN=PIN,PIN[;report-only]), not an example
			}
			n++
			if quote == `"` && shellVar.MatchString(spec) {
				for _, v := range shellVar.FindAllStringSubmatch(spec, -1) {
					if !regexp.MustCompile(`\b` + v[1] + `=\$\(pinset pin `).MatchString(text) {
						t.Errorf("%s: %s: $%s is not set from pinset pin", where, spec, v[1])
					}
				}
				continue
			}
			if _, err := policy.ParseSpec(spec); err != nil && errors.Is(err, pin.ErrPlaceholder) {
				t.Errorf("%s: example %q: %v", where, spec, err)
			}
		}
	}
	if n < 5 {
		t.Fatalf("only %d example policies found", n)
	}
}

// TestCAFileAddsToSystemRoots: every --cafile is read by loadCAs, which
// adds to the system roots; each help says so, none says "instead".
func TestCAFileAddsToSystemRoots(t *testing.T) {
	n := 0
	for _, c := range helpCommands(newRootCmd()) {
		if f := c.Flags().Lookup("cafile"); f != nil {
			n++
			if !strings.Contains(f.Usage, "system roots") || strings.Contains(f.Usage, "instead") {
				t.Errorf("%s --cafile: %q does not say it adds to the system roots", c.CommandPath(), f.Usage)
			}
		}
	}
	if n < 5 {
		t.Fatalf("only %d --cafile flags found", n)
	}
}
