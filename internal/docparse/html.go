package docparse

import (
	"bytes"
	"io"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

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

// unnested are elements that never open a level of their own in the
// depth pre-scan: void elements, which have no content, and those whose
// end tag is implied by the next sibling (a run of <p> or <li> without end
// tags is ordinary old HTML, not a nesting attack).
var unnested = map[atom.Atom]bool{
	atom.Area: true, atom.Base: true, atom.Br: true, atom.Col: true, atom.Embed: true, atom.Hr: true, atom.Img: true,
	atom.Input: true, atom.Link: true, atom.Meta: true, atom.Source: true, atom.Track: true, atom.Wbr: true,
	atom.P: true, atom.Li: true, atom.Dt: true, atom.Dd: true, atom.Option: true, atom.Optgroup: true, atom.Tr: true,
	atom.Td: true, atom.Th: true, atom.Thead: true, atom.Tbody: true, atom.Tfoot: true, atom.Rb: true, atom.Rt: true,
	atom.Rp: true, atom.Rtc: true, atom.Colgroup: true, atom.Caption: true, atom.Html: true, atom.Head: true, atom.Body: true,
}

// htmlText refuses markup nested past the depth limit before building a
// tree of it (the parser's work per element grows with the depth of the
// elements open, so a megabyte of "<div>" costs quadratic time), then
// parses the document the way a browser would, so malformed markup cannot
// hide a script from the sanitiser, and keeps only the visible text.
func htmlText(st *state, body []byte) (Document, error) {
	if err := htmlDepth(st, body); err != nil {
		return Document{}, err
	}
	// The parser takes no context: its reader checks it, so a cancelled
	// upload stops the parse at its next read.
	root, err := html.Parse(&ctxReader{st: st, r: bytes.NewReader(body)})
	if err != nil {
		if cerr := st.check(); cerr != nil {
			return Document{}, cerr
		}
		return Document{}, err
	}
	var d Document
	w := &htmlWalker{st: st}
	if err := w.walk(root, 0); err != nil {
		return Document{}, err
	}
	d.Title = w.title
	// Each line trimmed of the spaces collapsing left at its edges.
	lines := strings.Split(w.b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	d.Text = strings.Join(lines, "\n")
	return d, nil
}

// htmlDepth tokenises the document and fails once more elements are open
// than the depth limit allows.
func htmlDepth(st *state, body []byte) error {
	z := html.NewTokenizer(bytes.NewReader(body))
	z.SetMaxBuf(0)
	depth := 0
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := st.check(); err != nil {
				return err
			}
		}
		switch z.Next() {
		case html.ErrorToken:
			return nil // io.EOF: the tokeniser reports no other error on a byte reader
		case html.StartTagToken:
			name, _ := z.TagName()
			if !unnested[atom.Lookup(name)] {
				depth++
				if depth > st.lim.MaxDepth {
					return st.tooDeep()
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if depth > 0 && !unnested[atom.Lookup(name)] {
				depth--
			}
		}
	}
}

// ctxReader fails its reads once the extraction's context is done.
type ctxReader struct {
	st *state
	r  io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.st.check(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

type htmlWalker struct {
	st    *state
	b     bytes.Buffer
	title string
	n     int
}

// walk writes the visible text below n. The tree may still be deeper than
// the pre-scan counted (implied elements), so the depth is checked here
// too, with room for what the parser adds.
func (w *htmlWalker) walk(n *html.Node, depth int) error {
	if depth > 2*w.st.lim.MaxDepth+16 {
		return w.st.tooDeep()
	}
	if w.n++; w.n%4096 == 0 {
		if err := w.st.check(); err != nil {
			return err
		}
	}
	if w.b.Len() > w.st.lim.MaxTextBytes*2 {
		return w.st.tooMuchText()
	}
	switch n.Type {
	case html.TextNode:
		w.b.WriteString(collapseSpace(n.Data))
		return nil
	case html.ElementNode:
		if n.DataAtom == atom.Head {
			// The title is the only thing of the head kept.
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == html.ElementNode && c.DataAtom == atom.Title && w.title == "" && c.FirstChild != nil && c.FirstChild.Type == html.TextNode {
					w.title = c.FirstChild.Data
				}
			}
			return nil
		}
		if dropped[n.DataAtom] || n.DataAtom == 0 && n.Namespace != "" {
			return nil
		}
		if hidden(n) {
			return nil
		}
		switch n.DataAtom {
		case atom.Br:
			w.b.WriteByte('\n')
			return nil
		case atom.Td, atom.Th:
			w.b.WriteByte(' ')
		}
		if blocks[n.DataAtom] {
			w.b.WriteString("\n\n")
		}
	case html.CommentNode, html.DoctypeNode:
		return nil
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if err := w.walk(c, depth+1); err != nil {
			return err
		}
	}
	if n.Type == html.ElementNode && blocks[n.DataAtom] {
		w.b.WriteString("\n\n")
	}
	return nil
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
