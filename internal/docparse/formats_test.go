package docparse_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/docparse"
	"github.com/palisadehq/palisade/internal/docparse/docparsetest"
	"github.com/palisadehq/palisade/internal/palisade"
)

func TestPDF(t *testing.T) {
	t.Parallel()
	for _, o := range []docparsetest.PDFOptions{{}, {Compress: true}, {Compress: true, Compact: true}} {
		t.Run(fmt.Sprintf("%+v", o), func(t *testing.T) {
			t.Parallel()
			body := docparsetest.PDF("Shipping (policy)", []string{"Parcels ship within 3 days.\nTracking is emailed.", "Returns are free (within 30 days)."}, o)
			got, err := extract(t, docparse.TypePDF, body, docparse.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			want := "Parcels ship within 3 days.\nTracking is emailed.\n\nReturns are free (within 30 days)."
			if got.Title != "Shipping (policy)" || got.Text != want {
				t.Fatalf("got %+v, want title %q text %q", got, "Shipping (policy)", want)
			}
		})
	}
}

// A composite font's two-byte codes are read through its ToUnicode map.
func TestPDFToUnicode(t *testing.T) {
	t.Parallel()
	cmap := "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n1 begincodespacerange <0000> <FFFF> endcodespacerange\n" +
		"2 beginbfchar <0001> <0048> <0002> <0069> endbfchar\n1 beginbfrange <0010> <0012> <00E9> endbfrange\nendcmap end end\n"
	content := "BT /F2 12 Tf 72 720 Td <000100020010> Tj [<0011> -500 <0012>] TJ ET\n"
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /Resources << /Font << /F2 4 0 R >> >> /Contents 5 0 R >>",
		"<< /Type /Font /Subtype /Type0 /BaseFont /X /Encoding /Identity-H /ToUnicode 6 0 R >>",
		docparsetest.Stream([]byte(content), true),
		docparsetest.Stream([]byte(cmap), true),
	}
	got, err := extract(t, docparse.TypePDF, docparsetest.Assemble(objs, "/Root 1 0 R"), docparse.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Text != "Hiéê ë" {
		t.Fatalf("text = %q", got.Text)
	}
}

// measure runs fn and returns the bytes it allocated. The hostile tests
// run sequentially, so the count is theirs.
func measure(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A PDF whose content stream inflates to 256 MiB is refused once the
// decompression budget is spent, having allocated about the budget, not
// the bomb.
func TestHostilePDFDecompressionBomb(t *testing.T) {
	bomb := docparsetest.Deflate(make([]byte, 256<<20))
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>",
		fmt.Sprintf("<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream", len(bomb), bomb),
	}
	body := docparsetest.Assemble(objs, "/Root 1 0 R")
	lim := docparse.Limits{MaxExpandedBytes: 4 << 20}
	var err error
	alloc := measure(func() { _, err = extract(t, docparse.TypePDF, body, lim) })
	wantError(t, err, palisade.CodeTooLarge, "decompresses to more than 4194304 bytes")
	t.Logf("allocated %d KiB for a %d KiB bomb", alloc>>10, len(body)>>10)
	if alloc > 32<<20 {
		t.Fatalf("allocated %d MiB reading a bomb with a 4 MiB budget", alloc>>20)
	}
}

// Arrays nested a million deep are refused at the depth limit, not by
// exhausting the stack.
func TestHostilePDFDeeplyNested(t *testing.T) {
	nested := strings.Repeat("[", 1<<20) + strings.Repeat("]", 1<<20)
	body := docparsetest.PDF("Nested", []string{"text"}, docparsetest.PDFOptions{ExtraCatalog: "/Deep " + nested})
	_, err := extract(t, docparse.TypePDF, body, docparse.Limits{})
	wantError(t, err, palisade.CodeInvalid, "nested more than 256 levels deep")
	// Dictionaries the same.
	nested = strings.Repeat("<< /A ", 100000) + strings.Repeat(">> ", 100000)
	body = docparsetest.PDF("Nested", []string{"text"}, docparsetest.PDFOptions{ExtraCatalog: "/Deep " + nested})
	_, err = extract(t, docparse.TypePDF, body, docparse.Limits{})
	wantError(t, err, palisade.CodeInvalid, "nested more than 256 levels deep")
	// A page tree that is its own kid.
	objs := []string{"<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [2 0 R] /Count 1 >>"}
	_, err = extract(t, docparse.TypePDF, docparsetest.Assemble(objs, "/Root 1 0 R"), docparse.Limits{})
	wantError(t, err, palisade.CodeInvalid, "page tree has a loop")
}

func TestHostilePDFMalformedXref(t *testing.T) {
	good := docparsetest.PDF("Title", []string{"text"}, docparsetest.PDFOptions{})
	xref := bytes.LastIndex(good, []byte("xref\n0 "))
	tests := []struct {
		name string
		body []byte
		msg  string
	}{
		{"no startxref", bytes.ReplaceAll(good, []byte("startxref"), []byte("startxxxx")), "no startxref"},
		{"offset past the end", replaceTail(good, "startxref\n", "startxref\n99999999\n%%EOF\n"), "points outside the file"},
		{"offset at garbage", replaceTail(good, "startxref\n", "startxref\n3\n%%EOF\n"), "neither a table nor a stream"},
		{"bad entry", replaceAt(good, xref+len("xref\n0 7\n0000000000 65535 f \n"), "00000000x0 00000 n \n"), "bad entry"},
		{"entry at the wrong object", shiftEntries(good, xref), "does not point at an object"},
		{"prev loop", bytes.Replace(good, []byte("/Root 1 0 R"), fmt.Appendf(nil, "/Root 1 0 R /Prev %d", xref), 1), "loop"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := extract(t, docparse.TypePDF, tc.body, docparse.Limits{})
			wantError(t, err, palisade.CodeInvalid, tc.msg)
		})
	}
	_, err := extract(t, docparse.TypePDF, []byte("not a pdf"), docparse.Limits{})
	wantError(t, err, palisade.CodeInvalid, "not a PDF file")
}

func replaceTail(b []byte, marker, with string) []byte {
	i := bytes.LastIndex(b, []byte(marker))
	return append(append([]byte(nil), b[:i]...), with...)
}

func replaceAt(b []byte, at int, with string) []byte {
	out := append([]byte(nil), b...)
	copy(out[at:], with)
	return out
}

// shiftEntries moves every object offset of the table five bytes on, into
// the middle of the objects.
func shiftEntries(b []byte, xref int) []byte {
	out := append([]byte(nil), b...)
	lines := bytes.Split(out[xref:], []byte("\n"))
	for i, l := range lines {
		if len(l) == 19 && bytes.HasSuffix(l, []byte(" n ")) {
			var off int
			fmt.Sscanf(string(l[:10]), "%d", &off)
			lines[i] = fmt.Appendf(nil, "%010d 00000 n ", off+5)
		}
	}
	return append(out[:xref], bytes.Join(lines, []byte("\n"))...)
}

func TestDOCX(t *testing.T) {
	t.Parallel()
	body := docparsetest.DOCX("Warranty terms", []string{"Every kettle has a two-year warranty.", "Claims need the receipt & serial number."},
		docparsetest.DOCXOptions{Heading: "Warranty"})
	got, err := extract(t, docparse.TypeDOCX, body, docparse.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := "Warranty\n\nEvery kettle has a two-year warranty.\n\nClaims need the receipt & serial number."
	if got.Title != "Warranty terms" || got.Text != want {
		t.Fatalf("got %+v, want %q", got, want)
	}
	// Without a title in its properties, the first heading names it.
	got, err = extract(t, docparse.TypeDOCX, docparsetest.DOCX("", []string{"Body."}, docparsetest.DOCXOptions{Heading: "Care guide"}), docparse.Limits{})
	if err != nil || got.Title != "Care guide" {
		t.Fatalf("untitled DOCX: %+v, %v", got, err)
	}
	_, err = extract(t, docparse.TypeDOCX, []byte("PK not a zip"), docparse.Limits{})
	wantError(t, err, palisade.CodeInvalid, "not a DOCX file")
	_, err = extract(t, docparse.TypeDOCX, zipOf(t, map[string][]byte{"a.txt": []byte("x")}, false), docparse.Limits{})
	wantError(t, err, palisade.CodeInvalid, "no word/document.xml")
	dtd := `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">]><w:document xmlns:w="` + wordNS + `"><w:body><w:p><w:r><w:t>&a;</w:t></w:r></w:p></w:body></w:document>`
	_, err = extract(t, docparse.TypeDOCX, zipOf(t, map[string][]byte{"word/document.xml": []byte(dtd)}, false), docparse.Limits{})
	wantError(t, err, palisade.CodeInvalid, "malformed XML")
}

const wordNS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"

func zipOf(t *testing.T, parts map[string][]byte, store bool) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, data := range parts {
		m := zip.Deflate
		if store {
			m = zip.Store
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: m})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A DOCX whose document.xml inflates to 128 MiB is refused from its
// declared size before a byte is inflated, and one that understates its
// size is stopped while reading, either way within the budget.
func TestHostileDOCXZipBomb(t *testing.T) {
	xml := bytes.Repeat([]byte("<w:p><w:r><w:t>aaaa</w:t></w:r></w:p>"), (128<<20)/38)
	doc := append(append([]byte(`<w:document xmlns:w="`+wordNS+`"><w:body>`), xml...), "</w:body></w:document>"...)
	body := zipOf(t, map[string][]byte{"word/document.xml": doc}, false)
	doc = nil
	xml = nil
	lim := docparse.Limits{MaxExpandedBytes: 8 << 20, MaxTextBytes: 64 << 20}
	var err error
	alloc := measure(func() { _, err = extract(t, docparse.TypeDOCX, body, lim) })
	wantError(t, err, palisade.CodeTooLarge, "decompresses to more than 8388608 bytes")
	t.Logf("declared: allocated %d KiB for a %d KiB bomb", alloc>>10, len(body)>>10)
	if alloc > 32<<20 {
		t.Fatalf("allocated %d MiB", alloc>>20)
	}

	// The same bomb declaring 1 KiB: the entry's sizes in the local and
	// central headers are rewritten.
	lying := understate(t, body)
	alloc = measure(func() { _, err = extract(t, docparse.TypeDOCX, lying, lim) })
	wantError(t, err, palisade.CodeInvalid, "does not match its zip header")
	t.Logf("understated: allocated %d KiB", alloc>>10)
	if alloc > 32<<20 {
		t.Fatalf("allocated %d MiB", alloc>>20)
	}
}

// understate rewrites the uncompressed size of every entry of a zip
// (written with data descriptors, so the sizes are in the descriptor and
// the central directory) to 1024.
func understate(t *testing.T, z []byte) []byte {
	t.Helper()
	out := append([]byte(nil), z...)
	n := 0
	for i := 0; i+4 <= len(out); i++ {
		switch {
		case bytes.Equal(out[i:i+4], []byte("PK\x01\x02")) && i+28 <= len(out): // central header
			copy(out[i+24:i+28], []byte{0, 4, 0, 0})
			n++
		case bytes.Equal(out[i:i+4], []byte("PK\x07\x08")) && i+16 <= len(out): // data descriptor
			copy(out[i+12:i+16], []byte{0, 4, 0, 0})
			n++
		}
	}
	if n == 0 {
		t.Fatal("no headers rewritten")
	}
	return out
}

// Spaces and breaks come from where text is drawn: a kerning split inside
// a word joins, a gap the width of a space separates words, a line one
// leading down breaks the line, one further down starts a paragraph.
func TestPDFLayout(t *testing.T) {
	t.Parallel()
	// Widths: every code 500/1000 em, so at 10 points a glyph is 5 wide.
	widths := "[" + strings.Repeat("500 ", 95) + "]"
	content := "BT /F1 10 Tf 1 0 0 1 72 700 Tm (Kettle car) Tj 50 0 Td (e) Tj 9 0 Td (tips) Tj ET\n" +
		"BT /F1 10 Tf 1 0 0 1 72 688 Tm [(De) 20 (scale) -400 (monthly.)] TJ ET\n" +
		"BT /F1 10 Tf 1 0 0 1 72 650 Tm (New paragraph.) Tj ET\n"
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /FirstChar 32 /Widths " + widths + " >>",
		docparsetest.Stream([]byte(content), false),
	}
	got, err := extract(t, docparse.TypePDF, docparsetest.Assemble(objs, "/Root 1 0 R"), docparse.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "Kettle care tips\nDescale monthly.\n\nNew paragraph."; got.Text != want {
		t.Fatalf("text = %q, want %q", got.Text, want)
	}
}

// A text box is written twice, once for new readers and once as a
// fallback for old ones; its text is read once. Tracked deletions and
// field codes are not text.
func TestDOCXTextOnce(t *testing.T) {
	t.Parallel()
	doc := `<w:document xmlns:w="` + wordNS + `" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"><w:body>` +
		`<w:p><w:r><w:t>Before </w:t></w:r><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:txbxContent><w:p><w:r><w:t>Boxed</w:t></w:r></w:p></w:txbxContent></mc:Choice>` +
		`<mc:Fallback><w:pict><w:txbxContent><w:p><w:r><w:t>Boxed</w:t></w:r></w:p></w:txbxContent></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>` +
		`<w:p><w:r><w:delText>deleted</w:delText></w:r><w:r><w:instrText>PAGE</w:instrText></w:r><w:r><w:t>kept</w:t></w:r></w:p>` +
		`</w:body></w:document>`
	got, err := extract(t, docparse.TypeDOCX, zipOf(t, map[string][]byte{"word/document.xml": []byte(doc)}, false), docparse.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(got.Text, "Boxed") != 1 || strings.Contains(got.Text, "deleted") || strings.Contains(got.Text, "PAGE") || !strings.Contains(got.Text, "kept") {
		t.Fatalf("text = %q", got.Text)
	}
}

// Thousands of fonts, each declaring 65,536 widths and ToUnicode codes in
// a few bytes, are charged to the decompression budget like inflated
// bytes: the document is refused, having allocated about the budget.
func TestHostilePDFFontTables(t *testing.T) {
	const fonts = 2000
	var names, content strings.Builder
	cmap := docparsetest.Stream([]byte("1 beginbfrange <0000> <FFFF> <0041> endbfrange"), false)
	for i := range fonts {
		fmt.Fprintf(&names, "/F%d 4 0 R ", i)
		fmt.Fprintf(&content, "/F%d 1 Tf <0001> Tj ", i)
	}
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /Resources << /Font << " + names.String() + ">> >> /Contents 6 0 R >>",
		// One font object, drawn under 2,000 names: cached by reference.
		"<< /Type /Font /Subtype /Type0 /Encoding /Identity-H /ToUnicode 5 0 R /DescendantFonts [<< /W [0 65535 500] >>] >>",
		cmap,
		docparsetest.Stream([]byte("BT "+content.String()+"ET"), false),
	}
	if _, err := extract(t, docparse.TypePDF, docparsetest.Assemble(objs, "/Root 1 0 R"), docparse.Limits{}); err != nil {
		t.Fatalf("one font under many names: %v", err)
	}
	// The same font as a direct dictionary under each name is read anew
	// every time, and each reading is charged.
	direct := strings.ReplaceAll(names.String(), "4 0 R", "<< /Type /Font /Subtype /Type0 /Encoding /Identity-H /ToUnicode 5 0 R /DescendantFonts [<< /W [0 65535 500] >>] >>")
	objs[2] = "<< /Type /Page /Parent 2 0 R /Resources << /Font << " + direct + ">> >> /Contents 6 0 R >>"
	var err error
	alloc := measure(func() {
		_, err = extract(t, docparse.TypePDF, docparsetest.Assemble(objs, "/Root 1 0 R"), docparse.Limits{MaxExpandedBytes: 16 << 20})
	})
	wantError(t, err, palisade.CodeTooLarge, "decompresses to more than")
	t.Logf("allocated %d MiB", alloc>>20)
	if alloc > 64<<20 {
		t.Fatalf("allocated %d MiB for font tables with a 16 MiB budget", alloc>>20)
	}
}
