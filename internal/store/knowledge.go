package store

import (
	"context"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// Knowledge stores a bot's documents, their chunks and the full-text index
// over them (FTS5 on SQLite, a tsvector column on PostgreSQL). Every read is
// scoped to one workspace and one bot: a search never returns another bot's
// passage, and another workspace's bot reads as not found.
type Knowledge interface {
	// CreateDocument stores a document and its chunks, indexed, in one
	// transaction. It returns ErrNotFound when the bot is not in the scope.
	CreateDocument(ctx context.Context, scope palisade.Scope, p CreateDocumentParams) (palisade.Document, error)
	// ListDocuments lists a bot's documents, oldest first.
	ListDocuments(ctx context.Context, scope palisade.Scope, bot palisade.BotID) ([]palisade.Document, error)
	// ListDocumentsPage returns up to p.Limit (1..MaxPage+1, bounded) of
	// a bot's documents after p.After, oldest first by creation time then
	// id: one keyset page, whatever the bot holds. It returns ErrNotFound
	// when the bot is not in the scope.
	ListDocumentsPage(ctx context.Context, scope palisade.Scope, bot palisade.BotID, p ListDocumentsParams) ([]palisade.Document, error)
	// DeleteDocument removes a document with its chunks and index entries.
	DeleteDocument(ctx context.Context, scope palisade.Scope, bot palisade.BotID, id palisade.DocumentID) error
	// SearchChunks returns at most limit chunks of the bot matching any of
	// terms, best first. Terms are plain words (letters and digits only;
	// anything else is dropped by the implementation too, so no term can
	// carry query syntax); no usable term returns nothing.
	SearchChunks(ctx context.Context, scope palisade.Scope, bot palisade.BotID, terms []string, limit int) ([]palisade.Passage, error)
}

type CreateDocumentParams struct {
	BotID       palisade.BotID
	Title       string
	ContentType string
	SizeBytes   int64
	// Chunks are the document's text, already sanitised and split, in
	// order.
	Chunks []string
	Now    time.Time
}
