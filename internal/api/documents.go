package api

import (
	"net/http"
	"time"

	"github.com/palisadehq/palisade/internal/bot"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
)

// documentInput is the body of POST /api/v1/bots/{botId}/documents.
type documentInput struct {
	Title       string `json:"title"`
	Content     string `json:"content"`
	ContentType string `json:"content_type"`
}

// documentJSON is a document as the API shows it; its text is not echoed.
type documentJSON struct {
	ID          palisade.DocumentID `json:"id"`
	BotID       palisade.BotID      `json:"bot_id"`
	Title       string              `json:"title"`
	ContentType string              `json:"content_type"`
	SizeBytes   int64               `json:"size_bytes"`
	Chunks      int                 `json:"chunks"`
	CreatedAt   time.Time           `json:"created_at"`
}

func toDocumentJSON(d palisade.Document) documentJSON {
	return documentJSON{ID: d.ID, BotID: d.BotID, Title: d.Title, ContentType: d.ContentType, SizeBytes: d.SizeBytes,
		Chunks: d.Chunks, CreatedAt: d.CreatedAt}
}

func (a *API) createDocument(w http.ResponseWriter, r *http.Request) error {
	var in documentInput
	if err := httpx.DecodeJSON(r, &in, httpx.DefaultMaxBody); err != nil {
		return err
	}
	d, err := a.Bots.AddDocument(r.Context(), caller(r), botID(r),
		knowledge.NewDocument{Title: in.Title, Content: in.Content, ContentType: in.ContentType})
	if err != nil {
		return err
	}
	return writeCreated(w, r, string(d.ID), toDocumentJSON(d))
}

func (a *API) listDocuments(w http.ResponseWriter, r *http.Request) error {
	page, err := readPage(r, "documents", palisade.PrefixDocument)
	if err != nil {
		return err
	}
	// One page from the store, one more than asked for to learn whether
	// another follows: a bot's documents are never read whole.
	p := bot.DocumentPageParams{Limit: page.Limit + 1}
	if page.After != nil {
		p.After = &bot.DocumentCursor{CreatedAt: page.After.Time, ID: palisade.DocumentID(page.After.ID)}
	}
	docs, err := a.Bots.DocumentsPage(r.Context(), scope(r), botID(r), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, storePage(page, docs, func(d palisade.Document) cursor {
		return cursor{List: "documents", Time: d.CreatedAt, ID: string(d.ID)}
	}, toDocumentJSON))
}

func documentID(r *http.Request) palisade.DocumentID {
	return palisade.DocumentID(r.PathValue("documentId"))
}

func (a *API) getDocument(w http.ResponseWriter, r *http.Request) error {
	d, err := a.Bots.Document(r.Context(), scope(r), botID(r), documentID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toDocumentJSON(d))
}

func (a *API) deleteDocument(w http.ResponseWriter, r *http.Request) error {
	if err := a.Bots.DeleteDocument(r.Context(), caller(r), botID(r), documentID(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
