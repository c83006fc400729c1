package knowledge

import (
	"bytes"
	"fmt"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Content types a document may have.
const (
	TypePlain    = "text/plain"
	TypeMarkdown = "text/markdown"
	TypeHTML     = "text/html"
)

// ContentTypes lists the accepted content types.
func ContentTypes() []string { return []string{TypePlain, TypeMarkdown, TypeHTML} }

// ToText returns the plain text of a document: HTML sanitised to text,
// plain text and Markdown with normalised line breaks. Markdown stays as
// written; it is only ever shown as text.
func ToText(contentType, content string) (string, error) {
	switch contentType {
	case TypePlain, TypeMarkdown:
		return normalise(content), nil
	case TypeHTML:
		return HTMLToText(content)
	}
	return "", fmt.Errorf("unsupported content type %q", contentType)
}

// normalise turns CRLF and lone CR into LF, trims trailing spaces on each
// line and collapses runs of blank lines to one, so paragraphs are
// separated by exactly one blank line.
func normalise(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	var b strings.Builder
	blank := 0
	for _, l := range lines {
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

// dropped are elements whose content is never text a reader sees: code,
// styling, embedded objects, forms' hidden machinery, document metadata.
var dropped = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true, atom.Iframe: true,
	atom.Object: true, atom.Embed: true, atom.Svg: true, atom.Math: true, atom.Head: true, atom.Canvas: true,
	atom.Select: true, atom.Button: true, atom.Audio: true, atom.Video: true, atom.Frameset: true, atom.Textarea: true,
}

// blocks end a paragraph before and after them.
var blocks = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Section: true, atom.Article: true, atom.Aside: true, atom.Header: true,
	atom.Footer: true, atom.Nav: true, atom.Main: true, atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true,
	atom.H5: true, atom.H6: true, atom.Ul: true, atom.Ol: true, atom.Li: true, atom.Dl: true, atom.Dt: true, atom.Dd: true,
	atom.Table: true, atom.Tr: true, atom.Blockquote: true, atom.Pre: true, atom.Hr: true, atom.Figure: true,
	atom.Figcaption: true, atom.Address: true, atom.Details: true, atom.Summary: true, atom.Form: true, atom.Fieldset: true,
	atom.Body: true, atom.Html: true,
}

// HTMLToText parses an HTML document the way a browser would (so malformed
// markup cannot hide a script from the sanitiser) and keeps only its visible
// text: entities decoded, scripts, styles and other non-text elements
// dropped with their content, block elements separated by blank lines, <br>
// as a line break, table cells separated by a space. Attributes, comments
// and links' targets are never kept.
func HTMLToText(s string) (string, error) {
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		return "", fmt.Errorf("parsing HTML: %w", err)
	}
	var b bytes.Buffer
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.TextNode:
			b.WriteString(collapseSpace(n.Data))
			return
		case html.ElementNode:
			if dropped[n.DataAtom] || n.DataAtom == 0 && n.Namespace != "" {
				return
			}
			if hidden(n) {
				return
			}
			switch n.DataAtom {
			case atom.Br:
				b.WriteByte('\n')
				return
			case atom.Td, atom.Th:
				b.WriteByte(' ')
			}
			if blocks[n.DataAtom] {
				b.WriteString("\n\n")
			}
		case html.CommentNode, html.DoctypeNode:
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
		if n.Type == html.ElementNode && blocks[n.DataAtom] {
			b.WriteString("\n\n")
		}
	}
	walk(doc)
	// Each line trimmed of the spaces collapsing left at its edges.
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return normalise(strings.Join(lines, "\n")), nil
}

// hidden reports elements the author hid from readers (hidden attribute,
// aria-hidden): text nobody sees should not answer questions either, and is
// a favourite place for planted instructions.
func hidden(n *html.Node) bool {
	for _, a := range n.Attr {
		switch strings.ToLower(a.Key) {
		case "hidden":
			return true
		case "aria-hidden":
			if strings.EqualFold(strings.TrimSpace(a.Val), "true") {
				return true
			}
		case "type":
			if n.DataAtom == atom.Input && strings.EqualFold(a.Val, "hidden") {
				return true
			}
		}
	}
	return false
}

// collapseSpace turns every run of white space into one space, as HTML
// rendering does outside <pre>.
func collapseSpace(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch r {
		case ' ', '\t', '\n', '\r', '\f':
			if !space {
				b.WriteByte(' ')
			}
			space = true
		default:
			b.WriteRune(r)
			space = false
		}
	}
	return b.String()
}
