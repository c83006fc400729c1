package sqlstore

import (
	"context"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// ---- API keys ----

const apiKeyCols = `id, workspace_id, name, prefix, hash, scopes, created_by, created_at, expires_at, last_used_at, revoked_at`

func scanAPIKey(r Row) (palisade.APIKey, error) {
	var k palisade.APIKey
	var id, ws, by string
	err := r.Scan(&id, &ws, &k.Name, &k.Prefix, &k.Hash, listScan{&k.Scopes}, &by, timeScan{&k.CreatedAt},
		nullTimeScan{&k.ExpiresAt}, nullTimeScan{&k.LastUsedAt}, nullTimeScan{&k.RevokedAt})
	k.ID, k.WorkspaceID, k.CreatedBy = palisade.APIKeyID(id), palisade.WorkspaceID(ws), palisade.UserID(by)
	return k, err
}

func (s *Store) CreateAPIKey(ctx context.Context, scope palisade.Scope, p store.CreateAPIKeyParams) (palisade.APIKey, error) {
	k := palisade.APIKey{ID: palisade.NewAPIKeyID(), WorkspaceID: scope.Workspace(), Name: p.Name, Prefix: p.Prefix, Hash: p.Hash,
		Scopes: p.Scopes, CreatedBy: p.CreatedBy, CreatedAt: dbTime(p.Now)}
	if p.ExpiresAt != nil {
		t := dbTime(*p.ExpiresAt)
		k.ExpiresAt = &t
	}
	err := s.tenant(ctx, scope, func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO api_keys (id, workspace_id, name, prefix, hash, scopes, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			string(k.ID), string(k.WorkspaceID), k.Name, k.Prefix, k.Hash, joinList(k.Scopes), string(k.CreatedBy), k.CreatedAt, dbNullTime(k.ExpiresAt))
		return err
	})
	return k, s.mapErr(err, "creating API key")
}

func (s *Store) ListAPIKeys(ctx context.Context, scope palisade.Scope) ([]palisade.APIKey, error) {
	var out []palisade.APIKey
	err := s.tenant(ctx, scope, func(tx Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE workspace_id = $1 ORDER BY created_at, id`, string(scope.Workspace()))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			k, err := scanAPIKey(rows)
			if err != nil {
				return err
			}
			out = append(out, k)
		}
		return rows.Err()
	})
	return out, s.mapErr(err, "listing API keys")
}

func (s *Store) RevokeAPIKey(ctx context.Context, scope palisade.Scope, id palisade.APIKeyID, now time.Time) error {
	err := s.tenant(ctx, scope, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE workspace_id = $2 AND id = $3 AND revoked_at IS NULL`,
			dbTime(now), string(scope.Workspace()), string(id))
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return s.mapErr(err, "revoking API key")
}

func (s *Store) LookupAPIKey(ctx context.Context, prefix string) (palisade.APIKey, error) {
	var k palisade.APIKey
	err := s.lookup(ctx, lookupAPIKey+prefix, func(tx Tx) (err error) {
		k, err = scanAPIKey(tx.QueryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE prefix = $1`, prefix))
		return err
	})
	return k, s.mapErr(err, "looking up API key")
}

func (s *Store) TouchAPIKey(ctx context.Context, scope palisade.Scope, id palisade.APIKeyID, now time.Time) error {
	err := s.tenant(ctx, scope, func(tx Tx) error {
		_, err := tx.Exec(ctx, `UPDATE api_keys SET last_used_at = $1 WHERE workspace_id = $2 AND id = $3`, dbTime(now), string(scope.Workspace()), string(id))
		return err
	})
	return s.mapErr(err, "touching API key")
}
