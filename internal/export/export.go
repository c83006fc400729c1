// Package export hands a workspace's data, or a user's own, back to them
// as one JSON document, written as it is read: the store pages through
// each table and every row is encoded and written before the next page is
// read, so no export holds a whole workspace in memory.
//
// Every export is recorded in the audit log before its first byte is
// written, and rate-limited per principal when a limiter is given. It must
// never write a secret: the store hands sealed credentials, keys, token
// hashes and cached responses over as redacted, and this package never
// adds a password hash, a TOTP secret, recovery codes or a session token.
package export

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/store"
)

// Format names the document's layout; Version changes when it does.
const (
	WorkspaceFormat = "palisade.workspace-export"
	UserFormat      = "palisade.account-export"
	Version         = 1
)

// Store is what exports read.
type Store interface {
	store.Exports
	GetWorkspace(ctx context.Context, scope palisade.Scope) (palisade.Workspace, error)
	ListMembersWithUsers(ctx context.Context, scope palisade.Scope) ([]store.MemberWithUser, error)
	GetUser(ctx context.Context, id palisade.UserID) (palisade.User, error)
	ListUserWorkspaces(ctx context.Context, user palisade.UserID) ([]store.UserWorkspace, error)
	ListSessions(ctx context.Context, user palisade.UserID, now time.Time) ([]palisade.Session, error)
	ListAudit(ctx context.Context, scope palisade.Scope, p store.ListAuditParams) ([]store.AuditEntry, error)
	ListPlatformAudit(ctx context.Context, p store.ListAuditParams) ([]store.AuditEntry, error)
}

var _ Store = store.Store(nil)

// Options configure a Service.
type Options struct {
	Store Store
	Audit audit.Recorder
	// Limiter and Policy, when both set, bound how often one principal
	// exports (ratelimit.ClassExport).
	Limiter ratelimit.Limiter
	Policy  ratelimit.Policy
	Now     func() time.Time
}

// Service runs exports.
type Service struct{ o Options }

// New returns a Service.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Audit == nil {
		o.Audit = audit.Discard{}
	}
	return &Service{o: o}
}

// Filename is the name a download of the workspace's export suggests.
func Filename(ws palisade.WorkspaceID, at time.Time) string {
	return fmt.Sprintf("palisade-export-%s-%s.json", ws, at.UTC().Format("20060102T150405Z"))
}

// limit spends one export of the principal's allowance.
func (s *Service) limit(ctx context.Context, actor string) error {
	if s.o.Limiter == nil || s.o.Policy.Limit == 0 {
		return nil
	}
	d, err := s.o.Limiter.Allow(ctx, s.o.Policy, ratelimit.Key("export", actor))
	if err != nil {
		return fmt.Errorf("checking the export rate limit: %w", err)
	}
	if !d.Allowed {
		return palisade.Errorf(palisade.CodeRateLimited, "too many exports; retry after %d seconds", int(d.RetryAfter.Seconds()+0.999))
	}
	return nil
}

// Start checks the rate limit and records the export of the caller's
// workspace in its audit log; only then may Workspace write it. Surfaces
// call it before they commit to a response, so a refusal is still an
// ordinary error.
func (s *Service) Start(ctx context.Context, c palisade.Caller) error {
	if !c.Scope.Valid() {
		return store.ErrNoScope
	}
	if _, err := s.o.Store.GetWorkspace(ctx, c.Scope); err != nil {
		return err
	}
	if err := s.limit(ctx, c.Actor); err != nil {
		return err
	}
	e := audit.Entry{Actor: c.Actor, Action: audit.ActionExportCreated, Target: string(c.Scope.Workspace()), Outcome: audit.OutcomeSuccess,
		ClientIP: c.ClientIP, RequestID: c.RequestID, Detail: map[string]string{"kind": "workspace"}}
	if err := s.o.Audit.Record(ctx, c.Scope, e); err != nil {
		return fmt.Errorf("recording the export: %w", err)
	}
	return nil
}

// Workspace writes the whole workspace of c.Scope to w: its row, its
// members with their e-mail addresses and names, then every table holding
// its rows (bots, channels with their secrets redacted, documents and
// their chunks, conversations and messages, the audit log, keys without
// their secrets, usage, webhooks...), each row an object keyed by column.
// The document ends with "complete": true; a reader that does not find it
// has a cut-short copy. Call Start first.
func (s *Service) Workspace(ctx context.Context, c palisade.Caller, w io.Writer) error {
	ws, err := s.o.Store.GetWorkspace(ctx, c.Scope)
	if err != nil {
		return err
	}
	members, err := s.o.Store.ListMembersWithUsers(ctx, c.Scope)
	if err != nil {
		return fmt.Errorf("exporting members: %w", err)
	}
	jw := newWriter(w)
	jw.raw(`{"format":`)
	jw.value(WorkspaceFormat)
	jw.raw(`,"version":`)
	jw.value(Version)
	jw.raw(`,"exported_at":`)
	jw.value(s.o.Now().UTC())
	jw.raw(`,"workspace":{"id":`)
	jw.value(ws.ID)
	jw.raw(`,"name":`)
	jw.value(ws.Name)
	jw.raw(`},"members":[`)
	for i, m := range members {
		if i > 0 {
			jw.raw(",")
		}
		jw.value(member{UserID: string(m.UserID), Email: m.Email, Name: m.Name, Role: string(m.Role), Since: m.CreatedAt})
	}
	jw.raw(`],"tables":{`)
	sink := &tableSink{w: jw}
	if err := s.o.Store.ExportWorkspace(ctx, c.Scope, sink); err != nil {
		return fmt.Errorf("exporting workspace %s: %w", c.Scope.Workspace(), err)
	}
	sink.close()
	jw.raw(`},"complete":true}` + "\n")
	return jw.flush()
}

type member struct {
	UserID string    `json:"user_id"`
	Email  string    `json:"email"`
	Name   string    `json:"name"`
	Role   string    `json:"role"`
	Since  time.Time `json:"since"`
}

// tableSink writes each table as "name":[{row},{row}...].
type tableSink struct {
	w       *writer
	columns []string
	open    bool
	tables  int
	rows    int
}

func (t *tableSink) Table(name string, columns []string) error {
	t.close()
	if t.tables > 0 {
		t.w.raw(",")
	}
	t.tables++
	t.w.value(name)
	t.w.raw(":[")
	t.columns, t.open, t.rows = columns, true, 0
	return t.w.err
}

func (t *tableSink) Row(values []any) error {
	if t.rows > 0 {
		t.w.raw(",")
	}
	t.rows++
	t.w.raw("{")
	for i, v := range values {
		if i > 0 {
			t.w.raw(",")
		}
		t.w.value(t.columns[i])
		t.w.raw(":")
		t.w.value(v)
	}
	t.w.raw("}")
	return t.w.err
}

func (t *tableSink) close() {
	if t.open {
		t.w.raw("]")
		t.open = false
	}
}

// writer writes JSON pieces through a buffer and keeps the first error.
type writer struct {
	b   *bufio.Writer
	err error
}

func newWriter(w io.Writer) *writer { return &writer{b: bufio.NewWriterSize(w, 64<<10)} }

func (w *writer) raw(s string) {
	if w.err == nil {
		_, w.err = w.b.WriteString(s)
	}
}

func (w *writer) value(v any) {
	if w.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		w.err = fmt.Errorf("encoding an export value: %w", err)
		return
	}
	_, w.err = w.b.Write(b)
}

func (w *writer) flush() error {
	if w.err != nil {
		return w.err
	}
	return w.b.Flush()
}
