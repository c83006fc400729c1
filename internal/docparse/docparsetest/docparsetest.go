// Package docparsetest builds small PDF and DOCX files for tests: real
// files of the formats, written here from scratch, so tests of document
// reading, uploads and answers need no binary fixtures.
//
// It must never be imported by a non-test file of the release binary.
package docparsetest

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"fmt"
	"strings"
)

// PDFOptions shapes a generated PDF.
type PDFOptions struct {
	// Compress deflates the content streams.
	Compress bool
	// ExtraObjects are written as further objects (numbered after the
	// page objects) and ExtraCatalog is added to the catalog dictionary,
	// so a test can plant something the reader must walk through.
	ExtraObjects []string
	ExtraCatalog string
	// Compact writes the objects into an object stream indexed by a
	// cross-reference stream (AssembleCompact).
	Compact bool
}

// PDF returns a PDF whose document information names title and whose
// pages each show one of pages' texts, line by line, in Helvetica.
func PDF(title string, pages []string, o PDFOptions) []byte {
	// Objects: 1 catalog, 2 page tree, 3 font, 4 info, then a page and its
	// content stream for each page, then the extra objects.
	var objs []string
	kids := make([]string, len(pages))
	for i := range pages {
		kids[i] = fmt.Sprintf("%d 0 R", 5+2*i)
	}
	objs = append(objs,
		"<< /Type /Catalog /Pages 2 0 R "+o.ExtraCatalog+" >>",
		fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(pages)),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
		"<< /Title "+pdfString(title)+" /Producer (docparsetest) >>")
	for i, text := range pages {
		var c bytes.Buffer
		c.WriteString("BT /F1 12 Tf 72 720 Td 14 TL\n")
		for j, line := range strings.Split(text, "\n") {
			if j > 0 {
				c.WriteString("T* ")
			}
			c.WriteString(pdfString(line) + " Tj\n")
		}
		c.WriteString("ET\n")
		objs = append(objs, fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>", 6+2*i))
		objs = append(objs, Stream(c.Bytes(), o.Compress))
	}
	objs = append(objs, o.ExtraObjects...)
	if o.Compact {
		return AssembleCompact(objs, "/Root 1 0 R /Info 4 0 R")
	}
	return Assemble(objs, "/Root 1 0 R /Info 4 0 R")
}

// Stream returns a stream object of data, deflated when compress is set.
func Stream(data []byte, compress bool) string {
	if !compress {
		return fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(data), data)
	}
	z := Deflate(data)
	return fmt.Sprintf("<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream", len(z), z)
}

// Deflate compresses data with zlib, as FlateDecode reads it.
func Deflate(data []byte) []byte {
	var b bytes.Buffer
	w, _ := zlib.NewWriterLevel(&b, zlib.BestCompression)
	w.Write(data)
	w.Close()
	return b.Bytes()
}

// Assemble writes objects (numbered from 1) into a PDF with a correct
// cross-reference table and a trailer holding trailerEntries.
func Assemble(objs []string, trailerEntries string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d %s >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, trailerEntries, xref)
	return b.Bytes()
}

// pdfString writes s as a PDF literal string, escaping what must be.
func pdfString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`)
	return "(" + r.Replace(s) + ")"
}

// DOCXOptions shapes a generated DOCX.
type DOCXOptions struct {
	// Heading is written as the first paragraph, styled Heading1.
	Heading string
	// Extra parts, by name, added to the archive as written (stored, not
	// compressed, when Store is set).
	Extra map[string][]byte
	Store bool
}

// DOCX returns a Word document whose core properties name title and
// whose body holds paragraphs.
func DOCX(title string, paragraphs []string, o DOCXOptions) []byte {
	var body strings.Builder
	esc := func(s string) string {
		var b bytes.Buffer
		_ = xmlEscape(&b, s)
		return b.String()
	}
	if o.Heading != "" {
		body.WriteString(`<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>` + esc(o.Heading) + `</w:t></w:r></w:p>`)
	}
	for _, p := range paragraphs {
		// Each paragraph in two runs, as Word splits them, to show runs
		// join without a space.
		h := len(p) / 2
		for h > 0 && h < len(p) && p[h]&0xc0 == 0x80 {
			h++
		}
		body.WriteString(`<w:p><w:r><w:t xml:space="preserve">` + esc(p[:h]) + `</w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>` + esc(p[h:]) + `</w:t></w:r></w:p>`)
	}
	parts := map[string]string{
		"[Content_Types].xml": `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/></Types>`,
		"_rels/.rels":         `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>`,
		"word/document.xml":   `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>` + body.String() + `<w:sectPr/></w:body></w:document>`,
		"docProps/core.xml":   `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>` + esc(title) + `</dc:title></cp:coreProperties>`,
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, name := range []string{"[Content_Types].xml", "_rels/.rels", "word/document.xml", "docProps/core.xml"} {
		w, _ := zw.Create(name)
		w.Write([]byte(parts[name]))
	}
	for name, data := range o.Extra {
		method := zip.Deflate
		if o.Store {
			method = zip.Store
		}
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		w.Write(data)
	}
	zw.Close()
	return b.Bytes()
}

// AssembleCompact writes objects (numbered from 1) the way PDF 1.5 and
// later writers do: every object that is not a stream inside one object
// stream, and a cross-reference stream, deflated with the PNG "up"
// predictor, in place of the table.
func AssembleCompact(objs []string, trailerEntries string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
	n := len(objs)
	stmNum, xrefNum := n+1, n+2
	type entry struct{ kind, a, b int }
	entries := make([]entry, n+3)
	var header, data bytes.Buffer
	index := 0
	for i, o := range objs {
		if strings.Contains(o, "\nstream\n") {
			entries[i+1] = entry{1, b.Len(), 0}
			fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
			continue
		}
		fmt.Fprintf(&header, "%d %d ", i+1, data.Len())
		data.WriteString(o + "\n")
		entries[i+1] = entry{2, stmNum, index}
		index++
	}
	stm := append(header.Bytes(), data.Bytes()...)
	z := Deflate(stm)
	entries[stmNum] = entry{1, b.Len(), 0}
	fmt.Fprintf(&b, "%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream\nendobj\n",
		stmNum, index, header.Len(), len(z), z)
	entries[xrefNum] = entry{1, b.Len(), 0}
	// Rows of 1+4+2 bytes, each after a PNG filter byte 2 ("up").
	var rows []byte
	prev := make([]byte, 7)
	for _, e := range entries {
		row := []byte{byte(e.kind), byte(e.a >> 24), byte(e.a >> 16), byte(e.a >> 8), byte(e.a), byte(e.b >> 8), byte(e.b)}
		rows = append(rows, 2)
		for j := range row {
			rows = append(rows, row[j]-prev[j])
		}
		prev = row
	}
	zx := Deflate(rows)
	fmt.Fprintf(&b, "%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 7 >> %s /Length %d >>\nstream\n%s\nendstream\nendobj\n",
		xrefNum, n+3, trailerEntries, len(zx), zx)
	fmt.Fprintf(&b, "startxref\n%d\n%%%%EOF\n", entries[xrefNum].a)
	return b.Bytes()
}
