package sqlstore

import (
	"context"
	"encoding/json"
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

// ftsBotToken is how the SQLite full-text index's bot column holds a bot
// id: without the underscore, as one token (the triggers of migration 21
// write it the same way). Anything but an ASCII letter or digit is
// dropped, so the token cannot carry query syntax whatever the id.
func ftsBotToken(bot palisade.BotID) string {
	return strings.Map(func(r rune) rune {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return -1
	}, string(bot))
}

// sqliteMatches returns the FTS5 MATCH expressions of a SQLite search: one
// per term, each requiring the bot's own token in the index's bot column
// beside the term in the body (each term quoted, and still stemmed by the
// porter tokenizer, so "refunds" finds "refund"), and one for the bot
// alone. Terms are letters and digits only, and so is the bot token, so
// the syntax cannot be escaped.
func sqliteMatches(bot palisade.BotID, terms []string) (perTerm []string, botOnly string) {
	botOnly = `bot : "` + ftsBotToken(bot) + `"`
	for _, t := range terms {
		perTerm = append(perTerm, botOnly+` AND body : "`+t+`"`)
	}
	return perTerm, botOnly
}

// The search queries, one per dialect; both filter on the workspace and the
// bot on the chunks table itself (never only on the index), and join the
// document for its title.
const (
	// SQLite: every step reads the full-text index through a MATCH that
	// names the bot, so FTS5 walks only that bot's postings, and no step
	// reads another bot's. That is also why the ranking is not FTS5's
	// bm25: bm25 counts, for every search, each term's entries across the
	// whole index (the neighbour's tens of thousands included). The score
	// is BM25's sum of inverse document frequencies of the terms a chunk
	// holds, counted over the bot's own chunks (term frequency within a
	// chunk, which BM25 saturates quickly, is left out). Hits are carried
	// by the index's rowid and meet their chunks through chunks.fts_rowid,
	// so the index's stored columns are never read.
	searchSQLite = `WITH q AS (SELECT CAST(key AS INTEGER) AS term, value AS m FROM json_each($1)),
		hits AS (SELECT q.term, f.rowid AS rid FROM q JOIN chunks_fts f ON f.chunks_fts MATCH q.m),
		df AS (SELECT term, count(*) AS n FROM hits GROUP BY term),
		total AS (SELECT count(*) AS n FROM chunks_fts WHERE chunks_fts MATCH $2),
		scored AS (SELECT h.rid, sum(ln(1.0 + (total.n - df.n + 0.5) / (df.n + 0.5))) AS score
			FROM hits h JOIN df ON df.term = h.term CROSS JOIN total GROUP BY h.rid)
		SELECT c.id, c.document_id, d.title, c.ordinal, c.body, s.score
		FROM scored s
		JOIN chunks c ON c.fts_rowid = s.rid
		JOIN documents d ON d.id = c.document_id AND d.workspace_id = c.workspace_id
		WHERE c.workspace_id = $3 AND c.bot_id = $4
		ORDER BY s.score DESC, c.document_id, c.ordinal
		LIMIT $5`
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
	terms = searchTerms(terms)
	if s.d.Dialect() == store.DialectPostgres {
		// A to_tsquery disjunction: each word stemmed by the english
		// configuration, stop words dropped; terms are letters and
		// digits only, so the syntax cannot be escaped.
		return searchPostgres, []any{strings.Join(terms, " | "), string(scope.Workspace()), string(bot), limit}
	}
	perTerm, botOnly := sqliteMatches(bot, terms)
	list, _ := json.Marshal(perTerm) // a []string always marshals
	return searchSQLite, []any{string(list), botOnly, string(scope.Workspace()), string(bot), limit}
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
