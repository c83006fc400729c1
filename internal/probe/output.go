package probe

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes the report as one indented JSON document.
func WriteJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("writing the probe report: %w", err)
	}
	return nil
}

// WriteTable writes the report as an aligned table, one check a line, and
// a summary line.
func WriteTable(w io.Writer, rep *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CATEGORY\tCHECK\tRESULT\tEVIDENCE")
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Category, r.Name, r.Status, oneLine(r.Evidence))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing the probe report: %w", err)
	}
	_, err := fmt.Fprintf(w, "\n%s: %d checks, %d passed, %d failed, %d skipped, %d requests\n",
		rep.Target, len(rep.Results), rep.Passed, rep.Failed, rep.Skipped, rep.Requests)
	if err != nil {
		return fmt.Errorf("writing the probe report: %w", err)
	}
	return nil
}

// oneLine keeps evidence (which may quote a hostile server) on one line of
// printable text, at a readable length.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}
