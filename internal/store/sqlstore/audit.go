package sqlstore

import (
	"context"
	"errors"

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

const auditCols = `seq, id, actor, action, target, outcome, ip, request_id, detail, created_at, prev_hash, hash`

func scanAudit(r Row, ws palisade.WorkspaceID) (store.AuditEntry, error) {
	e := store.AuditEntry{WorkspaceID: ws}
	var id string
	err := r.Scan(&e.Seq, &id, &e.Actor, &e.Action, &e.Target, &e.Outcome, &e.IP, &e.RequestID, &e.Detail,
		timeScan{&e.CreatedAt}, &e.PrevHash, &e.Hash)
	e.ID = palisade.AuditID(id)
	return e, err
}

// auditGenesis is the previous hash of a chain's first entry.
func auditGenesis() []byte { return make([]byte, 32) }

// prepareAudit fills what the store decides and seals the entry.
func prepareAudit(e store.AuditEntry, ws palisade.WorkspaceID, headSeq int64, headHash []byte, seal store.AuditSeal) (store.AuditEntry, error) {
	if seal == nil {
		return e, errors.New("appending audit entry: no seal function")
	}
	e.WorkspaceID = ws
	if e.ID == "" {
		e.ID = palisade.NewAuditID()
	}
	e.Seq = headSeq + 1
	e.PrevHash = headHash
	if headSeq == 0 {
		e.PrevHash = auditGenesis()
	}
	e.CreatedAt = dbTime(e.CreatedAt)
	e.Hash = seal(e)
	if len(e.Hash) == 0 {
		return e, errors.New("appending audit entry: seal returned no hash")
	}
	return e, nil
}

func (s *Store) AppendAudit(ctx context.Context, scope palisade.Scope, e store.AuditEntry, seal store.AuditSeal) (store.AuditEntry, error) {
	var out store.AuditEntry
	ws := scope.Workspace()
	var err error
	for range auditAppendAttempts {
		err = s.tenant(ctx, scope, func(tx Tx) error {
			if s.d.Dialect() == store.DialectPostgres {
				if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, int32(auditLockWorkspace), string(ws)); err != nil {
					return err
				}
			}
			// On SQLite every transaction begins IMMEDIATE: it holds the
			// database's write lock from here on, across processes too.
			var headSeq int64
			var headHash []byte
			err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_log WHERE workspace_id = $1 ORDER BY seq DESC LIMIT 1`, string(ws)).
				Scan(&headSeq, &headHash)
			if err != nil && !s.d.IsNoRows(err) {
				return err
			}
			out, err = prepareAudit(e, ws, headSeq, headHash, seal)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `INSERT INTO audit_log (workspace_id, `+auditCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
				string(ws), out.Seq, string(out.ID), out.Actor, out.Action, out.Target, out.Outcome, out.IP, out.RequestID, out.Detail,
				out.CreatedAt, out.PrevHash, out.Hash)
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
			out, err = s.appendPlatformAudit(ctx, tx, e, seal)
			return err
		})
		if err == nil || !s.d.IsUniqueViolation(err) {
			break
		}
	}
	return out, s.mapErr(err, "appending platform audit entry")
}

// appendPlatformAudit appends e to the platform chain in tx, which holds
// the chain's lock from here to its end.
func (s *Store) appendPlatformAudit(ctx context.Context, tx Tx, e store.AuditEntry, seal store.AuditSeal) (store.AuditEntry, error) {
	if s.d.Dialect() == store.DialectPostgres {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, 0)`, int32(auditLockPlatform)); err != nil {
			return store.AuditEntry{}, err
		}
	}
	var headSeq int64
	var headHash []byte
	err := tx.QueryRow(ctx, `SELECT seq, hash FROM platform_audit_log ORDER BY seq DESC LIMIT 1`).Scan(&headSeq, &headHash)
	if err != nil && !s.d.IsNoRows(err) {
		return store.AuditEntry{}, err
	}
	out, err := prepareAudit(e, "", headSeq, headHash, seal)
	if err != nil {
		return out, err
	}
	// seq is written explicitly, never taken from the BIGSERIAL's
	// sequence: a rolled-back append would leave a gap that verification
	// must read as a deletion.
	_, err = tx.Exec(ctx, `INSERT INTO platform_audit_log (`+auditCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		out.Seq, string(out.ID), out.Actor, out.Action, out.Target, out.Outcome, out.IP, out.RequestID, out.Detail,
		out.CreatedAt, out.PrevHash, out.Hash)
	return out, err
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
		out, err = s.collectAudit(ctx, tx, scope.Workspace(),
			`SELECT `+auditCols+` FROM audit_log WHERE workspace_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`,
			string(scope.Workspace()), beforeSeq(p.BeforeSeq), auditLimit(p.Limit))
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
