package pii_test

import (
	"bufio"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/pii"
)

// Thresholds the labelled table must meet. Names come only from cues and
// are reported against a lower bar.
const (
	minPrecision     = 0.95
	minRecall        = 0.95
	minNamePrecision = 0.80
	minNameRecall    = 0.80
)

type example struct {
	line int
	text string
	want map[string]bool // "KIND:value"
}

func loadExamples(t *testing.T) []example {
	t.Helper()
	f, err := os.Open("testdata/examples.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []example
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		text, labels, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("line %d: no tab", n)
		}
		ex := example{line: n, text: strings.ReplaceAll(text, `\n`, "\n"), want: map[string]bool{}}
		for _, l := range strings.Split(labels, ";") {
			if l != "" {
				ex.want[l] = true
			}
		}
		out = append(out, ex)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLabelledExamples(t *testing.T) {
	t.Parallel()
	exs := loadExamples(t)
	if len(exs) < 200 {
		t.Fatalf("only %d labelled examples", len(exs))
	}
	type counts struct{ tp, fp, fn int }
	per := map[pii.Kind]*counts{}
	for _, k := range pii.Kinds() {
		per[k] = &counts{}
	}
	for _, ex := range exs {
		got := map[string]bool{}
		for _, m := range pii.Detect(ex.text) {
			got[string(m.Kind)+":"+m.Value] = true
		}
		for l := range ex.want {
			k := pii.Kind(l[:strings.IndexByte(l, ':')])
			if got[l] {
				per[k].tp++
			} else {
				per[k].fn++
				t.Logf("line %d: missed %s in %q", ex.line, l, ex.text)
			}
		}
		for l := range got {
			if !ex.want[l] {
				per[pii.Kind(l[:strings.IndexByte(l, ':')])].fp++
				t.Logf("line %d: false %s in %q", ex.line, l, ex.text)
			}
		}
	}
	t.Logf("%-6s %4s %4s %4s %9s %7s", "kind", "tp", "fp", "fn", "precision", "recall")
	kinds := pii.Kinds()
	sort.SliceStable(kinds, func(i, j int) bool { return kinds[i] < kinds[j] })
	for _, k := range kinds {
		c := per[k]
		p, r := ratio(c.tp, c.tp+c.fp), ratio(c.tp, c.tp+c.fn)
		t.Logf("%-6s %4d %4d %4d %9.3f %7.3f", k, c.tp, c.fp, c.fn, p, r)
		minP, minR := minPrecision, minRecall
		if k == pii.Name {
			minP, minR = minNamePrecision, minNameRecall
		}
		if c.tp == 0 {
			t.Errorf("%s: no true example found", k)
		}
		if p < minP || r < minR {
			t.Errorf("%s: precision %.3f (min %.2f), recall %.3f (min %.2f)", k, p, minP, r, minR)
		}
	}
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

func TestRedactorStablePlaceholders(t *testing.T) {
	t.Parallel()
	r := pii.NewRedactor()
	a := r.Redact("Mail alice@example.com or bob@example.com, card 4111 1111 1111 1111")
	if a != "Mail [EMAIL_1] or [EMAIL_2], card [CARD_1]" {
		t.Fatalf("first = %q", a)
	}
	// The same values, formatted differently, keep their placeholders.
	b := r.Redact("ALICE@example.com again, card 4111-1111-1111-1111, and carol@example.com")
	if b != "[EMAIL_1] again, card [CARD_1], and [EMAIL_3]" {
		t.Fatalf("second = %q", b)
	}
	// Seeding from earlier redacted text numbers new values after it.
	s := pii.NewRedactor()
	s.Seed("earlier: [EMAIL_4] and [PHONE_2]")
	if got := s.Redact("dave@example.com +44 20 7946 0958"); got != "[EMAIL_5] [PHONE_3]" {
		t.Fatalf("seeded = %q", got)
	}
}

func TestOverlapsResolveDeterministically(t *testing.T) {
	t.Parallel()
	// A card number inside a longer IBAN-shaped text, and an e-mail whose
	// local part holds a phone number: the longest candidate wins.
	for text, want := range map[string]string{
		"mail 4155552671@example.com":              "mail [EMAIL_1]",
		"IBAN DE89 3704 0044 0532 0130 00 is mine": "IBAN [IBAN_1] is mine",
		"Hi, I'm Dr. Smith":                        "Hi, I'm Dr. [NAME_1]",
	} {
		if got := pii.Redact(text); got != want {
			t.Errorf("Redact(%q) = %q, want %q", text, got, want)
		}
	}
}

func FuzzRedact(f *testing.F) {
	for _, s := range []string{"alice@example.com +1 415 555 2671", "4111 1111 1111 1111", "DE89370400440532013000",
		"123-45-6789 192.168.1.1 ::1", "My name is Alice\nRegards,\nBob", "1.2.3.4.5 2024-01-15"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ms := pii.Detect(text)
		out := pii.NewRedactor().Redact(text)
		for _, m := range ms {
			if text[m.Start:m.End] != m.Value {
				t.Fatalf("match %+v does not point at its value", m)
			}
			if strings.Contains(out, m.Value) {
				t.Fatalf("redacted %q still holds %s %q", out, m.Kind, m.Value)
			}
		}
	})
}
