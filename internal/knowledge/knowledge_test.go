package knowledge_test

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/knowledge"
)

func words(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\n' || r == '…' })
}

func TestChunk(t *testing.T) {
	t.Parallel()
	para := func(word string, n int) string { return strings.TrimSpace(strings.Repeat(word+" ", n)) }
	long := strings.Repeat("This sentence is about shipping times. ", 100)
	tests := []struct {
		name          string
		text          string
		size, overlap int
		wantChunks    int // 0: don't check
	}{
		{"empty", "", 100, 10, 0},
		{"one short paragraph", "Hello world.", 100, 10, 1},
		{"paragraphs packed together", para("a", 10) + "\n\n" + para("b", 10) + "\n\n" + para("c", 10), 100, 10, 1},
		{"paragraphs split across chunks", para("alpha", 15) + "\n\n" + para("beta", 15) + "\n\n" + para("gamma", 15), 120, 20, 3},
		{"one long paragraph", long, 300, 40, 0},
		{"a word longer than a chunk", strings.Repeat("x", 1000), 200, 20, 0},
		{"unicode", strings.Repeat("日本語のテキスト。", 200), 150, 20, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			chunks := knowledge.Chunk(tc.text, tc.size, tc.overlap)
			if tc.text == "" {
				if len(chunks) != 0 {
					t.Fatalf("empty text gave %d chunks", len(chunks))
				}
				return
			}
			if tc.wantChunks > 0 && len(chunks) != tc.wantChunks {
				t.Fatalf("%d chunks, want %d: %q", len(chunks), tc.wantChunks, chunks)
			}
			var all strings.Builder
			for i, c := range chunks {
				if n := utf8.RuneCountInString(c); n > tc.size || n == 0 {
					t.Fatalf("chunk %d has %d characters, bound %d", i, n, tc.size)
				}
				all.WriteString(c + "\n")
			}
			// Nothing is lost: every word of the text is in some chunk
			// (words cut inside are checked by characters instead).
			joined := all.String()
			for _, w := range words(tc.text) {
				if !strings.Contains(joined, w) && utf8.RuneCountInString(w) < tc.size/2 {
					t.Fatalf("word %q lost", w)
				}
			}
			if strings.Count(strings.ReplaceAll(joined, "\n", ""), "x") < strings.Count(tc.text, "x") {
				t.Fatal("characters lost")
			}
		})
	}
}

func TestChunkOverlap(t *testing.T) {
	t.Parallel()
	text := "First paragraph talks about refunds and their deadlines in detail.\n\n" +
		"Second paragraph covers shipping to every country we serve today."
	chunks := knowledge.Chunk(text, 100, 30)
	if len(chunks) != 2 {
		t.Fatalf("chunks = %q", chunks)
	}
	if !strings.HasPrefix(chunks[1], "…") || !strings.Contains(chunks[1], "deadlines in detail.") {
		t.Fatalf("second chunk does not carry the end of the first: %q", chunks[1])
	}
	if !strings.HasPrefix(chunks[0], "First paragraph") || strings.Contains(chunks[0], "Second") {
		t.Fatalf("paragraph boundary not kept: %q", chunks[0])
	}
}

func TestTerms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"How do I get a REFUND?", []string{"get", "refund"}},
		{`"refund*" OR NEAR(x) body:ship -- '; DROP`, []string{"refund", "near", "body", "ship", "drop"}},
		{"the the the", nil},
		{"Café über naïve 2024 a b", []string{"café", "über", "naïve", "2024"}},
		{"refund refund Refund", []string{"refund"}},
	}
	for _, tc := range tests {
		if got := knowledge.Terms(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("Terms(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := knowledge.Terms(strings.Repeat("word", 1) + strings.Repeat(" w0rd x1 y2 z3 q4", 100)); len(got) > 32 {
		t.Errorf("Terms kept %d terms", len(got))
	}
}

func TestExcerpt(t *testing.T) {
	t.Parallel()
	filler := strings.Repeat("Lorem ipsum dolor sit amet. ", 40)
	body := filler + "Refunds are issued within 14 days of purchase. " + filler
	got := knowledge.Excerpt(body, []string{"refund", "purchase"}, 120)
	if !strings.Contains(got, "Refunds are issued within 14 days of purchase.") {
		t.Fatalf("excerpt misses the passage: %q", got)
	}
	if n := utf8.RuneCountInString(got); n > 122 {
		t.Fatalf("excerpt has %d characters", n)
	}
	if !strings.HasPrefix(got, "…") || !strings.HasSuffix(got, "…") {
		t.Fatalf("cut text not marked: %q", got)
	}
	if short := "Short body."; knowledge.Excerpt(short, []string{"x"}, 120) != short {
		t.Fatal("a body that fits was changed")
	}
	if got := knowledge.Excerpt(body, nil, 50); utf8.RuneCountInString(got) > 52 || !strings.HasPrefix(got, "Lorem") {
		t.Fatalf("no terms: %q", got)
	}
}
