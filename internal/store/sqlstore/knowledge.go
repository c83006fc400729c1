package sqlstore

import (
	"context"
	"strings"
	"unicode"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// ---- knowledge ----

// Bounds on a search: more terms only slow the query down without making
// the ranking better, and a term longer than this is not a word.
const (
	maxSearchTerms = 32
	maxTermLen     = 64
	maxSearchLimit = 50
)

// searchTerms keeps only letters and digits of each term, lower-cased,
// deduplicated and bounded. It is the last line of defence: what it returns
// cannot carry FTS5 or tsquery syntax (quotes, operators, prefixes, column
// filters), whatever the caller passed.
func searchTerms(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range in {
		t = strings.Map(func(r rune) rune {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				return unicode.ToLower(r)
			}
			return -1
		}, t)
		if t == "" || len([]rune(t)) > maxTermLen || seen[t] {
			continue
		}
		seen[t] = true
		out = append(out, t)
		if len(out) == maxSearchTerms {
			break
		}
	}
	return out
}

// matchExpr is the dialect's full-text query for "any of terms": an FTS5
// MATCH expression of quoted strings on SQLite (each string still goes
// through the porter tokenizer, so "refunds" finds "refund"), a to_tsquery
// disjunction on PostgreSQL (each word stemmed by the english
// configuration, stop words dropped). Terms are letters and digits only, so
// neither syntax can be escaped.
func (s *Store) matchExpr(terms []string) string {
	if s.d.Dialect() == store.DialectPostgres {
		return strings.Join(terms, " | ")
	}
	q := make([]string, len(terms))
	for i, t := range terms {
		q[i] = `"` + t + `"`
	}
	return strings.Join(q, " OR ")
}

// The search queries, one per dialect; both filter on the workspace and the
// bot on the chunks table itself (never only on the index), and join the
// document for its title.
const (
	searchSQLite = `SELECT c.id, c.document_id, d.title, c.ordinal, c.body, -bm25(chunks_fts) AS score
		FROM chunks_fts
		JOIN chunks c ON c.id = chunks_fts.chunk_id
		JOIN documents d ON d.id = c.document_id AND d.workspace_id = c.workspace_id
		WHERE chunks_fts MATCH $1 AND c.workspace_id = $2 AND c.bot_id = $3
		ORDER BY score DESC, c.document_id, c.ordinal
		LIMIT $4`
	searchPostgres = `SELECT c.id, c.document_id, d.title, c.ordinal, c.body, ts_rank_cd(c.tsv, q)::float8 AS score
		FROM chunks c
		JOIN documents d ON d.id = c.document_id AND d.workspace_id = c.workspace_id
		CROSS JOIN to_tsquery('english', $1) AS q
		WHERE c.workspace_id = $2 AND c.bot_id = $3 AND c.tsv @@ q
		ORDER BY score DESC, c.document_id, c.ordinal
		LIMIT $4`
)

// botInScope fails with ErrNotFound unless the bot belongs to the scope.
func botInScope(ctx context.Context, tx Tx, scope palisade.Scope, bot palisade.BotID) error {
	var one int
	return tx.QueryRow(ctx, `SELECT 1 FROM bots WHERE workspace_id = $1 AND id = $2`, string(scope.Workspace()), string(bot)).Scan(&one)
}

func (s *Store) CreateDocument(ctx context.Context, scope palisade.Scope, p store.CreateDocumentParams) (palisade.Document, error) {
	d := palisade.Document{ID: palisade.NewDocumentID(), WorkspaceID: scope.Workspace(), BotID: p.BotID, Title: p.Title,
		ContentType: p.ContentType, SizeBytes: p.SizeBytes, Chunks: len(p.Chunks), CreatedAt: dbTime(p.Now)}
	err := s.tenant(ctx, scope, func(tx Tx) error {
		if err := botInScope(ctx, tx, scope, p.BotID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO documents (id, workspace_id, bot_id, title, content_type, size_bytes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			string(d.ID), string(d.WorkspaceID), string(d.BotID), d.Title, d.ContentType, d.SizeBytes, d.CreatedAt); err != nil {
			return err
		}
		// On SQLite a trigger copies each chunk into chunks_fts; on
		// PostgreSQL the tsv column is generated.
		for i, body := range p.Chunks {
			if _, err := tx.Exec(ctx, `INSERT INTO chunks (id, workspace_id, document_id, bot_id, ordinal, body) VALUES ($1, $2, $3, $4, $5, $6)`,
				palisade.NewID(palisade.PrefixChunk), string(d.WorkspaceID), string(d.ID), string(d.BotID), i, body); err != nil {
				return err
			}
		}
		return nil
	})
	return d, s.mapErr(err, "creating document")
}

func (s *Store) ListDocuments(ctx context.Context, scope palisade.Scope, bot palisade.BotID) ([]palisade.Document, error) {
	var out []palisade.Document
	err := s.tenant(ctx, scope, func(tx Tx) error {
		if err := botInScope(ctx, tx, scope, bot); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT d.id, d.title, d.content_type, d.size_bytes, d.created_at,
			(SELECT COUNT(*) FROM chunks c WHERE c.workspace_id = d.workspace_id AND c.document_id = d.id)
			FROM documents d WHERE d.workspace_id = $1 AND d.bot_id = $2 ORDER BY d.created_at, d.id`,
			string(scope.Workspace()), string(bot))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			d := palisade.Document{WorkspaceID: scope.Workspace(), BotID: bot}
			var id string
			if err := rows.Scan(&id, &d.Title, &d.ContentType, &d.SizeBytes, timeScan{&d.CreatedAt}, &d.Chunks); err != nil {
				return err
			}
			d.ID = palisade.DocumentID(id)
			out = append(out, d)
		}
		return rows.Err()
	})
	return out, s.mapErr(err, "listing documents")
}

func (s *Store) DeleteDocument(ctx context.Context, scope palisade.Scope, bot palisade.BotID, id palisade.DocumentID) error {
	err := s.tenant(ctx, scope, func(tx Tx) error {
		n, err := tx.Exec(ctx, `DELETE FROM documents WHERE workspace_id = $1 AND bot_id = $2 AND id = $3`,
			string(scope.Workspace()), string(bot), string(id))
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return s.mapErr(err, "deleting document")
}

func (s *Store) SearchChunks(ctx context.Context, scope palisade.Scope, bot palisade.BotID, terms []string, limit int) ([]palisade.Passage, error) {
	terms = searchTerms(terms)
	if limit <= 0 || limit > maxSearchLimit {
		limit = maxSearchLimit
	}
	var out []palisade.Passage
	err := s.tenant(ctx, scope, func(tx Tx) error {
		// The bot is checked even when there is nothing to search for, so
		// an unknown bot reads the same whatever the query.
		if err := botInScope(ctx, tx, scope, bot); err != nil {
			return err
		}
		if len(terms) == 0 {
			return nil
		}
		q := searchSQLite
		if s.d.Dialect() == store.DialectPostgres {
			q = searchPostgres
		}
		rows, err := tx.Query(ctx, q, s.matchExpr(terms), string(scope.Workspace()), string(bot), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p palisade.Passage
			var doc string
			if err := rows.Scan(&p.ChunkID, &doc, &p.Title, &p.Ordinal, &p.Body, &p.Score); err != nil {
				return err
			}
			p.DocumentID = palisade.DocumentID(doc)
			out = append(out, p)
		}
		return rows.Err()
	})
	return out, s.mapErr(err, "searching knowledge")
}
