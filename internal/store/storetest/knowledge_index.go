package storetest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlstore"
)

// neighbourChunks is how many chunks the other workspace's bot holds.
const neighbourChunks = 50_000

// testSearchKeyedByBot proves structurally, not by timing, that one
// tenant's knowledge cannot slow another's search: with another
// workspace's bot holding neighbourChunks chunks of the very words
// searched for, the search of one bot is answered from an index keyed by
// the bot. On SQLite the full-text index holds the bot as an indexed
// column and the MATCH itself (before any join) yields only the bot's
// chunks; on PostgreSQL the plan reads chunks only through an index whose
// first key is bot_id, before and after the table's statistics exist.
func testSearchKeyedByBot(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	mine, other := mustWS(t, s, "Mine"), mustWS(t, s, "Neighbour")
	bot, nb := mustBot(t, s, mine, "mine"), mustBot(t, s, other, "neighbour")
	mustDoc(t, s, mine, bot.ID, "Refunds", "Refunds are issued within 14 days.", "Shipping takes three days.")
	ndoc := mustDoc(t, s, other, nb.ID, "Neighbour", "seed")
	d := rawDriver(t, s)
	err := d.InTx(ctx(t), sqlstore.TxScope{Workspace: other.Workspace()}, func(tx sqlstore.Tx) error {
		_, err := tx.Exec(ctx(t), `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
			INSERT INTO chunks (id, workspace_id, document_id, bot_id, ordinal, body)
			SELECT 'chk_neighbour' || i, $2, $3, $4, i, 'refund shipping days issued within refunds policy number ' || i FROM n`,
			neighbourChunks, string(other.Workspace()), string(ndoc.ID), string(nb.ID))
		return err
	})
	if err != nil {
		t.Fatalf("seeding the neighbour: %v", err)
	}
	sq, ok := s.(interface {
		SearchQuery(palisade.Scope, palisade.BotID, []string, int) (string, []any)
	})
	if !ok {
		t.Fatalf("%T does not expose its search statement", s)
	}
	terms := []string{"refund", "shipping", "days"}
	q, args := sq.SearchQuery(mine, bot.ID, terms, 5)

	if got := search(t, s, mine, bot.ID, terms...); len(got) != 2 {
		t.Fatalf("search with the neighbour present = %+v, want the bot's 2 passages", got)
	}

	switch s.Dialect() {
	case store.DialectSQLite:
		err = d.InTx(ctx(t), sqlstore.TxScope{Workspace: mine.Workspace()}, func(tx sqlstore.Tx) error {
			// The bot is an indexed column of the full-text index.
			var ddl string
			if err := tx.QueryRow(ctx(t), `SELECT sql FROM sqlite_master WHERE name = 'chunks_fts'`).Scan(&ddl); err != nil {
				return err
			}
			if !strings.Contains(ddl, "bot,") || strings.Contains(ddl, "bot UNINDEXED") {
				t.Errorf("chunks_fts does not index its bot column: %s", ddl)
			}
			// Every read of the full-text index is constrained by a MATCH
			// (M in the plan), and chunks are reached only by primary key.
			plan := sqlitePlan(t, tx, q, args)
			fts := 0
			for _, step := range plan {
				if strings.Contains(step, "VIRTUAL TABLE") && (strings.Contains(step, " f ") || strings.Contains(step, "chunks_fts")) {
					fts++
					if !strings.Contains(step, ":M") {
						t.Errorf("the full-text index is read without a MATCH:\n%s", strings.Join(plan, "\n"))
					}
				}
				if step == "SCAN c" || strings.HasPrefix(step, "SCAN c ") || (strings.HasPrefix(step, "SCAN chunks") && !strings.Contains(step, "VIRTUAL TABLE")) {
					t.Errorf("the search scans the chunks table:\n%s", strings.Join(plan, "\n"))
				}
			}
			if fts == 0 {
				t.Errorf("the search does not use the full-text index:\n%s", strings.Join(plan, "\n"))
			}
			// Each MATCH names the bot, an indexed column, so on its own,
			// before any join filters, it yields none of the neighbour's
			// 50,000 entries of the same words: the bot's 2 entries at
			// most.
			var matches []string
			if err := json.Unmarshal([]byte(args[0].(string)), &matches); err != nil {
				return err
			}
			for _, m := range append(matches, args[1].(string)) {
				var n int
				if err := tx.QueryRow(ctx(t), `SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH $1`, m).Scan(&n); err != nil {
					return err
				}
				if n > 2 {
					t.Errorf("the full-text MATCH %q yields %d entries, more than the bot's own 2", m, n)
				}
			}
			return nil
		})
	case store.DialectPostgres:
		check := func(when string) {
			err := d.InTx(ctx(t), sqlstore.TxScope{Workspace: mine.Workspace()}, func(tx sqlstore.Tx) error {
				var raw string
				if err := tx.QueryRow(ctx(t), `EXPLAIN (FORMAT JSON) `+q, args...).Scan(&raw); err != nil {
					return err
				}
				var plan []struct{ Plan pgPlanNode }
				if err := json.Unmarshal([]byte(raw), &plan); err != nil {
					return err
				}
				var scans []pgPlanNode
				collectChunkScans(plan[0].Plan, &scans)
				if len(scans) == 0 {
					t.Errorf("%s: no scan of chunks in the plan:\n%s", when, raw)
				}
				for _, sc := range scans {
					if sc.IndexName == "" {
						t.Errorf("%s: chunks is read by a %s, not through an index keyed by the bot:\n%s", when, sc.NodeType, raw)
						continue
					}
					var def string
					if err := tx.QueryRow(ctx(t), `SELECT indexdef FROM pg_indexes WHERE indexname = $1`, sc.IndexName).Scan(&def); err != nil {
						return err
					}
					if _, cols, _ := strings.Cut(def, "("); !strings.HasPrefix(cols, "bot_id") {
						t.Errorf("%s: chunks is read through %s, whose first key is not the bot: %s", when, sc.IndexName, def)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
		}
		check("without statistics")
		err = d.InTx(ctx(t), sqlstore.TxScope{Workspace: other.Workspace()}, func(tx sqlstore.Tx) error {
			_, err := tx.Exec(ctx(t), `ANALYZE chunks`)
			return err
		})
		if err != nil {
			t.Fatalf("ANALYZE: %v", err)
		}
		check("with statistics")
	default:
		t.Fatalf("unknown dialect %v", s.Dialect())
	}
	if err != nil {
		t.Fatal(err)
	}
}

func sqlitePlan(t *testing.T, tx sqlstore.Tx, q string, args []any) []string {
	t.Helper()
	rows, err := tx.Query(ctx(t), `EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		t.Fatalf("EXPLAIN QUERY PLAN: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		out = append(out, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// pgPlanNode is the part of an EXPLAIN (FORMAT JSON) node the test reads.
type pgPlanNode struct {
	NodeType     string       `json:"Node Type"`
	RelationName string       `json:"Relation Name"`
	IndexName    string       `json:"Index Name"`
	Plans        []pgPlanNode `json:"Plans"`
}

// collectChunkScans gathers the plan's scans of chunks; a bitmap heap
// scan is represented by its bitmap index scans, which name the index.
func collectChunkScans(n pgPlanNode, out *[]pgPlanNode) {
	switch {
	case n.NodeType == "Bitmap Heap Scan" && n.RelationName == "chunks":
		var idx []pgPlanNode
		collectIndexes(n, &idx)
		if len(idx) == 0 {
			*out = append(*out, n)
		}
		*out = append(*out, idx...)
		return
	case n.RelationName == "chunks":
		*out = append(*out, n)
	}
	for _, c := range n.Plans {
		collectChunkScans(c, out)
	}
}

func collectIndexes(n pgPlanNode, out *[]pgPlanNode) {
	if n.NodeType == "Bitmap Index Scan" {
		*out = append(*out, n)
	}
	for _, c := range n.Plans {
		collectIndexes(c, out)
	}
}

// testBotPages walks a workspace's bots a keyset page at a time: oldest
// first by creation time then id (bots created in the same instant are
// ordered by id), no bot repeated or skipped, the limit bounded, and
// another workspace's bots never listed.
func testBotPages(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")
	var want []palisade.BotID
	for i := range 7 {
		created := t0.Add(time.Duration(i/3) * time.Minute) // three bots share each instant
		bt, err := s.CreateBot(ctx(t), a, palisade.Bot{Name: "bot", Model: "gpt-4o-mini", CreatedAt: created})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, bt.ID)
	}
	mustBot(t, s, b, "B's bot")
	// Within one instant the order is by id.
	for i := 0; i < len(want); i += 3 {
		slices.Sort(want[i:min(i+3, len(want))])
	}
	var got []palisade.BotID
	var after *store.BotCursor
	for pages := 0; ; pages++ {
		if pages > len(want) {
			t.Fatalf("paging does not end: %v", got)
		}
		page, err := s.ListBotsPage(ctx(t), a, store.ListBotsParams{After: after, Limit: 2})
		if err != nil {
			t.Fatalf("ListBotsPage: %v", err)
		}
		if len(page) > 2 {
			t.Fatalf("a page of limit 2 holds %d bots", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, bt := range page {
			got = append(got, bt.ID)
		}
		last := page[len(page)-1]
		after = &store.BotCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages walked %v, want %v", got, want)
	}
	// A limit out of range is bounded, never unbounded.
	all, err := s.ListBotsPage(ctx(t), a, store.ListBotsParams{Limit: 0})
	if err != nil || len(all) != len(want) {
		t.Fatalf("ListBotsPage(limit 0) = %d bots, %v", len(all), err)
	}
	if other, err := s.ListBotsPage(ctx(t), b, store.ListBotsParams{Limit: 50}); err != nil || len(other) != 1 || other[0].Name != "B's bot" {
		t.Fatalf("B's page = %+v, %v", other, err)
	}
}
