//go:build linux

package knowledge_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/docparse"
	"github.com/palisadehq/palisade/internal/docparse/docparsetest"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/sandbox"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// TestMain lets the test binary be a bot worker, as palisade is: the pool
// re-executes /proc/self/exe with "worker".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		fs := flag.NewFlagSet("worker", flag.ExitOnError)
		c := sandbox.WorkerFlags(fs)
		_ = fs.Parse(os.Args[2:])
		if err := sandbox.WorkerMain(context.Background(), *c, map[string]sandbox.Handler{
			knowledge.ExtractKind: knowledge.ExtractHandler,
			// A compromised worker answering more text than the limits
			// allow, or no JSON.
			"extract-lies": func(context.Context, *sandbox.Task) ([]byte, error) {
				return []byte(`{"title":"t","text":"` + strings.Repeat("x", 300) + `"}`), nil
			},
			"extract-garbles": func(context.Context, *sandbox.Task) ([]byte, error) {
				return []byte("{\"title\":"), nil
			},
		}); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func docx(t *testing.T, documentXML string) []byte {
	t.Helper()
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	w, err := z.Create("word/document.xml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(documentXML)); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

const docxNS = `<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>`

// kindRunner runs every task as kind, to stand in a lying worker.
type kindRunner struct {
	p    *sandbox.Pool
	kind string
}

func (k kindRunner) Run(ctx context.Context, key, _ string, payload []byte, onProgress func([]byte) error) ([]byte, error) {
	return k.p.Run(ctx, key, k.kind, payload, onProgress)
}

// TestExtractInWorker: documents are parsed in the bot's confined worker
// with the same result as in process; hostile documents (deeply nested
// HTML at the size limit, a DOCX zip bomb, a PDF decompression bomb,
// deeply nested PDF objects, a malformed xref) end in the same clear error
// within their limits; what a worker answers is checked.
func TestExtractInWorker(t *testing.T) {
	ctx := t.Context()
	pool, err := sandbox.New(ctx, sandbox.Options{Mode: sandbox.ModeRequire, TaskTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	lim := docparse.Limits{MaxInputBytes: 1 << 20}
	inWorker := knowledge.WorkerExtract(pool, func() docparse.Limits { return lim })
	bot := palisade.NewBotID()

	bomb := func() []byte {
		// 100 MiB of one character, compressed to a few hundred KiB.
		return docx(t, docxNS+"<w:p><w:r><w:t>"+strings.Repeat("a", 100<<20)+"</w:t></w:r></w:p></w:body></w:document>")
	}()
	// A content stream inflating to 256 MiB.
	inflated := docparsetest.Deflate(make([]byte, 256<<20))
	pdfBomb := docparsetest.Assemble([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>",
		fmt.Sprintf("<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream", len(inflated), inflated),
	}, "/Root 1 0 R")
	cases := []struct {
		name, mediaType string
		body            []byte
	}{
		{"plain", docparse.TypePlain, []byte("Refunds are issued within 14 days.")},
		{"markdown", docparse.TypeMarkdown, []byte("# Refunds\n\nWithin 14 days.")},
		{"html", docparse.TypeHTML, []byte("<title>Refunds</title><h1>Refunds</h1><script>steal()</script><p>Within 14 days.</p>")},
		{"docx", docparse.TypeDOCX, docx(t, docxNS+"<w:p><w:r><w:t>Within 14 days.</w:t></w:r></w:p></w:body></w:document>")},
		{"html nested at the size limit", docparse.TypeHTML, []byte(strings.Repeat("<div>", (1<<20)/5))},
		{"docx zip bomb", docparse.TypeDOCX, bomb},
		{"not a docx", docparse.TypeDOCX, []byte("PK\x03\x04 broken")},
		{"pdf", docparse.TypePDF, docparsetest.PDF("Refunds", []string{"Within 14 days."}, docparsetest.PDFOptions{Compress: true})},
		{"pdf decompression bomb", docparse.TypePDF, pdfBomb},
		{"pdf nested a quarter million deep", docparse.TypePDF, docparsetest.PDF("Nested", []string{"text"},
			docparsetest.PDFOptions{ExtraCatalog: "/Deep " + strings.Repeat("[", 1<<18) + strings.Repeat("]", 1<<18)})},
		{"pdf with a malformed xref", docparse.TypePDF, []byte(strings.Replace(string(docparsetest.PDF("x", []string{"y"}, docparsetest.PDFOptions{})),
			"startxref", "startxxxx", 1))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, wantErr := docparse.Extract(ctx, tc.mediaType, tc.body, lim)
			start := time.Now()
			got, err := inWorker(ctx, bot, tc.mediaType, tc.body)
			t.Logf("%s in the worker: %v (%v)", tc.name, err, time.Since(start))
			if wantErr != nil {
				var pw, pg *palisade.Error
				if !errors.As(wantErr, &pw) || !errors.As(err, &pg) || pw.Code != pg.Code || pw.Message != pg.Message {
					t.Fatalf("in the worker %v, in process %v", err, wantErr)
				}
				return
			}
			if err != nil || got != want {
				t.Fatalf("in the worker %+v, %v; in process %+v", got, err, want)
			}
		})
	}

	for _, kind := range []string{"extract-lies", "extract-garbles"} {
		lying := knowledge.WorkerExtract(kindRunner{pool, kind}, func() docparse.Limits { return docparse.Limits{MaxTextBytes: 100} })
		_, err := lying(ctx, bot, docparse.TypePlain, []byte("x"))
		var pe *palisade.Error
		if !errors.As(err, &pe) || pe.Code != palisade.CodeInvalid {
			t.Fatalf("%s: %v, want the answer refused", kind, err)
		}
	}

	// Through the knowledge service: the document is indexed and found.
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), store.Options{Sealer: sealtest.NewKeyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ws, err := s.CreateWorkspace(ctx, store.CreateWorkspaceParams{Name: "A", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	scope := palisade.ScopeFor(ws.ID)
	b, err := s.CreateBot(ctx, scope, palisade.Bot{Name: "Helper", Model: "gpt-4o-mini", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	svc := &knowledge.Service{Store: s, Now: time.Now}
	svc.Extract = knowledge.WorkerExtract(pool, svc.Limits)
	if _, err := svc.Add(ctx, scope, b.ID, knowledge.NewDocument{ContentType: docparse.TypeDOCX,
		File:  docx(t, docxNS+"<w:p><w:r><w:t>Parcels leave the warehouse within two business days.</w:t></w:r></w:p></w:body></w:document>"),
		Title: "Shipping"}); err != nil {
		t.Fatal(err)
	}
	srcs, err := svc.Retrieve(ctx, scope, b.ID, "when does my parcel leave the warehouse", 3)
	if err != nil || len(srcs) == 0 || srcs[0].Title != "Shipping" {
		t.Fatalf("retrieve: %+v, %v", srcs, err)
	}
}

// FuzzExtractInWorker runs every parser in a confined worker on arbitrary
// bytes: the worker's answer is the in-process one, its errors the same
// public errors, and no input takes the worker, or the test, down.
func FuzzExtractInWorker(f *testing.F) {
	types := docparse.Types()
	for i, seed := range []string{
		"Refunds are issued within 14 days.",
		"# Refunds\n\nWithin *14* days.",
		"<title>Refunds</title><h1>Refunds</h1><script>x()</script><p>Within 14 days.</p>",
		"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF",
		"PK\x03\x04",
	} {
		f.Add(uint8(i), []byte(seed))
	}
	f.Add(uint8(2), []byte(strings.Repeat("<div>", 300)))
	pool, err := sandbox.New(context.Background(), sandbox.Options{Mode: sandbox.ModeRequire, TaskTimeout: 20 * time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(pool.Close)
	lim := docparse.Limits{MaxInputBytes: 1 << 20}
	inWorker := knowledge.WorkerExtract(pool, func() docparse.Limits { return lim })
	bot := palisade.NewBotID()
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		mediaType := types[int(kind)%len(types)]
		want, wantErr := docparse.Extract(context.Background(), mediaType, body, lim)
		got, err := inWorker(context.Background(), bot, mediaType, body)
		if wantErr != nil {
			var pw, pg *palisade.Error
			if !errors.As(wantErr, &pw) || !errors.As(err, &pg) || pw.Code != pg.Code || pw.Message != pg.Message {
				t.Fatalf("%s: in the worker %v, in process %v", mediaType, err, wantErr)
			}
			return
		}
		if err != nil || got != want {
			t.Fatalf("%s: in the worker %+v, %v; in process %+v", mediaType, got, err, want)
		}
	})
}
