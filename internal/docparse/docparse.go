package docparse

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/palisade"
)

// Media types Extract reads.
const (
	TypePlain    = "text/plain"
	TypeMarkdown = "text/markdown"
	TypeHTML     = "text/html"
	TypePDF      = "application/pdf"
	TypeDOCX     = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
)

// Types lists the media types Extract reads.
func Types() []string { return []string{TypePlain, TypeMarkdown, TypeHTML, TypePDF, TypeDOCX} }

// Supported reports whether Extract reads mediaType.
func Supported(mediaType string) bool {
	for _, t := range Types() {
		if t == mediaType {
			return true
		}
	}
	return false
}

// Default limits; a zero field of Limits means its default.
const (
	DefaultMaxInputBytes    = 10 << 20
	DefaultMaxTextBytes     = 2 << 20
	DefaultMaxExpandedBytes = 64 << 20
	DefaultMaxDepth         = 256
)

// Limits bound the work Extract does for one document.
type Limits struct {
	// MaxInputBytes is the largest document accepted as uploaded.
	MaxInputBytes int64
	// MaxTextBytes is the most text returned; a document with more is
	// refused rather than cut, so nobody indexes half a document unawares.
	MaxTextBytes int
	// MaxExpandedBytes is the most a document may decompress to, all its
	// compressed parts together (DOCX zip entries, PDF streams).
	MaxExpandedBytes int64
	// MaxDepth is how deeply elements (HTML, DOCX XML) or objects (PDF)
	// may nest.
	MaxDepth int
}

func (l Limits) withDefaults() Limits {
	if l.MaxInputBytes <= 0 {
		l.MaxInputBytes = DefaultMaxInputBytes
	}
	if l.MaxTextBytes <= 0 {
		l.MaxTextBytes = DefaultMaxTextBytes
	}
	if l.MaxExpandedBytes <= 0 {
		l.MaxExpandedBytes = DefaultMaxExpandedBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	return l
}

// Document is what a file says: its title (empty when it names none) and
// its text, paragraphs separated by one blank line.
type Document struct {
	Title string
	Text  string
}

// maxTitle bounds a title taken from a document's own metadata.
const maxTitle = 200

// Extract reads body as mediaType and returns its text. Errors are
// *palisade.Error: CodeTooLarge when the document is over a size limit,
// CodeInvalid when it is malformed, nested too deeply, of another type or
// holds no text. A panic inside a parser is turned into CodeInvalid: a
// hostile file must never take the process down with it.
func Extract(ctx context.Context, mediaType string, body []byte, lim Limits) (Document, error) {
	lim = lim.withDefaults()
	if !Supported(mediaType) {
		return Document{}, palisade.FieldError("content_type", "content type must be one of %s", strings.Join(Types(), ", "))
	}
	if int64(len(body)) > lim.MaxInputBytes {
		return Document{}, palisade.Errorf(palisade.CodeTooLarge, "the document is larger than %d bytes", lim.MaxInputBytes)
	}
	var parse func(*state, []byte) (Document, error)
	switch mediaType {
	case TypePlain:
		parse = plainText
	case TypeMarkdown:
		parse = markdown
	case TypeHTML:
		parse = htmlText
	case TypePDF:
		parse = pdfText
	case TypeDOCX:
		parse = docxText
	}
	return run(ctx, mediaType, body, lim, parse)
}

// run runs one parser as Extract does: a panic inside it is recovered as
// an invalid document, its errors made public ones, and its text
// normalised and checked against the limits.
func run(ctx context.Context, mediaType string, body []byte, lim Limits, parse func(*state, []byte) (Document, error)) (doc Document, err error) {
	defer func() {
		if r := recover(); r != nil {
			doc = Document{}
			err = palisade.WrapError(fmt.Errorf("panic reading %s: %v\n%s", mediaType, r, debug.Stack()),
				palisade.CodeInvalid, "the document could not be read as "+mediaType)
		}
	}()
	st := &state{ctx: ctx, lim: lim}
	doc, err = parse(st, body)
	if err != nil {
		if _, ok := err.(*palisade.Error); !ok {
			err = palisade.WrapError(err, palisade.CodeInvalid, "the document could not be read as "+mediaType)
		}
		return Document{}, err
	}
	if mediaType == TypePDF || mediaType == TypeDOCX {
		doc.Text = scrubControls(doc.Text)
	}
	doc.Text = Normalise(doc.Text)
	if len(doc.Text) > lim.MaxTextBytes {
		return Document{}, st.tooMuchText()
	}
	if strings.TrimSpace(doc.Text) == "" {
		return Document{}, palisade.FieldError("content", "the document has no text")
	}
	if !utf8.ValidString(doc.Text) {
		doc.Text = strings.ToValidUTF8(doc.Text, "\uFFFD")
	}
	doc.Title = cleanTitle(doc.Title)
	return doc, nil
}

// state is one extraction's context and limits, with the running count of
// decompressed bytes shared by all of a document's parts.
type state struct {
	ctx      context.Context
	lim      Limits
	expanded int64
}

// check returns the context's error, as a public one, once the caller has
// gone away; loops over the document call it so a cancelled upload stops.
func (s *state) check() error {
	if err := s.ctx.Err(); err != nil {
		return palisade.WrapError(err, palisade.CodeUnavailable, "reading the document was cancelled")
	}
	return nil
}

func (s *state) tooMuchText() error {
	return palisade.Errorf(palisade.CodeTooLarge, "the document has more than %d bytes of text", s.lim.MaxTextBytes)
}

func (s *state) tooDeep() error {
	return palisade.Errorf(palisade.CodeInvalid, "the document is nested more than %d levels deep", s.lim.MaxDepth)
}

func (s *state) tooExpanded() error {
	return palisade.Errorf(palisade.CodeTooLarge, "the document decompresses to more than %d bytes", s.lim.MaxExpandedBytes)
}

// scrubControls turns control characters other than tab and newline into
// spaces: a binary format's text may carry them from a font's map or a
// stray run, and they mean nothing to a reader. Text formats keep theirs,
// for validation to refuse.
func scrubControls(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}

// cleanTitle makes a title one line of at most maxTitle characters without
// control characters.
func cleanTitle(t string) string {
	t = strings.ToValidUTF8(t, "")
	t = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, t)
	t = strings.Join(strings.Fields(t), " ")
	if utf8.RuneCountInString(t) > maxTitle {
		t = strings.TrimSpace(string([]rune(t)[:maxTitle]))
	}
	return t
}

// Normalise turns CRLF and lone CR into LF, trims trailing spaces on each
// line and collapses runs of blank lines to one, so paragraphs are
// separated by exactly one blank line.
func Normalise(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	var b strings.Builder
	b.Grow(len(s))
	blank := 0
	for l := range strings.SplitSeq(s, "\n") {
		l = strings.TrimRight(l, " \t\u00a0")
		if strings.TrimSpace(l) == "" {
			blank++
			continue
		}
		if b.Len() > 0 {
			if blank > 0 {
				b.WriteString("\n\n")
			} else {
				b.WriteByte('\n')
			}
		}
		blank = 0
		b.WriteString(l)
	}
	return b.String()
}
