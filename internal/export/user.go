package export

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// StartUser checks the rate limit and records the export of the user's own
// data in the platform audit log; only then may User write it.
func (s *Service) StartUser(ctx context.Context, user palisade.UserID, c palisade.Caller) error {
	if _, err := s.o.Store.GetUser(ctx, user); err != nil {
		return err
	}
	if err := s.limit(ctx, string(user)); err != nil {
		return err
	}
	e := audit.Entry{Actor: string(user), Action: audit.ActionExportCreated, Target: string(user), Outcome: audit.OutcomeSuccess,
		ClientIP: c.ClientIP, RequestID: c.RequestID, Detail: map[string]string{"kind": "account"}}
	if err := s.o.Audit.RecordPlatform(ctx, e); err != nil {
		return fmt.Errorf("recording the export: %w", err)
	}
	return nil
}

type accountJSON struct {
	ID              string     `json:"id"`
	Email           string     `json:"email"`
	Name            string     `json:"name"`
	EmailVerifiedAt *time.Time `json:"email_verified_at"`
	TOTPEnabled     bool       `json:"two_factor_enabled"`
	CreatedAt       time.Time  `json:"created_at"`
}

type membershipJSON struct {
	WorkspaceID   string    `json:"workspace_id"`
	WorkspaceName string    `json:"workspace_name"`
	Role          string    `json:"role"`
	Since         time.Time `json:"since"`
}

type sessionJSON struct {
	ID         string    `json:"id"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	MFAPending bool      `json:"mfa_pending"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

type auditJSON struct {
	WorkspaceID string    `json:"workspace_id,omitempty"`
	Seq         int64     `json:"seq"`
	ID          string    `json:"id"`
	Actor       string    `json:"actor"`
	Action      string    `json:"action"`
	Target      string    `json:"target"`
	Outcome     string    `json:"outcome"`
	IP          string    `json:"ip"`
	Detail      string    `json:"detail"`
	CreatedAt   time.Time `json:"created_at"`
}

func auditOut(e store.AuditEntry) auditJSON {
	return auditJSON{WorkspaceID: string(e.WorkspaceID), Seq: e.Seq, ID: string(e.ID), Actor: e.Actor, Action: e.Action, Target: e.Target,
		Outcome: e.Outcome, IP: e.IP, Detail: e.Detail, CreatedAt: e.CreatedAt}
}

// User writes the user's own data to w: their account (never its password
// hash, two-factor secret or recovery codes), their memberships, their
// active sessions' metadata (never a token), and the audit entries they
// are the actor of, in the platform log and in the log of every workspace
// they are a member of. Call StartUser first.
func (s *Service) User(ctx context.Context, id palisade.UserID, w io.Writer) error {
	u, err := s.o.Store.GetUser(ctx, id)
	if err != nil {
		return err
	}
	wss, err := s.o.Store.ListUserWorkspaces(ctx, id)
	if err != nil {
		return fmt.Errorf("exporting memberships: %w", err)
	}
	sessions, err := s.o.Store.ListSessions(ctx, id, s.o.Now())
	if err != nil {
		return fmt.Errorf("exporting sessions: %w", err)
	}
	jw := newWriter(w)
	jw.raw(`{"format":`)
	jw.value(UserFormat)
	jw.raw(`,"version":`)
	jw.value(Version)
	jw.raw(`,"exported_at":`)
	jw.value(s.o.Now().UTC())
	jw.raw(`,"account":`)
	jw.value(accountJSON{ID: string(u.ID), Email: u.Email, Name: u.Name, EmailVerifiedAt: u.EmailVerifiedAt, TOTPEnabled: u.TOTPEnabled, CreatedAt: u.CreatedAt})
	jw.raw(`,"memberships":[`)
	for i, m := range wss {
		if i > 0 {
			jw.raw(",")
		}
		jw.value(membershipJSON{WorkspaceID: string(m.Workspace.ID), WorkspaceName: m.Workspace.Name, Role: string(m.Membership.Role), Since: m.Membership.CreatedAt})
	}
	jw.raw(`],"sessions":[`)
	for i, se := range sessions {
		if i > 0 {
			jw.raw(",")
		}
		jw.value(sessionJSON{ID: string(se.ID), IP: se.IP, UserAgent: se.UserAgent, MFAPending: se.MFAPending, CreatedAt: se.CreatedAt,
			LastSeenAt: se.LastSeenAt, ExpiresAt: se.ExpiresAt})
	}
	jw.raw(`],"audit":[`)
	n := 0
	emit := func(e store.AuditEntry) {
		if n > 0 {
			jw.raw(",")
		}
		n++
		jw.value(auditOut(e))
	}
	// The platform log cannot be filtered by actor in the store; it is
	// read page by page and filtered here.
	var before int64
	for {
		page, err := s.o.Store.ListPlatformAudit(ctx, store.ListAuditParams{BeforeSeq: before, Limit: store.MaxAuditPage})
		if err != nil {
			return fmt.Errorf("exporting the platform audit entries: %w", err)
		}
		for _, e := range page {
			if e.Actor == string(id) {
				emit(e)
			}
			before = e.Seq
		}
		if len(page) < store.MaxAuditPage || before <= 1 {
			break
		}
	}
	for _, m := range wss {
		scope := palisade.ScopeFor(m.Workspace.ID)
		var before int64
		for {
			page, err := s.o.Store.ListAudit(ctx, scope, store.ListAuditParams{BeforeSeq: before, Limit: store.MaxAuditPage, Actor: string(id)})
			if err != nil {
				return fmt.Errorf("exporting the audit entries of workspace %s: %w", m.Workspace.ID, err)
			}
			for _, e := range page {
				emit(e)
				before = e.Seq
			}
			if len(page) < store.MaxAuditPage || before <= 1 {
				break
			}
		}
	}
	jw.raw(`],"complete":true}` + "\n")
	return jw.flush()
}
