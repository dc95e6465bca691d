package policy

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/publicsuffix"
)

var update = flag.Bool("update", false, "regenerate psl_below.go from the golang.org/x/net in go.mod")

// TestPSLBelowTable holds psl_below.go to the Public Suffix List compiled
// into golang.org/x/net/publicsuffix: the same list version, and the table
// derived again from that version's rules (its table_test.go in the module
// cache, the list as its generator read it) is byte for byte the file.
// Every entry is also checked against the compiled lookups. After updating
// golang.org/x/net, run: go test ./policy -run TestPSLBelowTable -update
func TestPSLBelowTable(t *testing.T) {
	want := publicsuffix.List.String()
	if pslBelowVersion != want && !*update {
		t.Errorf("psl_below.go is derived from %q but golang.org/x/net/publicsuffix has %q: run go test ./policy -run TestPSLBelowTable -update", pslBelowVersion, want)
	}
	rules := xnetRules(t)
	for _, r := range rules {
		if strings.Contains(r, suffixProbe) {
			t.Fatalf("rule %q holds the probe label %q: choose another", r, suffixProbe)
		}
	}
	src := renderPSLBelow(t, want, derivePSLBelow(rules))
	if *update {
		if err := os.WriteFile("psl_below.go", src, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote psl_below.go: %d names, from %s", len(derivePSLBelow(rules)), want)
		return
	}
	have, err := os.ReadFile("psl_below.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, src) {
		t.Errorf("psl_below.go differs from the table derived from golang.org/x/net's rules: run go test ./policy -run TestPSLBelowTable -update")
	}
	// Each entry against the compiled list: the rule is strictly below the
	// name and is a public suffix there.
	for i, e := range pslBelow {
		name, rule := e[0], e[1]
		if i > 0 && pslBelow[i-1][0] >= name {
			t.Fatalf("pslBelow not sorted at %q", name)
		}
		probe := rule
		if rest, ok := strings.CutPrefix(rule, "*."); ok {
			probe = suffixProbe + "." + rest
		}
		if !strings.HasSuffix(probe, "."+name) {
			t.Errorf("%q: rule %q is not below it", name, rule)
		}
		if ps, _ := publicsuffix.PublicSuffix(probe); ps != probe {
			t.Errorf("%q: rule %q: the compiled list gives public suffix %q for %q", name, rule, ps, probe)
		}
	}
	// Soundness from the other side: for every rule of the list, a
	// **. pattern on any name above what it makes a public suffix is
	// refused.
	two := []string{}
	for _, r := range rules {
		if strings.HasPrefix(r, "!") {
			continue
		}
		r = strings.TrimPrefix(r, "*.")
		for rest := r; ; {
			_, after, more := strings.Cut(rest, ".")
			if !more {
				break
			}
			rest = after
			if _, err := ParsePattern("**."+rest, false); err == nil {
				t.Errorf("**.%s accepted, although the list has rule %q below it", rest, r)
			}
			two = append(two, rest)
		}
	}
	if len(rules) < 5000 || len(two) == 0 {
		t.Fatalf("only %d rules read", len(rules))
	}
}

// xnetRules reads the rules of the Public Suffix List from the module
// cache's golang.org/x/net/publicsuffix/table_test.go (the list as x/net's
// generator read it, IDNs as A-labels, in list order).
func xnetRules(t *testing.T) []string {
	t.Helper()
	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goCmd); err != nil {
		goCmd = "go"
	}
	out, err := exec.Command(goCmd, "list", "-m", "-f", "{{.Dir}}", "golang.org/x/net").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("go list -m golang.org/x/net: %v", err)
		}
		t.Skipf("cannot locate golang.org/x/net in the module cache (go list -m: %v); the table is not checked against the list's rules", err)
	}
	file := filepath.Join(dir, "publicsuffix", "table_test.go")
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatalf("reading the list's rules: %v", err)
	}
	var rules []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.VAR {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if len(vs.Names) != 1 || vs.Names[0].Name != "rules" || len(vs.Values) != 1 {
				continue
			}
			lit, ok := vs.Values[0].(*ast.CompositeLit)
			if !ok {
				t.Fatalf("%s: rules is not a composite literal", file)
			}
			for _, el := range lit.Elts {
				bl, ok := el.(*ast.BasicLit)
				if !ok || bl.Kind != token.STRING {
					t.Fatalf("%s: a rule is not a string literal", file)
				}
				r, err := strconv.Unquote(bl.Value)
				if err != nil {
					t.Fatal(err)
				}
				rules = append(rules, r)
			}
		}
	}
	if len(rules) == 0 {
		t.Fatalf("%s: no rules found", file)
	}
	return rules
}

// derivePSLBelow maps each name with a rule strictly below it (a normal rule
// R makes R a public suffix; a wildcard rule *.X makes every name one label
// below X one; exception rules make none) to the shortest such rule, ties
// broken by byte order.
func derivePSLBelow(rules []string) map[string]string {
	below := map[string]string{}
	for _, r := range rules {
		if strings.HasPrefix(r, "!") {
			continue
		}
		// The names strictly above what r makes a public suffix: for
		// "a.b.c" they are "b.c" and "c"; for "*.b.c", "b.c" and "c".
		rest := strings.TrimPrefix(r, "*.")
		if rest == r {
			_, rest, _ = strings.Cut(r, ".")
		}
		for rest != "" {
			if old, ok := below[rest]; !ok || len(r) < len(old) || len(r) == len(old) && r < old {
				below[rest] = r
			}
			_, rest, _ = strings.Cut(rest, ".")
		}
	}
	return below
}

func renderPSLBelow(t *testing.T, version string, below map[string]string) []byte {
	t.Helper()
	names := make([]string, 0, len(below))
	for n := range below {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by \"go test ./policy -run TestPSLBelowTable -update\"; DO NOT EDIT.\n\n")
	fmt.Fprintf(&b, "package policy\n\n")
	fmt.Fprintf(&b, "// pslBelowVersion is the Public Suffix List pslBelow is derived from; it\n")
	fmt.Fprintf(&b, "// equals the version compiled into golang.org/x/net/publicsuffix.\n")
	fmt.Fprintf(&b, "const pslBelowVersion = %q\n\n", version)
	fmt.Fprintf(&b, "// pslBelow holds, sorted by name, every name that has a rule of the list\n")
	fmt.Fprintf(&b, "// strictly below it (ICANN and private sections), with the shortest such\n")
	fmt.Fprintf(&b, "// rule: %d names.\n", len(names))
	fmt.Fprintf(&b, "var pslBelow = [...][2]string{\n")
	for _, n := range names {
		fmt.Fprintf(&b, "\t{%q, %q},\n", n, below[n])
	}
	fmt.Fprintf(&b, "}\n")
	src, err := format.Source(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return src
}
