package audit

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
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
	// Now is not used for entries: the store sets their times. It is kept
	// so that callers passing their clock need not change.
	Now func() time.Time
	// Redactor cleans actor, target and detail values; nil means a
	// Redactor with the built-in patterns only. Pass the process's own, so
	// secrets registered at run time are known here too.
	Redactor *redact.Redactor
	// Keys key the chain. Every process of an install must pass the keys
	// of its master key (NewKeys): nil means random keys of this Logger
	// alone, for tests that never verify what they record.
	Keys *Keys
	// Checkpoints, when set, is told every new head, to sign and write
	// outside the database.
	Checkpoints *Checkpointer
	// OnWrite, when set, is told of every append: the kind of chain
	// ("workspace" or "platform"), the action, and the error (nil when
	// the entry was stored), for metrics.
	OnWrite func(chainKind string, action Action, err error)
}

// Chain kinds, as OnWrite names them.
const (
	ChainKindWorkspace = "workspace"
	ChainKindPlatform  = "platform"
)

// Logger records audit entries. It is safe for concurrent use.
type Logger struct {
	s    Appender
	red  *redact.Redactor
	keys *Keys
	cp   *Checkpointer
	// onWrite is Options.OnWrite, or a no-op.
	onWrite func(chainKind string, action Action, err error)
}

// New returns a Logger appending to s.
func New(s Appender, opts Options) *Logger {
	l := &Logger{s: s, red: opts.Redactor, keys: opts.Keys, cp: opts.Checkpoints, onWrite: opts.OnWrite}
	if l.onWrite == nil {
		l.onWrite = func(string, Action, error) {}
	}
	if l.red == nil {
		l.red = redact.New(redact.Options{})
	}
	if l.keys == nil {
		l.keys = randomKeys()
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
	out, err := l.s.AppendAudit(ctx, scope, se, l.keys.Hash)
	l.onWrite(ChainKindWorkspace, e.Action, err)
	if err != nil {
		return out, fmt.Errorf("recording %s in the audit log: %w", e.Action, err)
	}
	l.noteHead(WorkspaceChain(scope.Workspace()), out)
	return out, nil
}

// RecordPlatform appends e to the platform chain, for actions outside any
// one workspace (workspace creation, operator commands). A workspace's
// deletion is recorded by DeleteWorkspace, which alone knows where its
// chain ended.
func (l *Logger) RecordPlatform(ctx context.Context, e Entry) error {
	if e.Action == ActionWorkspaceDeleted {
		return fmt.Errorf("audit: %s is recorded by Logger.DeleteWorkspace, with the end of the workspace's chain", e.Action)
	}
	se, err := l.prepare(e)
	if err != nil {
		return err
	}
	out, err := l.s.AppendPlatformAudit(ctx, se, l.keys.Hash)
	l.onWrite(ChainKindPlatform, e.Action, err)
	if err != nil {
		return fmt.Errorf("recording %s in the platform audit log: %w", e.Action, err)
	}
	l.noteHead(PlatformChain(), out)
	return nil
}

// WorkspaceDeleter is the store's deletion of a workspace.
type WorkspaceDeleter interface {
	DeleteWorkspace(ctx context.Context, scope palisade.Scope, p store.DeleteWorkspaceParams) (store.AuditEntry, error)
}

// Detail keys of a workspace.deleted entry: where the workspace's chain
// ended, which the verifier compares with the checkpoints.
const (
	DetailFinalSeq  = "final_seq"
	DetailFinalHash = "final_hash"
)

// DeleteWorkspace deletes the scope's workspace through d, which appends
// to the platform chain, in the deleting transaction, a workspace.deleted
// entry carrying the final seq and hash of the workspace's chain (that
// chain goes with the workspace). This is how a workspace is deleted: the
// verifier then knows the chain existed and where it ended, and reports a
// chain that vanished without such a record. e says who deleted it (actor,
// client address, request id, detail); the action, target and outcome are
// set here.
func (l *Logger) DeleteWorkspace(ctx context.Context, d WorkspaceDeleter, scope palisade.Scope, e Entry) error {
	if !scope.Valid() {
		return fmt.Errorf("deleting a workspace: %w", store.ErrNoScope)
	}
	ws := scope.Workspace()
	e.Action, e.Target, e.Outcome = ActionWorkspaceDeleted, string(ws), OutcomeSuccess
	detail := make(map[string]string, len(e.Detail))
	for k, v := range e.Detail {
		if k != DetailFinalSeq && k != DetailFinalHash {
			detail[k] = v
		}
	}
	if len(detail) > MaxDetailKeys-2 {
		return fmt.Errorf("audit: %d detail keys for %s, at most %d", len(detail), e.Action, MaxDetailKeys-2)
	}
	e.Detail = detail
	se, err := l.prepare(e)
	if err != nil {
		return err
	}
	cleaned, err := DecodeDetail(se.Detail)
	if err != nil {
		return err
	}
	var final store.AuditHead
	rec, err := d.DeleteWorkspace(ctx, scope, store.DeleteWorkspaceParams{
		Record: func(head store.AuditHead) store.AuditEntry {
			final = head
			// Added after normalising: these are the store's facts, not
			// outside input, and a redactor must not mistake a hash for
			// a secret.
			m := maps.Clone(cleaned)
			if m == nil {
				m = map[string]string{}
			}
			m[DetailFinalSeq] = strconv.FormatInt(head.Seq, 10)
			m[DetailFinalHash] = hex.EncodeToString(head.Hash)
			b, _ := json.Marshal(m) // a map of strings always encodes
			out := se
			out.Detail = string(b)
			return out
		},
		Seal: l.keys.Hash,
	})
	l.onWrite(ChainKindPlatform, e.Action, err)
	if err != nil {
		return fmt.Errorf("deleting workspace %s: %w", ws, err)
	}
	if final.Seq > 0 {
		l.noteHead(WorkspaceChain(ws), store.AuditEntry{Seq: final.Seq, Hash: final.Hash, CreatedAt: final.CreatedAt})
	}
	l.noteHead(PlatformChain(), rec)
	return nil
}

func (l *Logger) noteHead(c Chain, e store.AuditEntry) {
	if l.cp != nil {
		l.cp.Note(Head{Chain: c, Seq: e.Seq, Hash: e.Hash, Time: e.CreatedAt})
	}
}

func (l *Logger) prepare(e Entry) (store.AuditEntry, error) {
	n, err := normalize(e, l.red)
	if err != nil {
		return store.AuditEntry{}, err
	}
	return store.AuditEntry{
		ID:          palisade.NewAuditID(),
		Actor:       n.actor,
		Action:      n.action,
		Target:      n.target,
		Outcome:     n.outcome,
		IP:          n.ip,
		RequestID:   n.requestID,
		Detail:      n.detail,
		HashVersion: HashKeyed,
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
