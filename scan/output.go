package scan

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteText writes the report for people: a header, then one block per
// finding, highest severity first.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s, %s)\n", r.File, r.Platform, r.Format)
	var facts []string
	a := r.App
	if a.ID != "" {
		facts = append(facts, a.ID)
	}
	if r.Platform == "android" {
		if a.MinSDK > 0 || a.TargetSDK > 0 {
			facts = append(facts, fmt.Sprintf("minSdk %d, targetSdk %d", a.MinSDK, a.TargetSDK))
		}
		if a.Debuggable {
			facts = append(facts, "debuggable")
		}
		if a.NSC != "" {
			facts = append(facts, "network security config "+a.NSC)
		}
	} else {
		if a.MinimumOS != "" {
			facts = append(facts, "iOS "+a.MinimumOS+"+")
		}
		if a.Plist != "" {
			facts = append(facts, a.Plist+" Info.plist")
		}
		if a.Encrypted {
			facts = append(facts, "encrypted executable")
		}
	}
	if len(facts) > 0 {
		fmt.Fprintf(&b, "  %s\n", strings.Join(facts, "; "))
	}
	if len(r.Pins) > 0 {
		fmt.Fprintf(&b, "  %d embedded pins\n", len(r.Pins))
	}
	b.WriteString("\n")
	if len(r.Findings) == 0 {
		b.WriteString("No findings.\n")
	}
	for _, f := range r.Findings {
		ids := f.MASVS
		if f.MASTG != "" {
			ids += ", " + f.MASTG
		}
		fmt.Fprintf(&b, "%-6s %s  %s\n", strings.ToUpper(f.Severity.String()), f.RuleID, f.Title)
		fmt.Fprintf(&b, "       %s\n", f.Message)
		fmt.Fprintf(&b, "       at:  %s\n", f.Location)
		fmt.Fprintf(&b, "       fix: %s\n", f.Fix)
		fmt.Fprintf(&b, "       (%s)\n", ids)
	}
	if len(r.Findings) > 0 {
		c := r.Count()
		fmt.Fprintf(&b, "\n%d findings: %d high, %d medium, %d low, %d info\n", len(r.Findings), c[High], c[Medium], c[Low], c[Info])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as indented JSON (the Report struct's
// fields; severities as "high", "medium", "low", "info").
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// SARIF 2.1.0, the subset CI systems read: one run, the rules as
// reportingDescriptors, one result per finding.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name  string      `json:"name"`
	Rules []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string          `json:"id"`
	Name                 string          `json:"name"`
	ShortDescription     sarifText       `json:"shortDescription"`
	Help                 sarifText       `json:"help"`
	DefaultConfiguration sarifConfig     `json:"defaultConfiguration"`
	Properties           sarifProperties `json:"properties"`
}

type sarifConfig struct {
	Level string `json:"level"`
}

type sarifProperties struct {
	Tags             []string `json:"tags"`
	SecuritySeverity string   `json:"security-severity"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	RuleIndex int             `json:"ruleIndex"`
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical  `json:"physicalLocation"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

// level maps a severity to a SARIF level.
func level(s Severity) string {
	switch s {
	case High:
		return "error"
	case Medium:
		return "warning"
	}
	return "note"
}

// securitySeverity is the CVSS-like score GitHub code scanning sorts by.
func securitySeverity(s Severity) string {
	switch s {
	case High:
		return "8.0"
	case Medium:
		return "5.0"
	case Low:
		return "3.0"
	}
	return "0.0"
}

// WriteSARIF writes reports as one SARIF 2.1.0 log. The artifact is the
// scanned file; the entry and element inside it are a logical location, and
// the result message names them too.
func WriteSARIF(w io.Writer, reports ...*Report) error {
	driver := sarifDriver{Name: "pinset scan"}
	index := map[string]int{}
	for i, r := range Rules {
		index[r.ID] = i
		tags := []string{"security", r.MASVS}
		if r.MASTG != "" {
			tags = append(tags, r.MASTG)
		}
		if r.Platform != "" {
			tags = append(tags, r.Platform)
		}
		driver.Rules = append(driver.Rules, sarifRule{
			ID: r.ID, Name: r.ID, ShortDescription: sarifText{r.Title}, Help: sarifText{r.Fix},
			DefaultConfiguration: sarifConfig{Level: level(r.Severity)},
			Properties:           sarifProperties{Tags: tags, SecuritySeverity: securitySeverity(r.Severity)},
		})
	}
	run := sarifRun{Tool: sarifTool{Driver: driver}, Results: []sarifResult{}}
	for _, rep := range reports {
		for _, f := range rep.Findings {
			loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: uri(f.Location.File)}}}
			inner := strings.Trim(f.Location.Entry+"/"+f.Location.Element, "/")
			msg := f.Message
			if inner != "" {
				loc.LogicalLocations = []sarifLogical{{FullyQualifiedName: inner, Kind: "element"}}
				msg += " [" + strings.TrimPrefix(f.Location.String(), f.Location.File+": ") + "]"
			}
			msg += " Fix: " + f.Fix
			run.Results = append(run.Results, sarifResult{
				RuleID: f.RuleID, RuleIndex: index[f.RuleID], Level: level(f.Severity),
				Message: sarifText{msg}, Locations: []sarifLocation{loc},
			})
		}
	}
	log := sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{run}}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}

// uri turns a path into a relative URI reference (forward slashes,
// escaped spaces).
func uri(p string) string {
	p = strings.ReplaceAll(p, "\\", "/")
	return strings.ReplaceAll(strings.ReplaceAll(p, "%", "%25"), " ", "%20")
}
