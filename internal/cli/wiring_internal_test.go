package cli

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// TestAuditRecorderMapsAccountEvents: every account event reaches the
// audit log in its vocabulary, a rate-limited log-in included (the audit log
// knows no "rate_limited" outcome: it is a denial).
func TestAuditRecorderMapsAccountEvents(t *testing.T) {
	t.Parallel()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "p.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := auditRecorder{log: audit.New(s, audit.Options{}), logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, e := range []account.AuditEvent{
		{Actor: "anonymous", Action: "login", Outcome: "rate_limited", IP: "192.0.2.7"},
		{Actor: "anonymous", Action: "login", Outcome: "failure"},
		{Actor: "usr_x", Action: "login", Outcome: "success"},
		{Actor: "usr_x", Action: "password.change", Outcome: "success"},
	} {
		if err := r.Record(t.Context(), e); err != nil {
			t.Fatalf("%+v: %v", e, err)
		}
	}
	got, err := s.ListPlatformAudit(t.Context(), store.ListAuditParams{Limit: 10})
	if err != nil || len(got) != 4 {
		t.Fatalf("platform audit = %+v, %v", got, err)
	}
	want := []struct{ action, outcome string }{ // newest first
		{string(audit.ActionPasswordChanged), "success"},
		{string(audit.ActionLoginSuccess), "success"},
		{string(audit.ActionLoginFailure), "failure"},
		{string(audit.ActionLoginFailure), "denied"},
	}
	for i, w := range want {
		if got[i].Action != w.action || got[i].Outcome != w.outcome {
			t.Errorf("entry %d = %s/%s, want %s/%s", i, got[i].Action, got[i].Outcome, w.action, w.outcome)
		}
	}
}
