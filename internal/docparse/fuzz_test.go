package docparse_test

import (
	"context"
	"errors"
	"testing"

	"github.com/palisadehq/palisade/internal/docparse"
	"github.com/palisadehq/palisade/internal/docparse/docparsetest"
	"github.com/palisadehq/palisade/internal/palisade"
)

// fuzzLimits are small, so a run explores shapes rather than sizes.
var fuzzLimits = docparse.Limits{MaxInputBytes: 1 << 20, MaxTextBytes: 1 << 18, MaxExpandedBytes: 4 << 20, MaxDepth: 64}

// fuzzExtract checks what must hold for any input: the error is a public
// one of the expected codes (a panic would be one too, so the recover is
// what is tested to never be needed: its message is refused here), and
// the text is within its limit.
func fuzzExtract(t *testing.T, mediaType string, body []byte) {
	doc, err := docparse.Extract(context.Background(), mediaType, body, fuzzLimits)
	if err != nil {
		var pe *palisade.Error
		if !errors.As(err, &pe) {
			t.Fatalf("error %v is not a palisade error", err)
		}
		if pe.Code != palisade.CodeInvalid && pe.Code != palisade.CodeTooLarge {
			t.Fatalf("error code %s: %v", pe.Code, err)
		}
		if pe.Message == "the document could not be read as "+mediaType && errors.Unwrap(err) != nil && isPanic(err) {
			t.Fatalf("parser panicked: %v", err)
		}
		return
	}
	if len(doc.Text) > fuzzLimits.MaxTextBytes {
		t.Fatalf("text of %d bytes", len(doc.Text))
	}
}

func isPanic(err error) bool {
	for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
		if len(e.Error()) >= 5 && e.Error()[:5] == "panic" {
			return true
		}
	}
	return false
}

func FuzzPDF(f *testing.F) {
	f.Add(docparsetest.PDF("T", []string{"hello"}, docparsetest.PDFOptions{}))
	f.Add(docparsetest.PDF("T", []string{"hello", "world"}, docparsetest.PDFOptions{Compress: true}))
	f.Add(docparsetest.PDF("T", []string{"hello"}, docparsetest.PDFOptions{Compress: true, Compact: true}))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzExtract(t, docparse.TypePDF, b) })
}

func FuzzDOCX(f *testing.F) {
	f.Add(docparsetest.DOCX("T", []string{"hello"}, docparsetest.DOCXOptions{Heading: "H"}))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzExtract(t, docparse.TypeDOCX, b) })
}

func FuzzHTML(f *testing.F) {
	f.Add([]byte("<title>t</title><p>a<script>x</script><div hidden>h</div>b"))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzExtract(t, docparse.TypeHTML, b) })
}

func FuzzText(f *testing.F) {
	f.Add([]byte("# Title\n\nbody\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzExtract(t, docparse.TypePlain, b)
		fuzzExtract(t, docparse.TypeMarkdown, b)
	})
}
