package knowledge_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/docparse"
	"github.com/palisadehq/palisade/internal/docparse/docparsetest"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// TestAddExtractsThroughTheHook: with Extract set, every document — text
// given as JSON as well as files — is handed to it with its bot, and the
// service parses nothing itself: what the hook returns is what is indexed.
func TestAddExtractsThroughTheHook(t *testing.T) {
	t.Parallel()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "k.db"), store.Options{Sealer: sealtest.NewKeyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ws, err := s.CreateWorkspace(t.Context(), store.CreateWorkspaceParams{Name: "K", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	scope := palisade.ScopeFor(ws.ID)
	b, err := s.CreateBot(t.Context(), scope, palisade.Bot{Name: "B", Model: "m", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	svc := &knowledge.Service{Store: s, Now: time.Now,
		Extract: func(ctx context.Context, bot palisade.BotID, mediaType string, body []byte) (docparse.Document, error) {
			if bot != b.ID {
				t.Errorf("Extract for bot %s, want %s", bot, b.ID)
			}
			seen = append(seen, mediaType)
			return docparse.Document{Title: "From the worker", Text: "worker text about " + mediaType}, nil
		}}
	docs := []knowledge.NewDocument{
		{Title: "Plain", Content: "plain", ContentType: knowledge.TypePlain},
		{Title: "Markdown", Content: "# md", ContentType: knowledge.TypeMarkdown},
		{Title: "HTML", Content: "<p>html</p>", ContentType: knowledge.TypeHTML},
		{ContentType: knowledge.TypePDF, File: docparsetest.PDF("P", []string{"pdf"}, docparsetest.PDFOptions{})},
		{ContentType: knowledge.TypeDOCX, File: []byte("not even a zip: the hook decides")},
	}
	for _, d := range docs {
		doc, err := svc.Add(t.Context(), scope, b.ID, d)
		if err != nil {
			t.Fatalf("%s: %v", d.ContentType, err)
		}
		if d.Title == "" && doc.Title != "From the worker" {
			t.Errorf("%s: title %q, want the extracted one", d.ContentType, doc.Title)
		}
	}
	if len(seen) != len(docs) {
		t.Fatalf("Extract saw %v, want every one of %d documents", seen, len(docs))
	}
	passages, err := s.SearchChunks(t.Context(), scope, b.ID, []string{"worker"}, 10)
	if err != nil || len(passages) != len(docs) {
		t.Fatalf("indexed passages: %v, %v", passages, err)
	}
	// A refusal of the hook reaches the caller as it was.
	svc.Extract = func(context.Context, palisade.BotID, string, []byte) (docparse.Document, error) {
		return docparse.Document{}, palisade.Errorf(palisade.CodeTooLarge, "the worker says no")
	}
	if _, err := svc.Add(t.Context(), scope, b.ID, docs[0]); palisade.ErrorCode(err) != palisade.CodeTooLarge {
		t.Fatalf("refusal: %v", err)
	}
}
