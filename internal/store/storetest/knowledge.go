package storetest

import (
	"testing"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

func mustDoc(t *testing.T, s store.Store, scope palisade.Scope, bot palisade.BotID, title string, chunks ...string) palisade.Document {
	t.Helper()
	d, err := s.CreateDocument(ctx(t), scope, store.CreateDocumentParams{BotID: bot, Title: title, ContentType: "text/plain",
		SizeBytes: 100, Chunks: chunks, Now: t0})
	if err != nil {
		t.Fatalf("CreateDocument: %v", err)
	}
	return d
}

func search(t *testing.T, s store.Store, scope palisade.Scope, bot palisade.BotID, terms ...string) []palisade.Passage {
	t.Helper()
	got, err := s.SearchChunks(ctx(t), scope, bot, terms, 5)
	if err != nil {
		t.Fatalf("SearchChunks(%q): %v", terms, err)
	}
	return got
}

// testKnowledge covers documents and retrieval, above all that a search is
// confined to one bot of one workspace.
func testKnowledge(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	a1, a2, b1 := mustBot(t, s, a, "a1"), mustBot(t, s, a, "a2"), mustBot(t, s, b, "b1")

	doc := mustDoc(t, s, a, a1.ID, "Refund policy",
		"Refunds are issued within 14 days of purchase to the original card.",
		"Shipping takes three business days; express shipping takes one day.")
	if doc.Chunks != 2 || doc.BotID != a1.ID || doc.WorkspaceID != a.Workspace() || !doc.CreatedAt.Equal(t0) {
		t.Fatalf("CreateDocument = %+v", doc)
	}
	mustDoc(t, s, a, a2.ID, "Other bot", "Our refund secret for bot two: no refunds ever.")
	mustDoc(t, s, b, b1.ID, "Other tenant", "Tenant B refund secret: refunds in cash.")

	// Stemming: "refunded" finds "Refunds"; only a1's passage comes back.
	got := search(t, s, a, a1.ID, "refunded")
	if len(got) != 1 || got[0].DocumentID != doc.ID || got[0].Title != "Refund policy" || got[0].Ordinal != 0 ||
		got[0].Body != "Refunds are issued within 14 days of purchase to the original card." {
		t.Fatalf("search a1 = %+v", got)
	}
	for _, p := range search(t, s, a, a1.ID, "refund", "secret", "cash", "two", "tenant") {
		if p.DocumentID != doc.ID {
			t.Fatalf("search of a1 returned another bot's passage: %+v", p)
		}
	}
	// The best match ranks first.
	got = search(t, s, a, a1.ID, "shipping", "express", "days")
	if len(got) != 2 || got[0].Ordinal != 1 || got[0].Score < got[1].Score {
		t.Fatalf("ranking = %+v", got)
	}
	// Another workspace cannot search, list or add to a1, and b1 is not
	// found through a's scope.
	_, err := s.SearchChunks(ctx(t), b, a1.ID, []string{"refund"}, 5)
	wantErr(t, err, store.ErrNotFound, "search of A's bot from B")
	_, err = s.SearchChunks(ctx(t), a, b1.ID, []string{"refund"}, 5)
	wantErr(t, err, store.ErrNotFound, "search of B's bot from A")
	_, err = s.ListDocuments(ctx(t), b, a1.ID)
	wantErr(t, err, store.ErrNotFound, "list of A's documents from B")
	_, err = s.CreateDocument(ctx(t), b, store.CreateDocumentParams{BotID: a1.ID, Title: "x", ContentType: "text/plain", Chunks: []string{"x"}, Now: t0})
	wantErr(t, err, store.ErrNotFound, "document for A's bot from B")
	wantErr(t, s.DeleteDocument(ctx(t), b, a1.ID, doc.ID), store.ErrNotFound, "delete of A's document from B")
	wantErr(t, s.DeleteDocument(ctx(t), a, a2.ID, doc.ID), store.ErrNotFound, "delete of a1's document through a2")

	// Query syntax in terms is inert: nothing errors, the words still match.
	for _, terms := range [][]string{
		{`"`, `refund*`}, {`NEAR(refund`, `)`}, {`body:refund`}, {`refund OR`, `AND`, `NOT`}, {`'); DROP TABLE chunks; --`},
		{`refund & !secret`, `<->`, `:*`}, {`^refund`}, {`ünïcödé`, `日本語`},
	} {
		if _, err := s.SearchChunks(ctx(t), a, a1.ID, terms, 5); err != nil {
			t.Fatalf("SearchChunks(%q): %v", terms, err)
		}
	}
	if got := search(t, s, a, a1.ID, `"refund*"`); len(got) != 1 || got[0].DocumentID != doc.ID {
		t.Fatalf("quoted term = %+v", got)
	}
	if got := search(t, s, a, a1.ID); len(got) != 0 {
		t.Fatalf("no terms = %+v", got)
	}
	if got := search(t, s, a, a1.ID, "xylophone"); len(got) != 0 {
		t.Fatalf("unmatched term = %+v", got)
	}

	docs, err := s.ListDocuments(ctx(t), a, a1.ID)
	if err != nil || len(docs) != 1 || docs[0].ID != doc.ID || docs[0].Chunks != 2 || docs[0].Title != "Refund policy" ||
		docs[0].ContentType != "text/plain" || docs[0].SizeBytes != 100 || !docs[0].CreatedAt.Equal(t0) {
		t.Fatalf("ListDocuments = %+v, %v", docs, err)
	}
	// Deleting the document removes it from the index.
	if err := s.DeleteDocument(ctx(t), a, a1.ID, doc.ID); err != nil {
		t.Fatalf("DeleteDocument: %v", err)
	}
	if got := search(t, s, a, a1.ID, "refund", "shipping"); len(got) != 0 {
		t.Fatalf("deleted document still found: %+v", got)
	}
	if docs, _ := s.ListDocuments(ctx(t), a, a1.ID); len(docs) != 0 {
		t.Fatalf("deleted document still listed: %+v", docs)
	}
	// The other tenant's document is untouched throughout.
	if got := search(t, s, b, b1.ID, "cash"); len(got) != 1 || got[0].Title != "Other tenant" {
		t.Fatalf("B's document = %+v", got)
	}
}
