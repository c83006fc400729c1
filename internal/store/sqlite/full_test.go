package sqlite_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// TestDiskFullIsUnavailable: when SQLite cannot grow the database (a full
// disk, here its page limit), a write fails with the unavailable code and
// a message that says so without the cause; what was stored before is
// intact, and writes work again once there is room.
func TestDiskFullIsUnavailable(t *testing.T) {
	t.Parallel()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "palisade.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	ws, err := s.CreateWorkspace(ctx, store.CreateWorkspaceParams{Name: "Full", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	scope := palisade.ScopeFor(ws.ID)
	if _, err := s.CreateBot(ctx, scope, palisade.Bot{Name: "before", Model: "m", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// The store holds one connection, so the limit applies to its writes.
	db := s.DB()
	if _, err := db.ExecContext(ctx, `PRAGMA max_page_count = 1`); err != nil {
		t.Fatal(err)
	}
	var failed error
	for i := range 200 { // until a write needs a new page
		if _, failed = s.CreateBot(ctx, scope, palisade.Bot{Name: "during " + strings.Repeat("x", 500) + string(rune('a'+i%26)), Model: "m", CreatedAt: time.Now()}); failed != nil {
			break
		}
	}
	if code := palisade.ErrorCode(failed); code != palisade.CodeUnavailable {
		t.Fatalf("a write to a full database: code %q (%v), want %q", code, failed, palisade.CodeUnavailable)
	}
	if msg := palisade.ErrorMessage(failed); !strings.Contains(msg, "disk is full") || strings.Contains(msg, "SQLITE") {
		t.Fatalf("the client reads %q", msg)
	}
	if _, err := db.ExecContext(ctx, `PRAGMA max_page_count = 1073741823`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateBot(ctx, scope, palisade.Bot{Name: "after", Model: "m", CreatedAt: time.Now()}); err != nil {
		t.Fatalf("a write once there is room again: %v", err)
	}
	var check string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	bots, err := s.ListBots(ctx, scope)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, b := range bots {
		names[b.Name] = true
	}
	if !names["before"] || !names["after"] {
		t.Fatalf("bots after the outage: %v", names)
	}
	// A failing query on a database that can write is not an outage.
	if _, err := s.GetBot(ctx, scope, "bot_aaaaaaaaaaaaaaaaaaaaaaaaaa"); palisade.ErrorCode(err) == palisade.CodeUnavailable {
		t.Fatalf("a missing bot reads as a full disk: %v", err)
	}
}
