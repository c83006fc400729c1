package config

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// SettingDoc describes one setting for the configuration reference: the
// same definitions the flags are registered from, so the documentation
// cannot drift from the code.
type SettingDoc struct {
	Flag    string // --name
	Env     string // PALISADE_NAME
	FileKey string // name in the YAML file
	Default string
	Usage   string
	Secret  bool   // also read from Env + "_FILE"; never printed
	Used    string // which commands read it
}

// groupUse says, for the reference, which commands read a group's settings.
func groupUse(g Group) string {
	switch g {
	case GroupStore:
		return "every command that opens the data (serve, migrate, workspace, user, apikey, audit, keys)"
	case GroupServe:
		return "serve"
	case GroupMigrate:
		return "migrate"
	case GroupLink:
		return "the commands that print links (workspace create, user reset-password)"
	}
	return ""
}

// sections are the groups the reference is divided by, in order; a
// setting is listed under the first of them it belongs to.
var sections = []Group{GroupStore, GroupServe, GroupMigrate, GroupLink}

// primary is the section a setting is listed in.
func primary(g Group) Group {
	for _, s := range sections {
		if g&s != 0 {
			return s
		}
	}
	return 0
}

// alsoUsedBy names the commands beyond its section's that read a setting.
func alsoUsedBy(g Group) string {
	var more []string
	for _, s := range sections {
		if g&s != 0 && s != primary(g) {
			more = append(more, groupUse(s))
		}
	}
	if len(more) == 0 {
		return ""
	}
	return " (also read by " + strings.Join(more, " and ") + ")"
}

// Reference lists every setting in definition order.
func Reference() []SettingDoc {
	var out []SettingDoc
	for _, s := range settings() {
		out = append(out, SettingDoc{
			Flag: "--" + s.name, Env: s.env(), FileKey: s.fileKey(), Default: s.def,
			Usage: s.usage, Secret: s.secret, Used: groupUse(primary(s.group)) + alsoUsedBy(s.group),
		})
	}
	return out
}

// WriteMarkdown writes the configuration reference (docs/configuration.md).
func WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# Configuration reference\n\n")
	b.WriteString("<!-- Generated from the setting definitions in internal/config; a test keeps it equal to them.\n")
	b.WriteString("     Regenerate with: go test ./internal/config -run TestGeneratedFiles -update -->\n\n")
	b.WriteString("Every setting can be given, in rising precedence, as a key of the YAML file named by `--config`\n")
	b.WriteString("(or `PALISADE_CONFIG`), as an environment variable, or as a flag. A secret also accepts a\n")
	b.WriteString("`*_FILE` variable naming a file that holds it; give secrets that way, never as flags.\n")
	b.WriteString("Invalid settings stop the command with one message naming each of them.\n")
	b.WriteString("[`palisade.example.yaml`](../palisade.example.yaml) lists every key with its default.\n\n")
	for _, g := range sections {
		if !anyIn(g) {
			continue
		}
		fmt.Fprintf(&b, "## Read by %s\n\n", groupUse(g))
		b.WriteString("| flag | environment | file key | default | meaning |\n|---|---|---|---|---|\n")
		for _, s := range settings() {
			if primary(s.group) != g {
				continue
			}
			env := "`" + s.env() + "`"
			if s.secret {
				env += "<br>`" + s.env() + "_FILE`"
			}
			def := "–"
			if s.def != "" {
				def = "`" + s.def + "`"
			}
			usage := s.usage + alsoUsedBy(s.group)
			if s.secret {
				usage += " (secret)"
			}
			fmt.Fprintf(&b, "| `--%s` | %s | `%s` | %s | %s |\n", s.name, env, s.fileKey(), def, mdCell(usage))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mdCell keeps a usage text inside one Markdown table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s)
}

// WriteExample writes palisade.example.yaml: every setting with its
// meaning and default. Secrets are listed commented out, because a secret
// belongs in a *_FILE variable rather than in a file that gets copied
// around; everything else is set to its default, so the file loads as is.
func WriteExample(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# Palisade configuration: every setting with its default.\n")
	b.WriteString("# Generated from the setting definitions in internal/config; a test keeps it equal to them.\n")
	b.WriteString("# Use it with `palisade serve --config palisade.yaml` (or PALISADE_CONFIG). Environment\n")
	b.WriteString("# variables override this file and flags override both. Secrets are commented out: give them\n")
	b.WriteString("# through their *_FILE variables instead (e.g. PALISADE_DATABASE_URL_FILE=/run/secrets/db).\n")
	for _, g := range sections {
		if !anyIn(g) {
			continue
		}
		fmt.Fprintf(&b, "\n# ---- read by %s ----\n", groupUse(g))
		for _, s := range settings() {
			if primary(s.group) != g {
				continue
			}
			b.WriteString("\n")
			for _, line := range wrap(s.usage+alsoUsedBy(s.group), 96) {
				b.WriteString("# " + line + "\n")
			}
			fmt.Fprintf(&b, "# env %s", s.env())
			if s.secret {
				fmt.Fprintf(&b, " or %s_FILE (secret)\n", s.env())
				fmt.Fprintf(&b, "# %s: %s\n", s.fileKey(), yamlScalar(s.def))
				continue
			}
			b.WriteString("\n")
			fmt.Fprintf(&b, "%s: %s\n", s.fileKey(), yamlScalar(s.def))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// yamlScalar quotes a default as a YAML string, except the booleans, which
// stay plain so the file reads naturally. JSON string syntax is valid YAML.
func yamlScalar(v string) string {
	if v == "true" || v == "false" {
		return v
	}
	q, _ := json.Marshal(v)
	return string(q)
}

// wrap splits text into lines of at most width runes, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len([]rune(line))+1+len([]rune(word)) > width {
			lines = append(lines, line)
			line = word
			continue
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// anyIn reports whether a section lists any setting.
func anyIn(g Group) bool {
	for _, s := range settings() {
		if primary(s.group) == g {
			return true
		}
	}
	return false
}
