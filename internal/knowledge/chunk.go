package knowledge

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Chunking defaults: a chunk is a few paragraphs, small enough that its
// excerpt is on topic and the index ranks it by what it is about, large
// enough to carry a whole answer; the overlap keeps a sentence cut at a
// boundary findable from both sides.
const (
	DefaultChunkSize    = 1200 // characters
	DefaultChunkOverlap = 150  // characters
)

// Chunk splits text into chunks of at most size characters (runes), keeping
// paragraphs (separated by blank lines) together where they fit, splitting a
// longer paragraph at sentence ends, then at spaces, and only as a last
// resort inside a word. Each chunk after the first starts with "…" and up
// to overlap characters from the end of the one before, cut at a word
// boundary, so a sentence cut at the boundary is findable from both sides.
// Empty text gives no chunks.
func Chunk(text string, size, overlap int) []string {
	if size <= 0 {
		size = DefaultChunkSize
	}
	if overlap < 0 || overlap >= size/2 {
		overlap = size / 4
	}
	// Pieces are paragraphs, or parts of a paragraph too long for a chunk
	// on its own; each fits in size-overlap so that the overlap always
	// fits in front of it.
	room := size - overlap - 3 // the overlap, its "…" and a paragraph break
	if room < 1 {
		room = 1
	}
	var pieces []string
	for _, p := range strings.Split(normalise(text), "\n\n") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		pieces = append(pieces, splitLong(p, room)...)
	}

	var chunks []string
	var cur strings.Builder
	curLen := 0
	flush := func() {
		if curLen == 0 {
			return
		}
		chunks = append(chunks, cur.String())
		tail := overlapTail(cur.String(), overlap)
		cur.Reset()
		curLen = 0
		if tail != "" {
			cur.WriteString("…" + tail)
			curLen = 1 + utf8.RuneCountInString(tail)
		}
	}
	fresh := true // cur holds nothing but carried-over overlap
	for _, p := range pieces {
		n := utf8.RuneCountInString(p)
		if !fresh && curLen+2+n > size {
			flush()
			fresh = true
		}
		if curLen > 0 {
			cur.WriteString("\n\n")
			curLen += 2
		}
		cur.WriteString(p)
		curLen += n
		fresh = false
	}
	if !fresh {
		chunks = append(chunks, cur.String())
	}
	return chunks
}

// splitLong cuts a paragraph into parts of at most max runes: after a
// sentence end where possible, else at a space, else anywhere.
func splitLong(p string, max int) []string {
	var out []string
	for utf8.RuneCountInString(p) > max {
		limit := runeOffset(p, max)
		cut := lastSentenceEnd(p[:limit])
		if cut < limit/2 {
			if sp := strings.LastIndexFunc(p[:limit], unicode.IsSpace); sp > limit/2 {
				cut = sp
			} else {
				cut = limit
			}
		}
		out = append(out, strings.TrimSpace(p[:cut]))
		p = strings.TrimSpace(p[cut:])
	}
	if p != "" {
		out = append(out, p)
	}
	return out
}

// runeOffset returns the byte offset of the n-th rune of s (len(s) when s
// is shorter).
func runeOffset(s string, n int) int {
	for i := range s {
		if n == 0 {
			return i
		}
		n--
	}
	return len(s)
}

// lastSentenceEnd returns the byte offset just after the last ". ", "! ",
// "? " or line break in s, or 0.
func lastSentenceEnd(s string) int {
	best := 0
	for _, sep := range []string{". ", "! ", "? ", "\n"} {
		if i := strings.LastIndex(s, sep); i >= 0 && i+len(sep) > best {
			best = i + len(sep)
		}
	}
	return best
}

// overlapTail returns at most n runes from the end of s, starting at a word
// boundary.
func overlapTail(s string, n int) string {
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	if len(r) <= n {
		return ""
	}
	tail := string(r[len(r)-n:])
	if i := strings.IndexFunc(tail, unicode.IsSpace); i >= 0 {
		tail = tail[i:]
	} else {
		return ""
	}
	return strings.TrimSpace(tail)
}
