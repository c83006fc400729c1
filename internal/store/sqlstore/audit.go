package sqlstore

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// Advisory lock classes (the first key of PostgreSQL's two-key advisory
// locks, a key space apart from River's one-key locks) that serialise
// appends to one chain. SELECT ... FOR UPDATE on the head row is not an
// option: the runtime role has no UPDATE right on the audit tables.
const (
	auditLockWorkspace = 0x50414c41 // "PALA"
	auditLockPlatform  = 0x50414c50 // "PALP"
)

// auditAppendAttempts bounds retries when an append loses a race on the
// chain's primary key anyway (it should not, under the lock).
const auditAppendAttempts = 3

const auditCols = `seq, id, actor, action, target, outcome, ip, request_id, detail, created_at, prev_hash, hash, hash_version`

// WithClock sets the clock of the times the store sets itself (audit
// entries); nil keeps time.Now. Called once, when the dialect opens the
// store, before it is shared.
func (s *Store) WithClock(now func() time.Time) *Store {
	if now != nil {
		s.now = now
	}
	return s
}

func scanAudit(r Row, ws palisade.WorkspaceID) (store.AuditEntry, error) {
	e := store.AuditEntry{WorkspaceID: ws}
	var id string
	err := r.Scan(&e.Seq, &id, &e.Actor, &e.Action, &e.Target, &e.Outcome, &e.IP, &e.RequestID, &e.Detail,
		timeScan{&e.CreatedAt}, &e.PrevHash, &e.Hash, &e.HashVersion)
	e.ID = palisade.AuditID(id)
	return e, err
}

// auditGenesis is the previous hash of a chain's first entry.
func auditGenesis() []byte { return make([]byte, 32) }

// lockAuditChain serialises appends to one chain (ws "" is the platform
// chain) until the transaction ends. On SQLite every transaction begins
// IMMEDIATE: it holds the database's write lock already, across processes
// too.
func (s *Store) lockAuditChain(ctx context.Context, tx Tx, ws palisade.WorkspaceID) error {
	if s.d.Dialect() != store.DialectPostgres {
		return nil
	}
	var err error
	if ws == "" {
		_, err = tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, 0)`, int32(auditLockPlatform))
	} else {
		_, err = tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, int32(auditLockWorkspace), string(ws))
	}
	return err
}

// auditHead reads the last entry of a chain, under its lock.
func (s *Store) auditHead(ctx context.Context, tx Tx, ws palisade.WorkspaceID) (store.AuditHead, error) {
	var h store.AuditHead
	var row Row
	if ws == "" {
		row = tx.QueryRow(ctx, `SELECT seq, hash, created_at FROM platform_audit_log ORDER BY seq DESC LIMIT 1`)
	} else {
		row = tx.QueryRow(ctx, `SELECT seq, hash, created_at FROM audit_log WHERE workspace_id = $1 ORDER BY seq DESC LIMIT 1`, string(ws))
	}
	err := row.Scan(&h.Seq, &h.Hash, timeScan{&h.CreatedAt})
	if err != nil && s.d.IsNoRows(err) {
		return store.AuditHead{}, nil
	}
	return h, err
}

// entryTime is the time of the next entry after head: the store's clock,
// or one microsecond after the head when the clock reads the same or an
// earlier time (it stepped back, or another process's clock is ahead), so
// that a chain's times only increase whatever the clocks do.
func (s *Store) entryTime(head store.AuditHead) time.Time {
	t := dbTime(s.now())
	if head.Seq > 0 {
		if floor := dbTime(head.CreatedAt).Add(time.Microsecond); t.Before(floor) {
			t = floor
		}
	}
	return t
}

// prepareAudit fills what the store decides and seals the entry.
func (s *Store) prepareAudit(e store.AuditEntry, ws palisade.WorkspaceID, head store.AuditHead, seal store.AuditSeal) (store.AuditEntry, error) {
	if seal == nil {
		return e, errors.New("appending audit entry: no seal function")
	}
	e.WorkspaceID = ws
	if e.ID == "" {
		e.ID = palisade.NewAuditID()
	}
	e.Seq = head.Seq + 1
	e.PrevHash = head.Hash
	if head.Seq == 0 {
		e.PrevHash = auditGenesis()
	}
	// The caller's time, if any, is not taken: whoever can call the store
	// could otherwise date an entry as they like.
	e.CreatedAt = s.entryTime(head)
	e.Hash = seal(e)
	if len(e.Hash) == 0 {
		return e, errors.New("appending audit entry: seal returned no hash")
	}
	return e, nil
}

// appendAuditTx appends e to a chain (ws "" is the platform chain) inside
// tx: lock, head, place, seal, insert.
func (s *Store) appendAuditTx(ctx context.Context, tx Tx, ws palisade.WorkspaceID, e store.AuditEntry, seal store.AuditSeal) (store.AuditEntry, error) {
	if err := s.lockAuditChain(ctx, tx, ws); err != nil {
		return store.AuditEntry{}, err
	}
	head, err := s.auditHead(ctx, tx, ws)
	if err != nil {
		return store.AuditEntry{}, err
	}
	out, err := s.prepareAudit(e, ws, head, seal)
	if err != nil {
		return out, err
	}
	if ws == "" {
		// seq is written explicitly, never taken from the BIGSERIAL's
		// sequence: a rolled-back append would leave a gap that
		// verification must read as a deletion.
		_, err = tx.Exec(ctx, `INSERT INTO platform_audit_log (`+auditCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			out.Seq, string(out.ID), out.Actor, out.Action, out.Target, out.Outcome, out.IP, out.RequestID, out.Detail,
			out.CreatedAt, out.PrevHash, out.Hash, out.HashVersion)
	} else {
		_, err = tx.Exec(ctx, `INSERT INTO audit_log (workspace_id, `+auditCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			string(ws), out.Seq, string(out.ID), out.Actor, out.Action, out.Target, out.Outcome, out.IP, out.RequestID, out.Detail,
			out.CreatedAt, out.PrevHash, out.Hash, out.HashVersion)
	}
	return out, err
}

func (s *Store) AppendAudit(ctx context.Context, scope palisade.Scope, e store.AuditEntry, seal store.AuditSeal) (store.AuditEntry, error) {
	var out store.AuditEntry
	var err error
	for range auditAppendAttempts {
		err = s.tenant(ctx, scope, func(tx Tx) (err error) {
			out, err = s.appendAuditTx(ctx, tx, scope.Workspace(), e, seal)
			return err
		})
		if err == nil || !s.d.IsUniqueViolation(err) {
			break
		}
	}
	return out, s.mapErr(err, "appending audit entry")
}

func (s *Store) AppendPlatformAudit(ctx context.Context, e store.AuditEntry, seal store.AuditSeal) (store.AuditEntry, error) {
	var out store.AuditEntry
	var err error
	for range auditAppendAttempts {
		err = s.platform(ctx, func(tx Tx) (err error) {
			out, err = s.appendAuditTx(ctx, tx, "", e, seal)
			return err
		})
		if err == nil || !s.d.IsUniqueViolation(err) {
			break
		}
	}
	return out, s.mapErr(err, "appending platform audit entry")
}

// recordWorkspaceEnd appends, inside the transaction that deletes the
// workspace, the platform entry recording its chain's final head. The
// workspace chain's lock is taken first and held to the end, so no entry
// can join the chain after the head recorded. Only deletions hold two
// chain locks, always the workspace's before the platform's, so they
// cannot wait on each other in a cycle.
func (s *Store) recordWorkspaceEnd(ctx context.Context, tx Tx, ws palisade.WorkspaceID, p store.DeleteWorkspaceParams) (store.AuditEntry, error) {
	if err := s.lockAuditChain(ctx, tx, ws); err != nil {
		return store.AuditEntry{}, err
	}
	final, err := s.auditHead(ctx, tx, ws)
	if err != nil {
		return store.AuditEntry{}, err
	}
	// The record is what it says whatever the caller built: the platform
	// entry of this workspace's deletion (on PostgreSQL the deleting
	// function checks for it).
	e := p.Record(final)
	e.Action, e.Target = store.AuditActionWorkspaceDeleted, string(ws)
	return s.appendAuditTx(ctx, tx, "", e, p.Seal)
}

func auditLimit(n int) int {
	if n < 1 || n > store.MaxAuditPage {
		return store.MaxAuditPage
	}
	return n
}

// beforeSeq turns "no cursor" into a bound no seq reaches.
func beforeSeq(n int64) int64 {
	if n <= 0 {
		return 1<<63 - 1
	}
	return n
}

func (s *Store) collectAudit(ctx context.Context, tx Tx, ws palisade.WorkspaceID, q string, args ...any) ([]store.AuditEntry, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		e, err := scanAudit(rows, ws)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *Store) ListAudit(ctx context.Context, scope palisade.Scope, p store.ListAuditParams) ([]store.AuditEntry, error) {
	var out []store.AuditEntry
	err := s.tenant(ctx, scope, func(tx Tx) (err error) {
		q := `SELECT ` + auditCols + ` FROM audit_log WHERE workspace_id = $1 AND seq < $2`
		args := []any{string(scope.Workspace()), beforeSeq(p.BeforeSeq)}
		arg := func(v any) string {
			args = append(args, v)
			return "$" + strconv.Itoa(len(args))
		}
		if p.Action != "" {
			q += ` AND action = ` + arg(p.Action)
		}
		if p.Actor != "" {
			q += ` AND actor = ` + arg(p.Actor)
		}
		if !p.Since.IsZero() {
			q += ` AND created_at >= ` + arg(dbTime(p.Since))
		}
		if !p.Until.IsZero() {
			q += ` AND created_at < ` + arg(dbTime(p.Until))
		}
		q += ` ORDER BY seq DESC LIMIT ` + arg(auditLimit(p.Limit))
		out, err = s.collectAudit(ctx, tx, scope.Workspace(), q, args...)
		return err
	})
	return out, s.mapErr(err, "listing audit entries")
}

func (s *Store) ListPlatformAudit(ctx context.Context, p store.ListAuditParams) ([]store.AuditEntry, error) {
	var out []store.AuditEntry
	err := s.platform(ctx, func(tx Tx) (err error) {
		out, err = s.collectAudit(ctx, tx, "",
			`SELECT `+auditCols+` FROM platform_audit_log WHERE seq < $1 ORDER BY seq DESC LIMIT $2`,
			beforeSeq(p.BeforeSeq), auditLimit(p.Limit))
		return err
	})
	return out, s.mapErr(err, "listing platform audit entries")
}

func (s *Store) ReadAuditChain(ctx context.Context, scope palisade.Scope, afterSeq int64, limit int) ([]store.AuditEntry, error) {
	var out []store.AuditEntry
	err := s.tenant(ctx, scope, func(tx Tx) (err error) {
		out, err = s.collectAudit(ctx, tx, scope.Workspace(),
			`SELECT `+auditCols+` FROM audit_log WHERE workspace_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
			string(scope.Workspace()), afterSeq, auditLimit(limit))
		return err
	})
	return out, s.mapErr(err, "reading audit chain")
}

func (s *Store) ReadPlatformAuditChain(ctx context.Context, afterSeq int64, limit int) ([]store.AuditEntry, error) {
	var out []store.AuditEntry
	err := s.platform(ctx, func(tx Tx) (err error) {
		out, err = s.collectAudit(ctx, tx, "",
			`SELECT `+auditCols+` FROM platform_audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`,
			afterSeq, auditLimit(limit))
		return err
	})
	return out, s.mapErr(err, "reading platform audit chain")
}
