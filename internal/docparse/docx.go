package docparse

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/palisadehq/palisade/internal/palisade"
)

// maxZipEntries bounds the central directory a DOCX may have: a real one
// has a few dozen parts.
const maxZipEntries = 10000

// docxText reads a DOCX (a zip of XML parts) with the standard library
// only: the text of word/document.xml, a paragraph per w:p, headings kept
// as paragraphs of their own, and the title from docProps/core.xml. Each
// part is decompressed through a reader capped by what is left of the
// decompression budget, whatever size the zip declares for it.
func docxText(st *state, body []byte) (Document, error) {
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return Document{}, palisade.WrapError(err, palisade.CodeInvalid, "the document is not a DOCX file (not a readable zip archive)")
	}
	if len(zr.File) > maxZipEntries {
		return Document{}, palisade.Errorf(palisade.CodeInvalid, "the DOCX file has more than %d parts", maxZipEntries)
	}
	var main, core *zip.File
	for _, f := range zr.File {
		switch f.Name {
		case "word/document.xml":
			main = f
		case "docProps/core.xml":
			core = f
		}
	}
	if main == nil {
		return Document{}, palisade.Errorf(palisade.CodeInvalid, "the document is not a DOCX file (it has no word/document.xml)")
	}
	var d Document
	if err := readZipXML(st, main, func(dec *xml.Decoder) error { return docxBody(st, dec, &d) }); err != nil {
		return Document{}, err
	}
	if core != nil {
		// A broken core.xml costs the title, not the document.
		var title string
		if err := readZipXML(st, core, func(dec *xml.Decoder) error { return docxTitle(st, dec, &title) }); err != nil {
			if palisade.ErrorCode(err) == palisade.CodeTooLarge || palisade.ErrorCode(err) == palisade.CodeUnavailable {
				return Document{}, err
			}
		}
		if strings.TrimSpace(title) != "" {
			d.Title = title
		}
	}
	return d, nil
}

// readZipXML opens one zip entry and hands an XML decoder over its
// content, counted against the decompression budget.
func readZipXML(st *state, f *zip.File, fn func(*xml.Decoder) error) error {
	left := st.lim.MaxExpandedBytes - st.expanded
	if f.UncompressedSize64 > uint64(max(left, 0)) {
		return st.tooExpanded()
	}
	rc, err := f.Open()
	if err != nil {
		return palisade.WrapError(err, palisade.CodeInvalid, "the DOCX file has a part that cannot be opened")
	}
	defer rc.Close()
	cr := &cappedReader{r: rc, st: st}
	dec := xml.NewDecoder(cr)
	dec.Strict = true
	dec.Entity = nil
	err = fn(dec)
	if cr.over {
		return st.tooExpanded()
	}
	if err != nil {
		var pe *palisade.Error
		if errors.As(err, &pe) {
			return pe
		}
		if errors.Is(err, zip.ErrFormat) || errors.Is(err, zip.ErrChecksum) || errors.Is(err, zip.ErrAlgorithm) {
			return palisade.WrapError(err, palisade.CodeInvalid, "the DOCX file is corrupt: "+f.Name+" does not match its zip header")
		}
		return palisade.WrapError(err, palisade.CodeInvalid, "the DOCX file has malformed XML in "+f.Name)
	}
	return nil
}

// cappedReader counts what it reads against the document's decompression
// budget and stops with an error the moment the budget is spent; the
// declared sizes in an archive or stream are a claim, this is the check.
type cappedReader struct {
	r    io.Reader
	st   *state
	over bool
}

var errExpanded = errors.New("decompression budget spent")

func (c *cappedReader) Read(p []byte) (int, error) {
	left := c.st.lim.MaxExpandedBytes - c.st.expanded
	if left <= 0 {
		// One byte more tells a stream that ends exactly at the budget
		// from one that goes on.
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n > 0 {
			c.over = true
			return 0, errExpanded
		}
		return 0, err
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.r.Read(p)
	c.st.expanded += int64(n)
	return n, err
}

const (
	wordNS         = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
	markupCompatNS = "http://schemas.openxmlformats.org/markup-compatibility/2006"
)

// docxBody walks document.xml's tokens: text runs (w:t) join into their
// paragraph (w:p), tabs and breaks become spaces and line breaks, and a
// paragraph styled as a heading or title becomes the title when the
// document has none yet.
func docxBody(st *state, dec *xml.Decoder, d *Document) error {
	var out strings.Builder
	// Paragraphs nest (a text box's inside a paragraph of the body): each
	// open one has its own text, written out when it closes.
	type para struct {
		b       strings.Builder
		heading bool
	}
	var open []*para
	cur := func() *para {
		if len(open) == 0 {
			open = append(open, &para{})
		}
		return open[len(open)-1]
	}
	depth, inText, n := 0, false, 0
	// Text boxes and drawings are written twice, in mc:Choice and again in
	// mc:Fallback for older readers; the fallback copy is skipped.
	skipUntil := 0
	for {
		if n++; n%4096 == 0 {
			if err := st.check(); err != nil {
				return err
			}
		}
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth++; depth > st.lim.MaxDepth {
				return st.tooDeep()
			}
			if skipUntil == 0 && t.Name.Local == "Fallback" && t.Name.Space == markupCompatNS {
				skipUntil = depth
			}
			if t.Name.Space != wordNS || skipUntil != 0 {
				continue
			}
			switch t.Name.Local {
			case "p":
				open = append(open, &para{})
			case "t":
				inText = true
			case "tab":
				cur().b.WriteByte(' ')
			case "br", "cr":
				cur().b.WriteByte('\n')
			case "pStyle":
				for _, a := range t.Attr {
					if a.Name.Local == "val" {
						v := strings.ToLower(a.Value)
						cur().heading = strings.HasPrefix(v, "heading") || v == "title"
					}
				}
			}
		case xml.EndElement:
			if depth == skipUntil {
				skipUntil = 0
			}
			depth--
			if t.Name.Space != wordNS || skipUntil != 0 {
				continue
			}
			switch t.Name.Local {
			case "t":
				inText = false
			case "p":
				if len(open) == 0 {
					continue
				}
				top := open[len(open)-1]
				open = open[:len(open)-1]
				p := strings.TrimSpace(top.b.String())
				if p == "" {
					continue
				}
				if top.heading && d.Title == "" {
					d.Title = p
				}
				out.WriteString(p)
				out.WriteString("\n\n")
				if out.Len() > st.lim.MaxTextBytes {
					return st.tooMuchText()
				}
			}
		case xml.CharData:
			if inText && skipUntil == 0 {
				c := cur()
				c.b.Write(t)
				if c.b.Len() > st.lim.MaxTextBytes {
					return st.tooMuchText()
				}
			}
		case xml.Directive:
			// A DTD may declare entities; WordprocessingML never has one.
			return fmt.Errorf("document.xml has a DTD")
		}
	}
	d.Text = out.String()
	return nil
}

// docxTitle reads dc:title from docProps/core.xml.
func docxTitle(st *state, dec *xml.Decoder, title *string) error {
	depth, in := 0, false
	var b strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth++; depth > st.lim.MaxDepth {
				return st.tooDeep()
			}
			in = t.Name.Local == "title" && t.Name.Space == "http://purl.org/dc/elements/1.1/"
		case xml.EndElement:
			depth--
			in = false
		case xml.CharData:
			if in && b.Len() < 4*maxTitle {
				b.Write(t)
			}
		}
	}
	*title = b.String()
	return nil
}
