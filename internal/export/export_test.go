package export_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/export"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

func open(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "p.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A user's export holds their own account, memberships and audit entries,
// from the platform chain and their workspaces' chains, and nothing of
// another user's.
func TestUserExport(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := t.Context()
	now := time.Now()
	me, ws, err := s.CreateOwner(ctx, store.CreateOwnerParams{Email: "me@example.com", Name: "Me", PasswordHash: "$argon2id$secret-hash", WorkspaceName: "Mine", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := s.CreateOwner(ctx, store.CreateOwnerParams{Email: "other@example.com", Name: "Other", PasswordHash: "$argon2id$x", WorkspaceName: "Theirs", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	al := audit.New(s, audit.Options{})
	for _, e := range []audit.Entry{
		{Actor: string(me.ID), Action: audit.ActionLoginSuccess, Target: "me-login", Outcome: audit.OutcomeSuccess},
		{Actor: string(other.ID), Action: audit.ActionLoginSuccess, Target: "other-login", Outcome: audit.OutcomeSuccess},
	} {
		if err := al.RecordPlatform(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := al.Record(ctx, palisade.ScopeFor(ws.ID), audit.Entry{Actor: string(me.ID), Action: audit.ActionBotCreated, Target: "my-bot", Outcome: audit.OutcomeSuccess}); err != nil {
		t.Fatal(err)
	}
	svc := export.New(export.Options{Store: s, Audit: al})
	if err := svc.StartUser(ctx, me.ID, palisade.Caller{Actor: string(me.ID)}); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := svc.User(ctx, me.ID, &b); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Account     struct{ Email string }
		Memberships []struct {
			WorkspaceID string `json:"workspace_id"`
		}
		Audit []struct {
			Actor, Action, Target string
		}
		Complete bool
	}
	if err := json.Unmarshal([]byte(b.String()), &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	targets := map[string]bool{}
	for _, e := range doc.Audit {
		if e.Actor != string(me.ID) {
			t.Errorf("entry of actor %s in my export", e.Actor)
		}
		targets[e.Target] = true
	}
	if !doc.Complete || doc.Account.Email != "me@example.com" || len(doc.Memberships) != 1 || !targets["me-login"] || !targets["my-bot"] ||
		!targets[string(me.ID)] {
		t.Fatalf("export: %s", b.String())
	}
	for _, leak := range []string{"other@example.com", "other-login", "argon2id"} {
		if strings.Contains(b.String(), leak) {
			t.Errorf("my export contains %q", leak)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("client went away") }

// A failed write ends the export with an error, not a document that looks
// whole.
func TestWorkspaceExportWriteFailure(t *testing.T) {
	t.Parallel()
	s := open(t)
	_, ws, err := s.CreateOwner(t.Context(), store.CreateOwnerParams{Email: "me@example.com", Name: "Me", PasswordHash: "x", WorkspaceName: "W", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	svc := export.New(export.Options{Store: s})
	c := palisade.Caller{Scope: palisade.ScopeFor(ws.ID), Actor: "cli"}
	if err := svc.Workspace(t.Context(), c, failingWriter{}); err == nil {
		t.Fatal("an export to a failing writer succeeded")
	}
	var b strings.Builder
	if err := svc.Workspace(t.Context(), c, &b); err != nil || !strings.HasSuffix(b.String(), "\"complete\":true}\n") {
		t.Fatalf("export: %v %s", err, b.String())
	}
	if err := svc.Start(t.Context(), palisade.Caller{Scope: palisade.ScopeFor(palisade.NewWorkspaceID()), Actor: "cli"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Start on an unknown workspace: %v", err)
	}
}
