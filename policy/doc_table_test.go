package policy

import (
	"bufio"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pinset.dev/pinset/pin"
)

// docRow is one row of the examples table in docs/pins.md.
type docRow struct {
	line     int
	patterns []string
	include  []bool
	host     string
	expected string
}

// readDocTable parses the table under "## Examples" in docs/pins.md.
func readDocTable(t *testing.T) []docRow {
	t.Helper()
	path := filepath.Join("..", "docs", "pins.md")
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the host-matching table lives in docs/pins.md: %v", err)
	}
	defer f.Close()
	var rows []docRow
	inSection, inTable := false, false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "## ") {
			inSection = strings.HasPrefix(line, "## Examples")
			continue
		}
		if !inSection || !strings.HasPrefix(line, "|") {
			inTable = inTable && line != ""
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) != 4 {
			t.Fatalf("%s:%d: want 4 cells, got %d", path, n, len(cells))
		}
		if cells[0] == "patterns" {
			inTable = true
			continue
		}
		if !inTable || strings.HasPrefix(cells[0], "---") {
			continue
		}
		r := docRow{line: n, expected: unquote(cells[3])}
		if cells[2] != "—" {
			r.host = unquote(cells[2])
		}
		for _, p := range strings.Split(unquote(cells[0]), ",") {
			r.patterns = append(r.patterns, strings.Trim(strings.TrimSpace(p), "`"))
		}
		inc := strings.Split(cells[1], ",")
		for i := range r.patterns {
			v := strings.TrimSpace(inc[0])
			if len(inc) == len(r.patterns) {
				v = strings.TrimSpace(inc[i])
			} else if len(inc) != 1 {
				t.Fatalf("%s:%d: %d include-subdomains values for %d patterns", path, n, len(inc), len(r.patterns))
			}
			switch v {
			case "yes":
				r.include = append(r.include, true)
			case "no":
				r.include = append(r.include, false)
			default:
				t.Fatalf("%s:%d: include-subdomains %q is not yes or no", path, n, v)
			}
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

func unquote(s string) string { return strings.Trim(s, "`") }

func testPin(i int) pin.Pin { return pin.Pin(sha256.Sum256([]byte{byte(i)})) }

// TestDocTable runs the examples of docs/pins.md.
func TestDocTable(t *testing.T) {
	rows := readDocTable(t)
	if len(rows) < 50 {
		t.Fatalf("only %d rows read from docs/pins.md; the parser or the table is broken", len(rows))
	}
	kinds := map[string]int{}
	for _, r := range rows {
		var pols []Policy
		for i, p := range r.patterns {
			pols = append(pols, Policy{Pattern: p, Pins: []pin.Pin{testPin(2 * i), testPin(2*i + 1)}, IncludeSubdomains: r.include[i]})
		}
		set, err := NewSet(pols)
		if want, ok := strings.CutPrefix(r.expected, "refused: "); ok {
			kinds["refused"]++
			if err == nil {
				t.Errorf("docs/pins.md:%d: %v accepted, want refusal containing %q", r.line, r.patterns, want)
			} else if !strings.Contains(err.Error(), want) {
				t.Errorf("docs/pins.md:%d: %v refused with %q, want it to contain %q", r.line, r.patterns, err, want)
			}
			continue
		}
		if err != nil {
			t.Errorf("docs/pins.md:%d: %v refused: %v", r.line, r.patterns, err)
			continue
		}
		got, ok := set.Match(r.host)
		switch {
		case r.expected == "no match":
			kinds["no match"]++
			if ok {
				t.Errorf("docs/pins.md:%d: Match(%q) = %q, want no match", r.line, r.host, got.Pattern)
			}
		case !ok:
			t.Errorf("docs/pins.md:%d: Match(%q) found nothing, want %q", r.line, r.host, r.expected)
		case got.Pattern != r.expected:
			t.Errorf("docs/pins.md:%d: Match(%q) = %q, want %q", r.line, r.host, got.Pattern, r.expected)
		default:
			kinds["match"]++
			// The winner's pins are its own.
			i := indexOf(r.patterns, r.expected)
			if got.Pins[0] != testPin(2*i) {
				t.Errorf("docs/pins.md:%d: matched policy carries the wrong pins", r.line)
			}
		}
	}
	for _, k := range []string{"match", "no match", "refused"} {
		if kinds[k] == 0 {
			t.Errorf("no %q rows ran", k)
		}
	}
}

func indexOf(xs []string, x string) int {
	for i, y := range xs {
		if y == x {
			return i
		}
	}
	return -1
}
