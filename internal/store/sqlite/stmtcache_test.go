package sqlite_test

import (
	"context"
	"testing"

	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// A cached statement is lent to one use at a time: the same SQL run again
// while its first rows are still being read gets its own statement, and
// both read what they should; run again afterwards it is reused and still
// right.
func TestStatementCacheNestedUse(t *testing.T) {
	t.Parallel()
	s := open(t, store.Options{}).(*sqlite.Store)
	ctx := context.Background()
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	const q = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) SELECT i FROM n`
	outer, err := tx.QueryContext(ctx, q, 3)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for outer.Next() {
		var i int
		if err := outer.Scan(&i); err != nil {
			t.Fatal(err)
		}
		var inner int
		rows, err := tx.QueryContext(ctx, q, 5)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			inner++
		}
		rows.Close()
		if inner != 5 {
			t.Fatalf("the nested run read %d rows, want 5", inner)
		}
		got = append(got, i)
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	outer.Close()
	if len(got) != 3 || got[0] != 1 || got[2] != 3 {
		t.Fatalf("the outer run read %v, want [1 2 3]", got)
	}
	for range 3 {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM (`+q+`)`, 7).Scan(&n); err != nil || n != 7 {
			t.Fatalf("reused statement counted %d, %v; want 7", n, err)
		}
	}
}
