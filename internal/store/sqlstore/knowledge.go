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

// matchExpr is the dialect's full-text query for "any of terms": on
// SQLite an FTS5 MATCH expression that also requires the bot's own token in
// the index's bot column (so FTS5 walks only that bot's postings) and any
// of the terms, quoted, in the body (each string still goes through the
// porter tokenizer, so "refunds" finds "refund"); on PostgreSQL a
// to_tsquery disjunction (each word stemmed by the english configuration,
// stop words dropped), the bot being the other key of the same GIN index.
// Terms are letters and digits only, and so is the bot token, so neither
// syntax can be escaped.
func (s *Store) matchExpr(bot palisade.BotID, terms []string) string {
	if s.d.Dialect() == store.DialectPostgres {
		return strings.Join(terms, " | ")
	}
	q := make([]string, len(terms))
	for i, t := range terms {
		q[i] = `"` + t + `"`
	}
	return `bot : "` + ftsBotToken(bot) + `" AND body : (` + strings.Join(q, " OR ") + `)`
}

// ftsBotToken is how the SQLite full-text index's bot column holds a bot
// id: without the underscore, as one token (the triggers of migration 21
// write it the same way). Anything but a letter or digit is dropped, so
// the token cannot carry query syntax whatever the id.
func ftsBotToken(bot palisade.BotID) string {
	return strings.Map(func(r rune) rune {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return -1
	}, string(bot))
}

// The search queries, one per dialect; both filter on the workspace and the
// bot on the chunks table itself (never only on the index), and join the
// document for its title. On SQLite the bot is also part of the MATCH
// expression (matchExpr), which is what keeps another bot's chunks out of
// the index walk; bm25 weighs the body column only.
const (
	searchSQLite = `SELECT c.id, c.document_id, d.title, c.ordinal, c.body, -bm25(chunks_fts, 1.0, 0.0) AS score
		FROM chunks_fts
		JOIN chunks c ON c.id = chunks_fts.chunk_id
		JOIN documents d ON d.id = c.document_id AND d.workspace_id = c.workspace_id
		WHERE chunks_fts MATCH $1 AND c.workspace_id = $2 AND c.bot_id = $3
		ORDER BY score DESC, c.document_id, c.ordinal
		LIMIT $4`
	// PostgreSQL: the chunks are found first, in a materialized step whose
	// only ways into chunks are the bot's indexes (chunks_bot_tsv, or
	// chunks_bot), and only then joined to their documents; joined in one
	// step, the planner may start from the workspace's documents instead
	// and read every chunk of every bot of the workspace.
	searchPostgres = `WITH hits AS MATERIALIZED (
			SELECT c.id, c.document_id, c.ordinal, c.body, ts_rank_cd(c.tsv, q)::float8 AS score
			FROM chunks c CROSS JOIN to_tsquery('english', $1) AS q
			WHERE c.workspace_id = $2 AND c.bot_id = $3 AND c.tsv @@ q)
		SELECT h.id, h.document_id, d.title, h.ordinal, h.body, h.score
		FROM hits h
		JOIN documents d ON d.id = h.document_id AND d.workspace_id = $2
		ORDER BY h.score DESC, h.document_id, h.ordinal
		LIMIT $4`
)

// SearchQuery returns the dialect's search statement and its arguments,
// for tests that look at its plan.
func (s *Store) SearchQuery(scope palisade.Scope, bot palisade.BotID, terms []string, limit int) (string, []any) {
	q := searchSQLite
	if s.d.Dialect() == store.DialectPostgres {
		q = searchPostgres
	}
	return q, []any{s.matchExpr(bot, searchTerms(terms)), string(scope.Workspace()), string(bot), limit}
}

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
		q, args := s.SearchQuery(scope, bot, terms, limit)
		rows, err := tx.Query(ctx, q, args...)
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
