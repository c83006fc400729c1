package sqlite_test

import (
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// TestFTSFollowsChunks checks that the FTS5 index holds exactly the chunks
// that exist, whichever way they go: a document deleted, a bot deleted or a
// whole workspace deleted by cascade. A stale entry would be a passage of a
// deleted tenant still lying in the index.
func TestFTSFollowsChunks(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	for _, how := range []string{"document", "bot", "workspace"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			s := open(t, store.Options{}).(*sqlite.Store)
			ctx := t.Context()
			ws, err := s.CreateWorkspace(ctx, store.CreateWorkspaceParams{Name: "A", Now: now})
			if err != nil {
				t.Fatal(err)
			}
			scope := palisade.ScopeFor(ws.ID)
			bot, err := s.CreateBot(ctx, scope, palisade.Bot{Name: "b", CreatedAt: now})
			if err != nil {
				t.Fatal(err)
			}
			doc, err := s.CreateDocument(ctx, scope, store.CreateDocumentParams{BotID: bot.ID, Title: "t", ContentType: "text/plain",
				Chunks: []string{"alpha beta", "gamma delta"}, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			count := func() int {
				t.Helper()
				var n int
				if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM chunks_fts`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := count(); n != 2 {
				t.Fatalf("index holds %d entries after upload, want 2", n)
			}
			switch how {
			case "document":
				err = s.DeleteDocument(ctx, scope, bot.ID, doc.ID)
			case "bot":
				err = s.DeleteBot(ctx, scope, bot.ID)
			case "workspace":
				err = s.DeleteWorkspace(ctx, scope, store.AuditEntry{Actor: "cli", Outcome: "success", CreatedAt: time.Now()},
					func(store.AuditEntry) []byte { return []byte("hash") })
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := count(); n != 0 {
				t.Fatalf("index holds %d entries after deleting the %s, want 0", n, how)
			}
		})
	}
}
