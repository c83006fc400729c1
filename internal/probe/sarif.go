package probe

import (
	"encoding/json"
	"fmt"
	"io"
)

// SARIF 2.1.0, the subset code-scanning tools read: the tool with one rule
// per check, and one result per failed check.
const (
	sarifVersion = "2.1.0"
	sarifSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	// ToolName names the probe in SARIF output.
	ToolName = "palisade-probe"
)

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
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifText      `json:"shortDescription"`
	HelpURI              string         `json:"helpUri,omitempty"`
	DefaultConfiguration sarifLevel     `json:"defaultConfiguration"`
	Properties           sarifRuleProps `json:"properties"`
}

type sarifLevel struct {
	Level string `json:"level"`
}

type sarifRuleProps struct {
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
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

// RuleID is a check's stable identifier in machine-readable output.
func RuleID(category, name string) string { return category + "/" + name }

// sarifLevelOf maps a severity to a SARIF level: what a code-scanning tool
// shows as an error, a warning or a note.
func sarifLevelOf(s Severity) string {
	switch s {
	case Critical, High:
		return "error"
	case Medium:
		return "warning"
	}
	return "note"
}

// securitySeverity is the CVSS-like score GitHub code scanning reads from a
// rule's properties to rank security results.
func securitySeverity(s Severity) string {
	switch s {
	case Critical:
		return "9.5"
	case High:
		return "8.0"
	case Medium:
		return "5.5"
	case Low:
		return "3.0"
	}
	return "0.0"
}

func helpURI(ref string) string {
	if n, ok := cutCWE(ref); ok {
		return "https://cwe.mitre.org/data/definitions/" + n + ".html"
	}
	return "https://owasp.org/www-project-application-security-verification-standard/"
}

func cutCWE(ref string) (string, bool) {
	if len(ref) > 4 && ref[:4] == "CWE-" {
		return ref[4:], true
	}
	return "", false
}

// WriteSARIF writes the report as a SARIF 2.1.0 log: a rule for every
// check in checks and a result for every failed one, at its target URL.
func WriteSARIF(w io.Writer, rep *Report, checks []Check) error {
	index := map[string]int{}
	rules := make([]sarifRule, 0, len(checks))
	for _, c := range checks {
		id := RuleID(c.Category, c.Name)
		index[id] = len(rules)
		rules = append(rules, sarifRule{
			ID: id, Name: c.Name, ShortDescription: sarifText{Text: c.Description}, HelpURI: helpURI(c.Reference),
			DefaultConfiguration: sarifLevel{Level: sarifLevelOf(c.Severity)},
			Properties:           sarifRuleProps{Tags: []string{"security", c.Category, c.Reference}, SecuritySeverity: securitySeverity(c.Severity)},
		})
	}
	results := []sarifResult{}
	for _, r := range rep.Results {
		if r.Status != Fail {
			continue
		}
		id := RuleID(r.Category, r.Name)
		i, ok := index[id]
		if !ok {
			return fmt.Errorf("writing SARIF: the result %s has no rule", id)
		}
		results = append(results, sarifResult{
			RuleID: id, RuleIndex: i, Level: sarifLevelOf(r.Severity),
			Message:   sarifText{Text: fmt.Sprintf("%s: %s", checks[i].Description, oneLine(r.Evidence))},
			Locations: []sarifLocation{{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: rep.Target}}}},
		})
	}
	log := sarifLog{Schema: sarifSchema, Version: sarifVersion, Runs: []sarifRun{{
		Tool:    sarifTool{Driver: sarifDriver{Name: ToolName, InformationURI: "https://github.com/palisadehq/palisade", Rules: rules}},
		Results: results,
	}}}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(log); err != nil {
		return fmt.Errorf("writing SARIF: %w", err)
	}
	return nil
}
