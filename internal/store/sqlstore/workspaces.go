package sqlstore

import (
	"context"
	"errors"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// ---- workspaces ----

func (s *Store) CreateWorkspace(ctx context.Context, p store.CreateWorkspaceParams) (palisade.Workspace, error) {
	w := palisade.Workspace{ID: palisade.NewWorkspaceID(), Name: p.Name, RetentionDays: store.DefaultRetentionDays, CreatedAt: dbTime(p.Now)}
	// Scoped to the new workspace: on PostgreSQL a workspace row is written
	// only under its own scope.
	err := s.d.InTx(ctx, TxScope{Workspace: w.ID}, func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO workspaces (id, name, require_mfa, retention_days, created_at) VALUES ($1, $2, $3, $4, $5)`,
			string(w.ID), w.Name, w.RequireMFA, w.RetentionDays, w.CreatedAt)
		return err
	})
	return w, s.mapErr(err, "creating workspace")
}

func (s *Store) GetWorkspace(ctx context.Context, scope palisade.Scope) (palisade.Workspace, error) {
	var w palisade.Workspace
	err := s.tenant(ctx, scope, func(tx Tx) error {
		var id string
		return tx.QueryRow(ctx, `SELECT id, name, require_mfa, retention_days, allowed_models, created_at, suspended_at, suspended_reason
			FROM workspaces WHERE id = $1`,
			string(scope.Workspace())).Scan(&id, &w.Name, &w.RequireMFA, &w.RetentionDays, listScan{&w.AllowedModels}, timeScan{&w.CreatedAt},
			nullTimeScan{&w.SuspendedAt}, &w.SuspendedReason)
	})
	w.ID = scope.Workspace()
	return w, s.mapErr(err, "reading workspace")
}

func (s *Store) SetWorkspaceModels(ctx context.Context, scope palisade.Scope, models []string) error {
	err := s.tenant(ctx, scope, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE workspaces SET allowed_models = $1 WHERE id = $2`, joinList(models), string(scope.Workspace()))
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return s.mapErr(err, "setting the workspace's models")
}

func (s *Store) SetWorkspaceSuspension(ctx context.Context, scope palisade.Scope, p store.SuspensionParams) (palisade.Workspace, error) {
	var at any
	reason := ""
	if p.Suspend {
		at, reason = dbTime(p.Now), p.Reason
	}
	err := s.tenant(ctx, scope, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE workspaces SET suspended_at = $1, suspended_reason = $2 WHERE id = $3`, at, reason, string(scope.Workspace()))
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return palisade.Workspace{}, s.mapErr(err, "setting the workspace's suspension")
	}
	return s.GetWorkspace(ctx, scope)
}

func (s *Store) SetWorkspaceRetention(ctx context.Context, scope palisade.Scope, days int) error {
	if days < store.MinRetentionDays || days > store.MaxRetentionDays {
		return palisade.FieldError("retention_days", "retention_days must be between %d and %d", store.MinRetentionDays, store.MaxRetentionDays)
	}
	err := s.tenant(ctx, scope, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE workspaces SET retention_days = $1 WHERE id = $2`, days, string(scope.Workspace()))
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return s.mapErr(err, "setting the workspace's retention")
}

func (s *Store) ListWorkspaceIDs(ctx context.Context) ([]palisade.WorkspaceID, error) {
	var ids []palisade.WorkspaceID
	err := s.lookup(ctx, lookupAllWorkspaces, func(tx Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM workspaces ORDER BY created_at, id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, palisade.WorkspaceID(id))
		}
		return rows.Err()
	})
	return ids, s.mapErr(err, "listing workspaces")
}

func (s *Store) DeleteWorkspace(ctx context.Context, scope palisade.Scope, p store.DeleteWorkspaceParams) (store.AuditEntry, error) {
	// The audit chain goes with the workspace (ON DELETE CASCADE): without
	// a record of where it ended, a chain deleted this way and one
	// removed behind the application's back would look alike.
	if p.Record == nil || p.Seal == nil {
		return store.AuditEntry{}, errors.New("deleting workspace: no record of its audit chain's end was given")
	}
	if !scope.Valid() {
		return store.AuditEntry{}, store.ErrNoScope
	}
	// Keys first (crypto-shredding), then rows: see shredWorkspace.
	if err := s.shredWorkspace(ctx, scope); err != nil {
		return store.AuditEntry{}, s.mapErr(err, "deleting workspace")
	}
	var rec store.AuditEntry
	var err error
	for range auditAppendAttempts {
		err = s.tenant(ctx, scope, func(tx Tx) error {
			var err error
			if rec, err = s.recordWorkspaceEnd(ctx, tx, scope.Workspace(), p); err != nil {
				return err
			}
			return s.deleteWorkspaceRow(ctx, tx, scope.Workspace())
		})
		if err == nil || !s.d.IsUniqueViolation(err) {
			break
		}
	}
	if err != nil {
		return store.AuditEntry{}, s.mapErr(err, "deleting workspace")
	}
	return rec, nil
}

// deleteWorkspaceRow deletes the workspace row; the foreign keys' cascades
// delete every tenant row. On PostgreSQL the runtime role may not delete a
// workspace row itself: palisade_delete_workspace (migration 00008) does,
// for the workspace of the verified scope only, once it sees the deletion
// recorded in the platform audit log by this same transaction.
func (s *Store) deleteWorkspaceRow(ctx context.Context, tx Tx, ws palisade.WorkspaceID) error {
	if s.d.Dialect() == store.DialectPostgres {
		var deleted bool
		if err := tx.QueryRow(ctx, `SELECT palisade_delete_workspace($1)`, string(ws)).Scan(&deleted); err != nil {
			return err
		}
		if !deleted {
			return store.ErrNotFound
		}
		return nil
	}
	n, err := tx.Exec(ctx, `DELETE FROM workspaces WHERE id = $1`, string(ws))
	if err == nil && n == 0 {
		return store.ErrNotFound
	}
	return err
}
