package audit

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/redact"
	"github.com/palisadehq/palisade/internal/store"
)

// Appender is the part of the store the Logger writes through.
type Appender interface {
	AppendAudit(ctx context.Context, scope palisade.Scope, e store.AuditEntry, seal store.AuditSeal) (store.AuditEntry, error)
	AppendPlatformAudit(ctx context.Context, e store.AuditEntry, seal store.AuditSeal) (store.AuditEntry, error)
}

// Options configure a Logger.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Redactor cleans actor, target and detail values; nil means a
	// Redactor with the built-in patterns only. Pass the process's own, so
	// secrets registered at run time are known here too.
	Redactor *redact.Redactor
}

// Logger records audit entries. It is safe for concurrent use.
type Logger struct {
	s   Appender
	now func() time.Time
	red *redact.Redactor
}

// New returns a Logger appending to s.
func New(s Appender, opts Options) *Logger {
	l := &Logger{s: s, now: opts.Now, red: opts.Redactor}
	if l.now == nil {
		l.now = time.Now
	}
	if l.red == nil {
		l.red = redact.New(redact.Options{})
	}
	return l
}

// Record appends e to the chain of the scope's workspace.
func (l *Logger) Record(ctx context.Context, scope palisade.Scope, e Entry) error {
	_, err := l.RecordEntry(ctx, scope, e)
	return err
}

// RecordEntry is Record returning the entry as stored.
func (l *Logger) RecordEntry(ctx context.Context, scope palisade.Scope, e Entry) (store.AuditEntry, error) {
	if !scope.Valid() {
		return store.AuditEntry{}, fmt.Errorf("recording %s: %w", e.Action, store.ErrNoScope)
	}
	se, err := l.prepare(e)
	if err != nil {
		return store.AuditEntry{}, err
	}
	out, err := l.s.AppendAudit(ctx, scope, se, Hash)
	if err != nil {
		return out, fmt.Errorf("recording %s in the audit log: %w", e.Action, err)
	}
	return out, nil
}

// RecordPlatform appends e to the platform chain, for actions outside any
// one workspace (workspace creation and deletion, operator commands).
func (l *Logger) RecordPlatform(ctx context.Context, e Entry) error {
	se, err := l.prepare(e)
	if err != nil {
		return err
	}
	if _, err := l.s.AppendPlatformAudit(ctx, se, Hash); err != nil {
		return fmt.Errorf("recording %s in the platform audit log: %w", e.Action, err)
	}
	return nil
}

func (l *Logger) prepare(e Entry) (store.AuditEntry, error) {
	n, err := normalize(e, l.red, l.now())
	if err != nil {
		return store.AuditEntry{}, err
	}
	return store.AuditEntry{
		ID:        palisade.NewAuditID(),
		Actor:     n.actor,
		Action:    n.action,
		Target:    n.target,
		Outcome:   n.outcome,
		IP:        n.ip,
		RequestID: n.requestID,
		Detail:    n.detail,
		CreatedAt: n.time,
	}, nil
}

// Recorder is how services record what they did: Record appends to the
// chain of the scope's workspace, RecordPlatform to the platform chain.
// *Logger implements it; services take the interface so tests can see
// exactly which typed entries a use case records.
type Recorder interface {
	Record(ctx context.Context, scope palisade.Scope, e Entry) error
	RecordPlatform(ctx context.Context, e Entry) error
}

var _ Recorder = (*Logger)(nil)

// Discard records nothing: the recorder of unit tests and tools that have
// no audit log.
type Discard struct{}

func (Discard) Record(context.Context, palisade.Scope, Entry) error { return nil }
func (Discard) RecordPlatform(context.Context, Entry) error         { return nil }

// Best records e in the scope's chain with r and logs a failure instead of
// returning it: the action it describes has already happened, and losing
// its record is reported loudly rather than undoing what the user did.
func Best(ctx context.Context, r Recorder, logger *slog.Logger, scope palisade.Scope, e Entry) {
	if r == nil {
		return
	}
	logFailure(ctx, logger, e, r.Record(ctx, scope, e))
}

// BestPlatform is Best for the platform chain: actions outside any one
// workspace (accounts, operator commands, policy denials).
func BestPlatform(ctx context.Context, r Recorder, logger *slog.Logger, e Entry) {
	if r == nil {
		return
	}
	logFailure(ctx, logger, e, r.RecordPlatform(ctx, e))
}

func logFailure(ctx context.Context, logger *slog.Logger, e Entry, err error) {
	if err != nil && logger != nil {
		logger.ErrorContext(ctx, "could not record an audit event", "action", string(e.Action), "err", err)
	}
}
