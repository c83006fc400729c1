package audit_test

import (
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// History lists one workspace's entries newest first, a page at a time,
// with the detail decoded and nothing of another workspace's chain.
func TestHistoryLists(t *testing.T) {
	t.Parallel()
	// The store sets each entry's time: a clock a second on per entry.
	var tick atomic.Int64
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "palisade.db"), store.Options{
		Now: func() time.Time { return t0.Add(time.Duration(tick.Add(1)-1) * time.Second) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var scopes []palisade.Scope
	for _, name := range []string{"A", "B"} {
		ws, err := s.CreateWorkspace(t.Context(), store.CreateWorkspaceParams{Name: name, Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		scopes = append(scopes, palisade.ScopeFor(ws.ID))
	}
	a, b := scopes[0], scopes[1]
	l := audit.New(s, audit.Options{Now: func() time.Time { return t0 }})
	for i, target := range []string{"first", "second", "third"} {
		e := audit.Entry{Actor: "usr_x", Action: audit.ActionBotChanged, Target: target, Outcome: audit.OutcomeSuccess,
			ClientIP: netip.MustParseAddr("192.0.2.1"), RequestID: "req-1"}
		if i == 0 {
			e.Detail = map[string]string{"model": "m1", "name": "Helper"}
		}
		if err := l.Record(t.Context(), a, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Record(t.Context(), b, audit.Entry{Actor: "cli", Action: audit.ActionBotChanged, Target: "theirs", Outcome: audit.OutcomeSuccess}); err != nil {
		t.Fatal(err)
	}
	h := audit.NewHistory(s)
	page, err := h.List(t.Context(), a, audit.ListParams{Limit: 2})
	if err != nil || len(page) != 2 || page[0].Seq != 3 || page[0].Target != "third" || page[1].Seq != 2 {
		t.Fatalf("first page = %+v, %v", page, err)
	}
	if r := page[0]; r.Actor != "usr_x" || r.Action != string(audit.ActionBotChanged) || r.Outcome != "success" || r.IP != "192.0.2.1" ||
		r.RequestID != "req-1" || !r.Time.Equal(t0.Add(2*time.Second).Truncate(time.Microsecond)) || r.ID == "" || r.Detail != nil {
		t.Fatalf("newest record = %+v", r)
	}
	rest, err := h.List(t.Context(), a, audit.ListParams{Before: page[1].Seq, Limit: 2})
	if err != nil || len(rest) != 1 || rest[0].Seq != 1 || rest[0].Detail["model"] != "m1" || rest[0].Detail["name"] != "Helper" {
		t.Fatalf("second page = %+v, %v", rest, err)
	}
	theirs, err := h.List(t.Context(), b, audit.ListParams{})
	if err != nil || len(theirs) != 1 || theirs[0].Target != "theirs" {
		t.Fatalf("workspace B = %+v, %v", theirs, err)
	}
	if _, err := h.List(t.Context(), palisade.Scope{}, audit.ListParams{}); err == nil {
		t.Fatal("a listing without a scope succeeded")
	}
}
