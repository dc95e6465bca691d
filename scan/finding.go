package scan

import (
	"fmt"
	"strings"
)

// Severity orders findings; pipelines fail on a threshold (--fail-on).
type Severity int

// Severities, lowest first.
const (
	Info Severity = iota
	Low
	Medium
	High
)

func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Low:
		return "low"
	case Medium:
		return "medium"
	case High:
		return "high"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// SeverityNames are the spellings ParseSeverity reads, highest first.
func SeverityNames() []string {
	var names []string
	for v := High; v >= Info; v-- {
		names = append(names, v.String())
	}
	return names
}

// ParseSeverity reads "info", "low", "medium" or "high".
func ParseSeverity(s string) (Severity, error) {
	for v := Info; v <= High; v++ {
		if strings.EqualFold(s, v.String()) {
			return v, nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want high, medium, low or info)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

// Location says where a finding is: the artifact, the entry inside it, and
// the element or key inside the entry.
type Location struct {
	File    string `json:"file"`
	Entry   string `json:"entry,omitempty"`
	Element string `json:"element,omitempty"`
}

func (l Location) String() string {
	parts := []string{l.File}
	if l.Entry != "" {
		parts = append(parts, l.Entry)
	}
	if l.Element != "" {
		parts = append(parts, l.Element)
	}
	return strings.Join(parts, ": ")
}

// Finding is one problem found in an app.
type Finding struct {
	RuleID   string   `json:"id"`
	Severity Severity `json:"severity"`
	MASVS    string   `json:"masvs"`
	MASTG    string   `json:"mastg,omitempty"`
	Title    string   `json:"title"`
	Message  string   `json:"message"`
	Location Location `json:"location"`
	Fix      string   `json:"fix"`
}

// newFinding fills a finding from its rule; sev < 0 keeps the rule's
// severity.
func newFinding(id string, sev Severity, loc Location, format string, args ...any) Finding {
	r, ok := RuleByID(id)
	if !ok {
		// Every id used in this package is checked against Rules by
		// TestFindingIDsAreRules; keep going rather than panic.
		r = Rule{ID: id, Title: id, Severity: Info}
	}
	if sev < 0 {
		sev = r.Severity
	}
	return Finding{RuleID: id, Severity: sev, MASVS: r.MASVS, MASTG: r.MASTG, Title: r.Title,
		Message: fmt.Sprintf(format, args...), Location: loc, Fix: r.Fix}
}

// keep is the "rule's own severity" argument of newFinding.
const keep Severity = -1
