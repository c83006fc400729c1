package docparse

import (
	"bytes"
	"compress/zlib"
	"encoding/ascii85"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/palisadehq/palisade/internal/palisade"
)

// The PDF reader is written here rather than taken from a library: the
// pure-Go readers available recurse without bound on nested objects (a
// goroutine stack overflow is fatal, not a panic to recover), read whole
// streams into memory however far they inflate, and report errors by
// panicking. This one reads only what text extraction needs — the
// cross-reference table or stream, objects and object streams, the page
// tree, content streams, fonts' ToUnicode maps — and every step is
// bounded: nesting by Limits.MaxDepth, inflation by the shared
// decompression budget, object and page counts by fixed caps, and
// reference cycles by a visited set.

// Fixed caps of a PDF, beyond the configurable limits.
const (
	pdfMaxObjects    = 1 << 19 // cross-reference entries
	pdfMaxXrefChain  = 64      // incremental updates (/Prev links)
	pdfMaxOperands   = 1 << 12 // operands before one content stream operator
	pdfMaxCMapRanges = 1 << 16 // code-to-text entries of one ToUnicode map
	pdfMaxResolve    = 32      // a reference resolving to a reference, and so on
	pdfMaxCMapText   = 64      // bytes of text one code maps to
)

type (
	pdfName    string
	pdfKeyword string
	pdfString  []byte
	pdfArray   []any
	pdfDict    map[pdfName]any
	pdfRef     struct{ num, gen int64 }
	pdfStream  struct {
		dict pdfDict
		raw  []byte
	}
)

type xrefEntry struct {
	kind   byte  // 1: at offset in the file; 2: inside an object stream
	offset int64 // the offset, or the object stream's number
	index  int64 // the index inside the object stream
}

// pdfDoc is one PDF being read.
type pdfDoc struct {
	st        *state
	b         []byte
	xref      map[int64]xrefEntry
	trailer   pdfDict
	objects   map[int64]any
	resolving map[int64]bool
	objStms   map[int64]*pdfObjStm
	fonts     map[any]*pdfFont
	out       strings.Builder
	steps     int
	// overBudget is set when fonts' derived tables spent the budget.
	overBudget bool
}

type pdfObjStm struct {
	data    []byte
	first   int64
	offsets map[int64]int64 // object number to offset after first
}

func errMalformed(what string) error {
	return palisade.Errorf(palisade.CodeInvalid, "the PDF is malformed: %s", what)
}

func pdfText(st *state, body []byte) (Document, error) {
	if !bytes.HasPrefix(bytes.TrimLeft(body[:min(len(body), 1024)], "\x00\t\n\f\r "), []byte("%PDF-")) {
		return Document{}, palisade.Errorf(palisade.CodeInvalid, "the document is not a PDF file (no %%PDF header)")
	}
	d := &pdfDoc{st: st, b: body, xref: map[int64]xrefEntry{}, objects: map[int64]any{}, resolving: map[int64]bool{},
		objStms: map[int64]*pdfObjStm{}, fonts: map[any]*pdfFont{}}
	if err := d.readXref(); err != nil {
		return Document{}, err
	}
	if _, ok := d.trailer["Encrypt"]; ok {
		return Document{}, palisade.Errorf(palisade.CodeInvalid, "the PDF is encrypted; upload a copy without a password or restrictions")
	}
	root, err := d.dict(d.trailer["Root"])
	if err != nil {
		return Document{}, err
	}
	if root == nil {
		return Document{}, errMalformed("it has no document catalog")
	}
	var doc Document
	if info, err := d.dict(d.trailer["Info"]); err == nil && info != nil {
		if t, err := d.resolve(info["Title"]); err == nil {
			if s, ok := t.(pdfString); ok {
				doc.Title = pdfTextString(s)
			}
		}
	}
	if err := d.pages(root["Pages"], nil, 0, map[pdfRef]bool{}); err != nil {
		return Document{}, err
	}
	if d.overBudget {
		return Document{}, st.tooExpanded()
	}
	doc.Text = d.out.String()
	return doc, nil
}

// derivedCost is what one font width or one code of a ToUnicode map is
// charged against the decompression budget, about what it costs in memory:
// a few bytes of a hostile file may declare tens of thousands of them, in
// every one of thousands of fonts.
const derivedCost = 64

// charge counts n derived entries against the decompression budget and
// reports whether they fit; once it is spent the document is refused.
func (d *pdfDoc) charge(n int) bool {
	d.st.expanded += int64(n) * derivedCost
	if d.st.expanded > d.st.lim.MaxExpandedBytes {
		d.overBudget = true
		return false
	}
	return true
}

// tick counts a unit of work and checks for cancellation now and then.
func (d *pdfDoc) tick() error {
	if d.overBudget {
		return d.st.tooExpanded()
	}
	if d.steps++; d.steps%1024 == 0 {
		return d.st.check()
	}
	return nil
}

// ---- cross-reference ----

func (d *pdfDoc) readXref() error {
	tail := d.b[max(0, len(d.b)-2048):]
	i := bytes.LastIndex(tail, []byte("startxref"))
	if i < 0 {
		return errMalformed("it has no startxref")
	}
	p := &pdfParser{d: d, b: tail, pos: i + len("startxref")}
	off, ok := p.next().(int64)
	if !ok {
		return errMalformed("its startxref is not an offset")
	}
	seen := map[int64]bool{}
	for n := 0; off != 0; n++ {
		if n >= pdfMaxXrefChain || seen[off] {
			return errMalformed("its cross-reference sections form a loop or a chain too long")
		}
		seen[off] = true
		if off < 0 || off >= int64(len(d.b)) {
			return errMalformed("a cross-reference offset points outside the file")
		}
		trailer, err := d.xrefSection(off)
		if err != nil {
			return err
		}
		if d.trailer == nil {
			d.trailer = trailer
		}
		if x, ok := trailer["XRefStm"].(int64); ok && !seen[x] && x > 0 && x < int64(len(d.b)) {
			seen[x] = true
			if _, err := d.xrefSection(x); err != nil {
				return err
			}
		}
		prev, ok := trailer["Prev"]
		if !ok {
			break
		}
		if off, ok = prev.(int64); !ok {
			return errMalformed("its /Prev is not an offset")
		}
	}
	if d.trailer == nil {
		return errMalformed("it has no trailer")
	}
	return nil
}

// xrefSection reads the table or stream at off; entries already known
// (from a newer section) are kept.
func (d *pdfDoc) xrefSection(off int64) (pdfDict, error) {
	p := &pdfParser{d: d, b: d.b, pos: int(off)}
	p.skipSpace()
	if bytes.HasPrefix(d.b[p.pos:], []byte("xref")) {
		p.pos += 4
		return d.xrefTable(p)
	}
	obj, err := p.indirect()
	if err != nil {
		return nil, errMalformed("its cross-reference offset points at neither a table nor a stream")
	}
	s, ok := obj.(pdfStream)
	if !ok || s.dict["Type"] != pdfName("XRef") {
		return nil, errMalformed("its cross-reference offset points at neither a table nor a stream")
	}
	return s.dict, d.xrefStream(s)
}

func (d *pdfDoc) xrefTable(p *pdfParser) (pdfDict, error) {
	for {
		if err := d.tick(); err != nil {
			return nil, err
		}
		tok := p.next()
		if tok == pdfKeyword("trailer") {
			t, ok := p.next().(pdfDict)
			if !ok {
				return nil, errMalformed("its trailer is not a dictionary")
			}
			return t, p.err
		}
		start, ok1 := tok.(int64)
		count, ok2 := p.next().(int64)
		if !ok1 || !ok2 || start < 0 || count < 0 || start+count > pdfMaxObjects {
			return nil, errMalformed("its cross-reference table has a bad subsection header")
		}
		for i := int64(0); i < count; i++ {
			o, ok1 := p.next().(int64)
			_, ok2 := p.next().(int64)
			kind, ok3 := p.next().(pdfKeyword)
			if !ok1 || !ok2 || !ok3 || (kind != "n" && kind != "f") {
				return nil, errMalformed("its cross-reference table has a bad entry")
			}
			if _, known := d.xref[start+i]; !known && kind == "n" {
				if len(d.xref) >= pdfMaxObjects {
					return nil, errMalformed("it has too many objects")
				}
				d.xref[start+i] = xrefEntry{kind: 1, offset: o}
			} else if !known {
				d.xref[start+i] = xrefEntry{}
			}
		}
	}
}

func (d *pdfDoc) xrefStream(s pdfStream) error {
	data, err := d.decode(s)
	if err != nil {
		return err
	}
	w, _ := s.dict["W"].(pdfArray)
	if len(w) != 3 {
		return errMalformed("its cross-reference stream has no /W of three widths")
	}
	var widths [3]int
	for i, x := range w {
		n, ok := x.(int64)
		if !ok || n < 0 || n > 8 {
			return errMalformed("its cross-reference stream has a bad /W")
		}
		widths[i] = int(n)
	}
	size, _ := s.dict["Size"].(int64)
	index := pdfArray{int64(0), size}
	if ix, ok := s.dict["Index"].(pdfArray); ok {
		index = ix
	}
	row := widths[0] + widths[1] + widths[2]
	if row == 0 {
		return errMalformed("its cross-reference stream has empty rows")
	}
	field := func(b []byte) int64 {
		var v int64
		for _, c := range b {
			v = v<<8 | int64(c)
		}
		return v
	}
	pos := 0
	for i := 0; i+1 < len(index); i += 2 {
		start, ok1 := index[i].(int64)
		count, ok2 := index[i+1].(int64)
		if !ok1 || !ok2 || start < 0 || count < 0 || start+count > pdfMaxObjects {
			return errMalformed("its cross-reference stream has a bad /Index")
		}
		for j := int64(0); j < count; j++ {
			if err := d.tick(); err != nil {
				return err
			}
			if pos+row > len(data) {
				return errMalformed("its cross-reference stream is shorter than its /Index says")
			}
			r := data[pos : pos+row]
			pos += row
			kind := int64(1)
			if widths[0] > 0 {
				kind = field(r[:widths[0]])
			}
			a, b := field(r[widths[0]:widths[0]+widths[1]]), field(r[widths[0]+widths[1]:])
			if _, known := d.xref[start+j]; known {
				continue
			}
			if len(d.xref) >= pdfMaxObjects {
				return errMalformed("it has too many objects")
			}
			switch kind {
			case 1:
				d.xref[start+j] = xrefEntry{kind: 1, offset: a}
			case 2:
				d.xref[start+j] = xrefEntry{kind: 2, offset: a, index: b}
			default:
				d.xref[start+j] = xrefEntry{}
			}
		}
	}
	return nil
}

// ---- objects ----

// resolve follows references to the object they name; a missing or free
// object is null, as the format says.
func (d *pdfDoc) resolve(v any) (any, error) {
	for range pdfMaxResolve {
		r, ok := v.(pdfRef)
		if !ok {
			return v, nil
		}
		var err error
		if v, err = d.object(r.num); err != nil {
			return nil, err
		}
	}
	return nil, errMalformed("a reference chain is too long")
}

func (d *pdfDoc) dict(v any) (pdfDict, error) {
	v, err := d.resolve(v)
	if err != nil {
		return nil, err
	}
	switch t := v.(type) {
	case pdfDict:
		return t, nil
	case pdfStream:
		return t.dict, nil
	}
	return nil, nil
}

func (d *pdfDoc) object(num int64) (any, error) {
	if v, ok := d.objects[num]; ok {
		return v, nil
	}
	if d.resolving[num] {
		return nil, errMalformed("an object refers to itself")
	}
	if err := d.tick(); err != nil {
		return nil, err
	}
	d.resolving[num] = true
	defer delete(d.resolving, num)
	e := d.xref[num]
	var v any
	var err error
	switch e.kind {
	case 1:
		if e.offset < 0 || e.offset >= int64(len(d.b)) {
			return nil, errMalformed("a cross-reference entry points outside the file")
		}
		p := &pdfParser{d: d, b: d.b, pos: int(e.offset)}
		var n int64
		v, n, err = p.indirectNum()
		if err != nil {
			return nil, err
		}
		if n != num {
			return nil, errMalformed(fmt.Sprintf("the cross-reference entry of object %d points at object %d", num, n))
		}
	case 2:
		v, err = d.inObjStm(e.offset, e.index, num)
		if err != nil {
			return nil, err
		}
	}
	d.objects[num] = v
	return v, nil
}

func (d *pdfDoc) inObjStm(stmNum, index, num int64) (any, error) {
	os, ok := d.objStms[stmNum]
	if !ok {
		if d.xref[stmNum].kind != 1 {
			return nil, errMalformed("an object stream is itself inside an object stream")
		}
		v, err := d.object(stmNum)
		if err != nil {
			return nil, err
		}
		s, ok := v.(pdfStream)
		if !ok {
			return nil, errMalformed("an object stream is not a stream")
		}
		data, err := d.decode(s)
		if err != nil {
			return nil, err
		}
		n, _ := s.dict["N"].(int64)
		first, _ := s.dict["First"].(int64)
		if n < 0 || first < 0 || first > int64(len(data)) || n > int64(len(data)) {
			return nil, errMalformed("an object stream has a bad header")
		}
		os = &pdfObjStm{data: data, first: first, offsets: map[int64]int64{}}
		p := &pdfParser{d: d, b: data[:first]}
		for range n {
			on, ok1 := p.next().(int64)
			off, ok2 := p.next().(int64)
			if !ok1 || !ok2 {
				return nil, errMalformed("an object stream has a bad header")
			}
			os.offsets[on] = off
		}
		d.objStms[stmNum] = os
	}
	off, ok := os.offsets[num]
	if !ok || os.first+off >= int64(len(os.data)) || off < 0 {
		return nil, nil
	}
	p := &pdfParser{d: d, b: os.data, pos: int(os.first + off)}
	v := p.next()
	return v, p.err
}

// decode returns a stream's data through its filters, every inflation
// counted against the decompression budget.
func (d *pdfDoc) decode(s pdfStream) ([]byte, error) {
	data := s.raw
	if l, err := d.resolve(s.dict["Length"]); err == nil {
		if n, ok := l.(int64); ok && n >= 0 && n <= int64(len(data)) {
			data = data[:n]
		}
	}
	filters, _ := d.resolve(s.dict["Filter"])
	parms, _ := d.resolve(s.dict["DecodeParms"])
	var fs, ps pdfArray
	switch f := filters.(type) {
	case pdfName:
		fs, ps = pdfArray{f}, pdfArray{parms}
	case pdfArray:
		fs = f
		ps, _ = parms.(pdfArray)
	}
	if len(fs) == 0 {
		// Unfiltered data is charged too: a form drawn many times over
		// must not cost more than the budget whatever its encoding.
		if d.st.expanded += int64(len(data)); d.st.expanded > d.st.lim.MaxExpandedBytes {
			return nil, d.st.tooExpanded()
		}
	}
	if len(fs) > 4 {
		return nil, errMalformed("a stream has more than four filters")
	}
	for i, f := range fs {
		var parm pdfDict
		if i < len(ps) {
			parm, _ = d.dict(ps[i])
		}
		var r io.Reader
		switch f {
		case pdfName("FlateDecode"), pdfName("Fl"):
			zr, err := zlib.NewReader(bytes.NewReader(data))
			if err != nil {
				return nil, errMalformed("a compressed stream cannot be inflated")
			}
			r = zr
		case pdfName("ASCII85Decode"), pdfName("A85"):
			r = ascii85.NewDecoder(bytes.NewReader(bytes.TrimSuffix(bytes.TrimSpace(data), []byte("~>"))))
		case pdfName("ASCIIHexDecode"), pdfName("AHx"):
			h := bytes.Map(func(r rune) rune {
				if r == '>' || isPDFSpace(byte(r)) {
					return -1
				}
				return r
			}, data)
			if len(h)%2 == 1 {
				h = append(h, '0')
			}
			r = hex.NewDecoder(bytes.NewReader(h))
		default:
			return nil, palisade.Errorf(palisade.CodeInvalid, "the PDF uses a stream filter that is not read: %s", pdfNameText(f))
		}
		cr := &cappedReader{r: r, st: d.st}
		out, err := io.ReadAll(cr)
		if cr.over {
			return nil, d.st.tooExpanded()
		}
		// A truncated stream keeps what was inflated: common in the wild
		// and harmless, since the budget bounds it either way.
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && len(out) == 0 {
			return nil, errMalformed("a compressed stream cannot be inflated")
		}
		if pred, _ := parm["Predictor"].(int64); pred >= 10 {
			cols, _ := parm["Columns"].(int64)
			if out, err = pngUnpredict(out, cols); err != nil {
				return nil, err
			}
		} else if pred > 1 {
			return nil, palisade.Errorf(palisade.CodeInvalid, "the PDF uses a stream predictor that is not read")
		}
		data = out
	}
	return data, nil
}

func pdfNameText(v any) string {
	n, _ := v.(pdfName)
	s := strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e {
			return -1
		}
		return r
	}, string(n))
	return s[:min(len(s), 32)]
}

// pngUnpredict undoes the PNG row filters used by cross-reference and
// object streams (one byte per pixel, as those are).
func pngUnpredict(b []byte, cols int64) ([]byte, error) {
	if cols <= 0 {
		cols = 1
	}
	if cols > 1<<16 {
		return nil, errMalformed("a stream predictor has too many columns")
	}
	row := int(cols) + 1
	out := make([]byte, 0, len(b))
	prev := make([]byte, cols)
	for i := 0; i+row <= len(b); i += row {
		f, cur := b[i], append([]byte(nil), b[i+1:i+row]...)
		for j := range cur {
			var left, up, ul byte
			if j > 0 {
				left, ul = cur[j-1], prev[j-1]
			}
			up = prev[j]
			switch f {
			case 0:
			case 1:
				cur[j] += left
			case 2:
				cur[j] += up
			case 3:
				cur[j] += byte((int(left) + int(up)) / 2)
			case 4:
				cur[j] += paeth(left, up, ul)
			default:
				return nil, errMalformed("a stream has a bad PNG predictor row")
			}
		}
		out = append(out, cur...)
		prev = cur
	}
	return out, nil
}

func paeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	if pa <= pb && pa <= pc {
		return a
	}
	if pb <= pc {
		return b
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// ---- pages and text ----

func (d *pdfDoc) pages(v any, inherited pdfDict, depth int, seen map[pdfRef]bool) error {
	if depth > d.st.lim.MaxDepth {
		return d.st.tooDeep()
	}
	if r, ok := v.(pdfRef); ok {
		if seen[r] {
			return errMalformed("its page tree has a loop")
		}
		seen[r] = true
	}
	node, err := d.dict(v)
	if err != nil {
		return err
	}
	if node == nil {
		return nil
	}
	res := inherited
	if r, err := d.dict(node["Resources"]); err == nil && r != nil {
		res = r
	}
	kids, err := d.resolve(node["Kids"])
	if err != nil {
		return err
	}
	if ks, ok := kids.(pdfArray); ok && node["Type"] != pdfName("Page") {
		for _, k := range ks {
			if err := d.tick(); err != nil {
				return err
			}
			if err := d.pages(k, res, depth+1, seen); err != nil {
				return err
			}
		}
		return nil
	}
	contents, err := d.resolve(node["Contents"])
	if err != nil {
		return err
	}
	var streams []pdfStream
	switch c := contents.(type) {
	case pdfStream:
		streams = append(streams, c)
	case pdfArray:
		for _, x := range c {
			x, err := d.resolve(x)
			if err != nil {
				return err
			}
			if s, ok := x.(pdfStream); ok {
				streams = append(streams, s)
			}
		}
	}
	// A page's content may be split between streams anywhere, even
	// inside an operator: they are read as one.
	var all []byte
	for _, s := range streams {
		data, err := d.decode(s)
		if err != nil {
			return err
		}
		all = append(append(all, data...), '\n')
	}
	if err := d.content(all, res, depth+1, seen); err != nil {
		return err
	}
	d.out.WriteString("\n\n")
	return nil
}

// textPos follows where text is drawn, closely enough to tell a word
// gap and a line break from a kerning adjustment: the start of the
// current line and its scale (from Tm and Td), the advance along it of the
// glyphs drawn since (from the fonts' widths), and where the last text
// drawn ended.
type textPos struct {
	fs, leading       float64 // font size, TL
	lx, ly, a, d      float64 // line start and scale, in the stream's space
	adv               float64 // advance since the line start, in text space
	endX, endY, endFS float64
	hasEnd            bool
}

func (t *textPos) reset() { t.lx, t.ly, t.a, t.d, t.adv = 0, 0, 1, 1, 0 }

// gapBefore says what separates the next glyphs from the last ones drawn:
// nothing, a space (a gap wider than a sixth of the font size on the same
// baseline), a line break, or a paragraph break (a line further down than
// one and a half lines).
func (t *textPos) gapBefore() string {
	if !t.hasEnd {
		return ""
	}
	fs := max(t.fs, t.endFS, 1)
	x, y := t.lx+t.adv*t.a, t.ly
	scale := max(abs64(t.d), 1e-3)
	if dy := abs64(y - t.endY); dy > 0.3*fs*scale {
		if dy > 1.6*min(t.fs, t.endFS)*scale {
			return "\n\n"
		}
		return "\n"
	}
	if gap := x - t.endX; gap > fs*abs64(t.a)/6 || gap < -fs*abs64(t.a) {
		return " "
	}
	return ""
}

func abs64(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// content interprets the text operators of a content stream.
func (d *pdfDoc) content(data []byte, res pdfDict, depth int, seen map[pdfRef]bool) error {
	if depth > d.st.lim.MaxDepth {
		return d.st.tooDeep()
	}
	p := &pdfParser{d: d, b: data, content: true}
	var ops []any
	var font *pdfFont
	var pos textPos
	pos.reset()
	pos.fs = 1
	num := func(i int) float64 { return pdfNumber(ops[len(ops)-i]) }
	show := func(v any) {
		s, ok := v.(pdfString)
		if !ok || len(s) == 0 {
			return
		}
		d.out.WriteString(pos.gapBefore())
		pos.adv += d.show(font, s) * pos.fs
		pos.endX, pos.endY, pos.endFS, pos.hasEnd = pos.lx+pos.adv*pos.a, pos.ly, pos.fs, true
	}
	nextLine := func() {
		pos.ly -= pos.leading * pos.d
		pos.adv = 0
	}
	for {
		if err := d.tick(); err != nil {
			return err
		}
		if d.out.Len() > d.st.lim.MaxTextBytes {
			return d.st.tooMuchText()
		}
		tok := p.next()
		if p.err != nil {
			return p.err
		}
		if tok == nil && p.pos >= len(p.b) {
			return nil
		}
		kw, ok := tok.(pdfKeyword)
		if !ok {
			if len(ops) < pdfMaxOperands {
				ops = append(ops, tok)
			}
			continue
		}
		switch kw {
		case "BT":
			pos.reset()
		case "Tf":
			if len(ops) >= 2 {
				font = d.font(res, ops[len(ops)-2])
				pos.fs = abs64(num(1))
			}
		case "TL":
			if len(ops) >= 1 {
				pos.leading = num(1)
			}
		case "Td", "TD":
			if len(ops) >= 2 {
				tx, ty := num(2), num(1)
				if kw == "TD" {
					pos.leading = -ty
				}
				pos.lx += tx * pos.a
				pos.ly += ty * pos.d
				pos.adv = 0
			}
		case "Tm":
			if len(ops) >= 6 {
				pos.a, pos.d, pos.lx, pos.ly, pos.adv = num(6), num(3), num(2), num(1), 0
			}
		case "T*":
			nextLine()
		case "Tj":
			if len(ops) >= 1 {
				show(ops[len(ops)-1])
			}
		case "'", "\"":
			nextLine()
			if len(ops) >= 1 {
				show(ops[len(ops)-1])
			}
		case "TJ":
			if len(ops) >= 1 {
				if arr, ok := ops[len(ops)-1].(pdfArray); ok {
					for _, x := range arr {
						switch x.(type) {
						case int64, float64:
							// Thousandths of an em, backwards.
							pos.adv -= pdfNumber(x) / 1000 * pos.fs
						default:
							show(x)
						}
					}
				}
			}
		case "BI":
			p.skipInlineImage()
		case "Do":
			if len(ops) >= 1 {
				if err := d.form(res, ops[len(ops)-1], depth, seen); err != nil {
					return err
				}
				pos.hasEnd = false
				d.out.WriteByte('\n')
			}
		}
		ops = ops[:0]
	}
}

// form reads the text of a form XObject drawn with Do.
func (d *pdfDoc) form(res pdfDict, name any, depth int, seen map[pdfRef]bool) error {
	xo, err := d.dict(res["XObject"])
	if err != nil || xo == nil {
		return err
	}
	n, _ := name.(pdfName)
	ref := xo[n]
	if r, ok := ref.(pdfRef); ok {
		if seen[r] {
			return nil
		}
		seen[r] = true
		defer delete(seen, r)
	}
	v, err := d.resolve(ref)
	if err != nil {
		return err
	}
	s, ok := v.(pdfStream)
	if !ok || s.dict["Subtype"] != pdfName("Form") {
		return nil
	}
	data, err := d.decode(s)
	if err != nil {
		return err
	}
	fres := res
	if r, err := d.dict(s.dict["Resources"]); err == nil && r != nil {
		fres = r
	}
	return d.content(data, fres, depth+1, seen)
}

func pdfNumber(v any) float64 {
	switch n := v.(type) {
	case int64:
		return float64(n)
	case float64:
		return n
	}
	return 0
}

// pdfFont is what text decoding needs of a font: whether its codes are
// two bytes, and its map from codes to text.
type pdfFont struct {
	twoByte bool
	toUni   map[uint32]string
	// widths of codes in thousandths of an em, and the width of a code
	// without one; only to tell word gaps from kerning.
	widths map[uint32]float64
	dw     float64
}

// maxWidths bounds the widths read of one font.
const maxWidths = 1 << 16

// readWidths reads a simple font's /FirstChar and /Widths, or a composite
// font's descendant's /DW and /W.
func (d *pdfDoc) readWidths(f *pdfFont, fd pdfDict) {
	f.widths = map[uint32]float64{}
	f.dw = 500 // an average glyph, for fonts that list no widths
	if f.twoByte {
		df, _ := d.resolve(fd["DescendantFonts"])
		arr, _ := df.(pdfArray)
		if len(arr) == 0 {
			return
		}
		cid, err := d.dict(arr[0])
		if err != nil || cid == nil {
			return
		}
		f.dw = 1000
		if v, err := d.resolve(cid["DW"]); err == nil {
			if n := pdfNumber(v); n > 0 {
				f.dw = n
			}
		}
		wv, _ := d.resolve(cid["W"])
		w, _ := wv.(pdfArray)
		for i := 0; i+1 < len(w) && len(f.widths) < maxWidths; {
			first, ok := w[i].(int64)
			if !ok || first < 0 {
				return
			}
			next, _ := d.resolve(w[i+1])
			if list, ok := next.(pdfArray); ok {
				for j, x := range list {
					if len(f.widths) >= maxWidths {
						break
					}
					if !d.charge(1) {
						return
					}
					f.widths[uint32(first)+uint32(j)] = pdfNumber(x)
				}
				i += 2
				continue
			}
			if i+2 >= len(w) {
				return
			}
			last, ok := next.(int64)
			if !ok || last < first || last-first > maxWidths {
				return
			}
			width := pdfNumber(w[i+2])
			for c := first; c <= last && len(f.widths) < maxWidths; c++ {
				if !d.charge(1) {
					return
				}
				f.widths[uint32(c)] = width
			}
			i += 3
		}
		return
	}
	first, _ := d.resolve(fd["FirstChar"])
	fc, _ := first.(int64)
	wv, _ := d.resolve(fd["Widths"])
	w, _ := wv.(pdfArray)
	if fc < 0 || len(w) > maxWidths {
		return
	}
	for i, x := range w {
		x, _ := d.resolve(x)
		if !d.charge(1) {
			return
		}
		f.widths[uint32(fc)+uint32(i)] = pdfNumber(x)
	}
	if len(w) > 0 {
		f.dw = 0
		if desc, err := d.dict(fd["FontDescriptor"]); err == nil && desc != nil {
			if v, err := d.resolve(desc["MissingWidth"]); err == nil {
				f.dw = pdfNumber(v)
			}
		}
	}
}

func (d *pdfDoc) font(res pdfDict, name any) *pdfFont {
	fonts, err := d.dict(res["Font"])
	if err != nil || fonts == nil {
		return nil
	}
	n, _ := name.(pdfName)
	ref := fonts[n]
	key := any(ref)
	if r, ok := ref.(pdfRef); ok {
		key = r
	} else {
		key = nil
	}
	if f, ok := d.fonts[key]; ok && key != nil {
		return f
	}
	fd, err := d.dict(ref)
	if err != nil || fd == nil {
		return nil
	}
	f := &pdfFont{}
	enc, _ := d.resolve(fd["Encoding"])
	f.twoByte = fd["Subtype"] == pdfName("Type0") || enc == pdfName("Identity-H") || enc == pdfName("Identity-V")
	d.readWidths(f, fd)
	if tu, err := d.resolve(fd["ToUnicode"]); err == nil {
		if s, ok := tu.(pdfStream); ok {
			if data, err := d.decode(s); err == nil {
				f.toUni = d.cmap(data)
			}
		}
	}
	if key != nil {
		d.fonts[key] = f
	}
	return f
}

// cmap reads the bfchar and bfrange sections of a ToUnicode map.
func (d *pdfDoc) cmap(data []byte) map[uint32]string {
	m := map[uint32]string{}
	p := &pdfParser{d: d, b: data, content: true}
	var ops []any
	mode := ""
	for p.pos < len(p.b) && p.err == nil && len(m) < pdfMaxCMapRanges {
		if d.tick() != nil {
			break
		}
		tok := p.next()
		kw, ok := tok.(pdfKeyword)
		if !ok {
			if tok == nil {
				break
			}
			if mode != "" {
				ops = append(ops, tok)
				if mode == "char" && len(ops) == 2 {
					if src, ok := ops[0].(pdfString); ok && len(src) <= 4 {
						if dst, ok := ops[1].(pdfString); ok && len(dst) <= pdfMaxCMapText {
							if !d.charge(1) {
								return m
							}
							m[codeOf(src)] = utf16BE(dst)
						}
					}
					ops = ops[:0]
				}
				if mode == "range" && len(ops) == 3 {
					lo, ok1 := ops[0].(pdfString)
					hi, ok2 := ops[1].(pdfString)
					if ok1 && ok2 && len(lo) <= 4 && len(hi) <= 4 {
						a, b := codeOf(lo), codeOf(hi)
						if b >= a && b-a < pdfMaxCMapRanges {
							switch dst := ops[2].(type) {
							case pdfString:
								if len(dst) > pdfMaxCMapText {
									break
								}
								base := []rune(utf16BE(dst))
								for c := a; c <= b && len(m) < pdfMaxCMapRanges; c++ {
									if len(base) > 0 {
										r := append([]rune(nil), base...)
										r[len(r)-1] += rune(c - a)
										if !d.charge(1) {
											return m
										}
										m[c] = string(r)
									}
								}
							case pdfArray:
								for i, x := range dst {
									if s, ok := x.(pdfString); ok && uint32(i) <= b-a && len(s) <= pdfMaxCMapText {
										if !d.charge(1) {
											return m
										}
										m[a+uint32(i)] = utf16BE(s)
									}
								}
							}
						}
					}
					ops = ops[:0]
				}
			}
			continue
		}
		switch kw {
		case "beginbfchar":
			mode = "char"
		case "beginbfrange":
			mode = "range"
		default:
			mode = ""
		}
		ops = ops[:0]
	}
	return m
}

func codeOf(b pdfString) uint32 {
	var c uint32
	for _, x := range b {
		c = c<<8 | uint32(x)
	}
	return c
}

func utf16BE(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
	}
	return string(utf16.Decode(u))
}

// show writes a shown string as text through the font's map and returns
// its advance in ems; without a map, single-byte codes are read as the
// standard Latin encoding and two-byte codes, which mean nothing without
// a map, are left out.
func (d *pdfDoc) show(f *pdfFont, s pdfString) float64 {
	two := f != nil && f.twoByte
	step := 1
	if two {
		step = 2
	}
	adv := 0.0
	for i := 0; i+step <= len(s); i += step {
		var c uint32
		if two {
			c = uint32(s[i])<<8 | uint32(s[i+1])
		} else {
			c = uint32(s[i])
		}
		if f == nil {
			adv += 0.5
		} else if w, ok := f.widths[c]; ok {
			adv += w / 1000
		} else {
			adv += f.dw / 1000
		}
		if d.out.Len() > d.st.lim.MaxTextBytes {
			continue
		}
		if f != nil && f.toUni != nil {
			if t, ok := f.toUni[c]; ok {
				d.out.WriteString(t)
			}
			continue
		}
		if !two {
			d.out.WriteRune(winAnsi(byte(c)))
		}
	}
	return adv
}

// winAnsi maps the bytes where WinAnsiEncoding differs from Latin-1 and
// passes the rest through.
func winAnsi(c byte) rune {
	switch c {
	case 0x85:
		return '…'
	case 0x91:
		return '‘'
	case 0x92:
		return '’'
	case 0x93:
		return '“'
	case 0x94:
		return '”'
	case 0x95:
		return '•'
	case 0x96:
		return '–'
	case 0x97:
		return '—'
	case 0x80:
		return '€'
	}
	if c < 0x20 || (c >= 0x7f && c < 0xa0) {
		return ' '
	}
	return rune(c)
}

// pdfTextString decodes a text string of the document's metadata:
// UTF-16BE with a byte-order mark, or else PDFDocEncoding (close enough to
// Latin-1 for a title).
func pdfTextString(s pdfString) string {
	if len(s) >= 2 && s[0] == 0xfe && s[1] == 0xff {
		return utf16BE(s[2:])
	}
	if len(s) >= 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf {
		return strings.ToValidUTF8(string(s[3:]), "")
	}
	r := make([]rune, len(s))
	for i, c := range s {
		r[i] = winAnsi(c)
	}
	return string(r)
}

// ---- the lexer and parser ----

type pdfParser struct {
	d       *pdfDoc
	b       []byte
	pos     int
	depth   int
	content bool // a content stream: no references, operators are keywords
	err     error
}

func isPDFSpace(c byte) bool {
	return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '
}

func isPDFDelim(c byte) bool {
	return strings.IndexByte("()<>[]{}/%", c) >= 0
}

func (p *pdfParser) skipSpace() {
	for p.pos < len(p.b) {
		c := p.b[p.pos]
		if isPDFSpace(c) {
			p.pos++
		} else if c == '%' {
			for p.pos < len(p.b) && p.b[p.pos] != '\n' && p.b[p.pos] != '\r' {
				p.pos++
			}
		} else {
			return
		}
	}
}

func (p *pdfParser) fail(err error) any {
	if p.err == nil {
		p.err = err
	}
	p.pos = len(p.b)
	return nil
}

// next returns the next object: numbers, names, strings, arrays,
// dictionaries, keywords (operators, obj, R, …), and outside content
// streams "n g R" as a reference. nil at the end or after an error.
func (p *pdfParser) next() any {
	p.skipSpace()
	if p.pos >= len(p.b) || p.err != nil {
		return nil
	}
	c := p.b[p.pos]
	switch {
	case c == '[':
		p.pos++
		if p.depth++; p.depth > p.d.st.lim.MaxDepth {
			return p.fail(p.d.st.tooDeep())
		}
		var a pdfArray
		for {
			p.skipSpace()
			if p.pos >= len(p.b) {
				return p.fail(errMalformed("an array is not closed"))
			}
			if p.b[p.pos] == ']' {
				p.pos++
				break
			}
			v := p.next()
			if p.err != nil {
				return nil
			}
			a = append(a, v)
		}
		p.depth--
		return a
	case c == '<' && p.pos+1 < len(p.b) && p.b[p.pos+1] == '<':
		p.pos += 2
		if p.depth++; p.depth > p.d.st.lim.MaxDepth {
			return p.fail(p.d.st.tooDeep())
		}
		dict := pdfDict{}
		for {
			p.skipSpace()
			if p.pos+1 < len(p.b) && p.b[p.pos] == '>' && p.b[p.pos+1] == '>' {
				p.pos += 2
				break
			}
			if p.pos >= len(p.b) {
				return p.fail(errMalformed("a dictionary is not closed"))
			}
			k, ok := p.next().(pdfName)
			if !ok {
				return p.fail(errMalformed("a dictionary key is not a name"))
			}
			v := p.next()
			if p.err != nil {
				return nil
			}
			dict[k] = v
		}
		p.depth--
		return dict
	case c == '<':
		end := bytes.IndexByte(p.b[p.pos:], '>')
		if end < 0 {
			return p.fail(errMalformed("a hex string is not closed"))
		}
		h := bytes.Map(func(r rune) rune {
			if isPDFSpace(byte(r)) {
				return -1
			}
			return r
		}, p.b[p.pos+1:p.pos+end])
		p.pos += end + 1
		if len(h)%2 == 1 {
			h = append(h, '0')
		}
		out := make([]byte, len(h)/2)
		if _, err := hex.Decode(out, h); err != nil {
			return p.fail(errMalformed("a hex string has a bad digit"))
		}
		return pdfString(out)
	case c == '(':
		return p.literal()
	case c == '/':
		p.pos++
		start := p.pos
		for p.pos < len(p.b) && !isPDFSpace(p.b[p.pos]) && !isPDFDelim(p.b[p.pos]) {
			p.pos++
		}
		raw := p.b[start:p.pos]
		if bytes.IndexByte(raw, '#') < 0 {
			return pdfName(raw)
		}
		var n []byte
		for i := 0; i < len(raw); i++ {
			if raw[i] == '#' && i+2 < len(raw) {
				if v, err := strconv.ParseUint(string(raw[i+1:i+3]), 16, 8); err == nil {
					n = append(n, byte(v))
					i += 2
					continue
				}
			}
			n = append(n, raw[i])
		}
		return pdfName(n)
	case c == ')' || c == '>' || c == ']' || c == '{' || c == '}':
		p.pos++
		if p.content {
			return pdfKeyword(c)
		}
		return p.fail(errMalformed("an unexpected delimiter"))
	}
	start := p.pos
	for p.pos < len(p.b) && !isPDFSpace(p.b[p.pos]) && !isPDFDelim(p.b[p.pos]) {
		p.pos++
	}
	tok := string(p.b[start:p.pos])
	if n, err := strconv.ParseInt(tok, 10, 64); err == nil {
		if !p.content {
			// "n g R" is a reference; look ahead without consuming.
			save := p.pos
			if g, ok := p.peekInt(); ok {
				p.skipSpace()
				if p.pos < len(p.b) && p.b[p.pos] == 'R' && (p.pos+1 == len(p.b) || isPDFSpace(p.b[p.pos+1]) || isPDFDelim(p.b[p.pos+1])) {
					p.pos++
					return pdfRef{n, g}
				}
			}
			p.pos = save
		}
		return n
	}
	if f, err := strconv.ParseFloat(tok, 64); err == nil && strings.IndexFunc(tok, func(r rune) bool { return r != '.' && r != '-' && r != '+' && (r < '0' || r > '9') }) < 0 {
		return f
	}
	switch tok {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	return pdfKeyword(tok)
}

func (p *pdfParser) peekInt() (int64, bool) {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.b) && p.b[p.pos] >= '0' && p.b[p.pos] <= '9' {
		p.pos++
	}
	if start == p.pos || p.pos-start > 10 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(p.b[start:p.pos]), 10, 64)
	return n, err == nil
}

func (p *pdfParser) literal() any {
	p.pos++
	var out []byte
	nest := 1
	for p.pos < len(p.b) {
		c := p.b[p.pos]
		p.pos++
		switch c {
		case '(':
			nest++
		case ')':
			if nest--; nest == 0 {
				return pdfString(out)
			}
		case '\\':
			if p.pos >= len(p.b) {
				break
			}
			e := p.b[p.pos]
			p.pos++
			switch e {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case '\r':
				if p.pos < len(p.b) && p.b[p.pos] == '\n' {
					p.pos++
				}
				continue
			case '\n':
				continue
			default:
				if e >= '0' && e <= '7' {
					v := int(e - '0')
					for k := 0; k < 2 && p.pos < len(p.b) && p.b[p.pos] >= '0' && p.b[p.pos] <= '7'; k++ {
						v = v*8 + int(p.b[p.pos]-'0')
						p.pos++
					}
					c = byte(v)
				} else {
					c = e
				}
			}
		}
		out = append(out, c)
	}
	return p.fail(errMalformed("a string is not closed"))
}

// skipInlineImage skips the binary data of an inline image, up to "EI".
func (p *pdfParser) skipInlineImage() {
	i := bytes.Index(p.b[p.pos:], []byte("ID"))
	if i < 0 {
		p.pos = len(p.b)
		return
	}
	p.pos += i + 3
	for p.pos < len(p.b) {
		j := bytes.Index(p.b[p.pos:], []byte("EI"))
		if j < 0 {
			p.pos = len(p.b)
			return
		}
		at := p.pos + j
		p.pos = at + 2
		if at > 0 && isPDFSpace(p.b[at-1]) && (p.pos == len(p.b) || isPDFSpace(p.b[p.pos])) {
			return
		}
	}
}

// indirect reads "n g obj … endobj" at the current position.
func (p *pdfParser) indirect() (any, error) {
	v, _, err := p.indirectNum()
	return v, err
}

func (p *pdfParser) indirectNum() (any, int64, error) {
	num, ok1 := p.next().(int64)
	_, ok2 := p.next().(int64)
	kw, ok3 := p.next().(pdfKeyword)
	if !ok1 || !ok2 || !ok3 || kw != "obj" {
		return nil, 0, errMalformed("a cross-reference entry does not point at an object")
	}
	v := p.next()
	if p.err != nil {
		return nil, 0, p.err
	}
	dict, ok := v.(pdfDict)
	if !ok {
		return v, num, nil
	}
	save := p.pos
	p.skipSpace()
	if !bytes.HasPrefix(p.b[p.pos:], []byte("stream")) {
		p.pos = save
		return dict, num, nil
	}
	p.pos += len("stream")
	if p.pos < len(p.b) && p.b[p.pos] == '\r' {
		p.pos++
	}
	if p.pos < len(p.b) && p.b[p.pos] == '\n' {
		p.pos++
	}
	start := p.pos
	end := -1
	// The length may be a reference, read before this object is cached:
	// resolving it cannot loop back here through resolving.
	if l, err := p.d.resolve(dict["Length"]); err == nil {
		if n, ok := l.(int64); ok && n >= 0 && int64(start)+n <= int64(len(p.b)) {
			rest := bytes.TrimLeft(p.b[start+int(n):], "\x00\t\n\f\r ")
			if bytes.HasPrefix(rest, []byte("endstream")) {
				end = start + int(n)
			}
		}
	} else if palisade.ErrorCode(err) == palisade.CodeTooLarge || palisade.ErrorCode(err) == palisade.CodeUnavailable {
		return nil, 0, err
	}
	if end < 0 {
		i := bytes.Index(p.b[start:], []byte("endstream"))
		if i < 0 {
			return nil, 0, errMalformed("a stream has no end")
		}
		end = start + i
	}
	return pdfStream{dict: dict, raw: p.b[start:end]}, num, nil
}
