package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/palisadehq/palisade/internal/palisade"
)

// TestKeyLookupSeesOnlyItsCreatorsMembership: raw SQL as the runtime role,
// scoped only by an API key's lookup, sees that key and the one membership
// of its creator in the key's workspace: not the creator's other
// memberships, not other members, and nothing to write. A lookup of
// another prefix sees no membership at all.
func TestKeyLookupSeesOnlyItsCreatorsMembership(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	adminURL, appURL, _ := setup(t)
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	wsA, wsB := string(palisade.NewWorkspaceID()), string(palisade.NewWorkspaceID())
	ann, bob := string(palisade.NewUserID()), string(palisade.NewUserID())
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users (id, email, created_at, updated_at) VALUES ($1, $1||'@example.com', now(), now()), ($2, $2||'@example.com', now(), now())`, []any{ann, bob}},
		{`INSERT INTO workspaces (id, name, created_at) VALUES ($1, 'a', now()), ($2, 'b', now())`, []any{wsA, wsB}},
		{`INSERT INTO memberships (id, workspace_id, user_id, role, created_at) VALUES
			($1||'ann', $1, $3, 'editor', now()), ($1||'bob', $1, $4, 'owner', now()), ($2||'ann', $2, $3, 'owner', now())`, []any{wsA, wsB, ann, bob}},
		{`INSERT INTO api_keys (id, workspace_id, name, prefix, hash, created_by, created_at) VALUES
			($1||'k', $1, 'k', 'annkeyaaaaaa', '\x00', $2, now()), ($1||'c', $1, 'c', 'clikeyaaaaaa', '\x00', '', now())`, []any{wsA, ann}},
	} {
		if _, err := admin.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("seeding: %v", err)
		}
	}
	app, err := pgx.Connect(ctx, appURL)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(context.Background())
	inLookup := func(lookup string, fn func(tx pgx.Tx)) {
		t.Helper()
		tx := begin(t, app, authentic(app, scopeSettings{lookup: lookup}))
		defer tx.Rollback(ctx)
		fn(tx)
	}
	ids := func(tx pgx.Tx) []string {
		t.Helper()
		rows, err := tx.Query(ctx, `SELECT id FROM memberships ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	inLookup("key:annkeyaaaaaa", func(tx pgx.Tx) {
		if got := ids(tx); len(got) != 1 || got[0] != wsA+"ann" {
			t.Errorf("lookup of ann's key sees memberships %v, want only %s", got, wsA+"ann")
		}
		tag, err := tx.Exec(ctx, `UPDATE memberships SET role = 'owner'`)
		if err != nil || tag.RowsAffected() != 0 {
			t.Errorf("lookup scope could update memberships: %d rows (%v)", tag.RowsAffected(), err)
		}
	})
	for _, lookup := range []string{"key:clikeyaaaaaa", "key:unknownaaaa", "bot:" + wsA + "ann", ""} {
		inLookup(lookup, func(tx pgx.Tx) {
			if got := ids(tx); len(got) != 0 {
				t.Errorf("lookup %q sees memberships %v, want none", lookup, got)
			}
		})
	}
}
