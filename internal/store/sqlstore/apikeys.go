package sqlstore

import (
	"context"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// ---- API keys ----

// apiKeyCols are the columns of a key, qualified for queries that read
// api_keys as k.
const apiKeyCols = `k.id, k.workspace_id, k.name, k.prefix, k.hash, k.scopes, k.created_by, k.created_at, k.expires_at, k.last_used_at, k.revoked_at`

// scanAPIKeyInto scans apiKeyCols into k, then any further columns into
// extra.
func scanAPIKeyInto(r Row, k *palisade.APIKey, extra ...any) error {
	var id, ws, by string
	dest := append([]any{&id, &ws, &k.Name, &k.Prefix, &k.Hash, listScan{&k.Scopes}, &by, timeScan{&k.CreatedAt},
		nullTimeScan{&k.ExpiresAt}, nullTimeScan{&k.LastUsedAt}, nullTimeScan{&k.RevokedAt}}, extra...)
	err := r.Scan(dest...)
	k.ID, k.WorkspaceID, k.CreatedBy = palisade.APIKeyID(id), palisade.WorkspaceID(ws), palisade.UserID(by)
	return err
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

// ListAPIKeys reads each key's creator through a LEFT JOIN: keys the CLI
// made have no creator (created_by is empty and matches no user).
func (s *Store) ListAPIKeys(ctx context.Context, scope palisade.Scope) ([]store.ListedAPIKey, error) {
	var out []store.ListedAPIKey
	err := s.tenant(ctx, scope, func(tx Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+apiKeyCols+`, COALESCE(u.email, '')
			FROM api_keys k LEFT JOIN users u ON u.id = k.created_by
			WHERE k.workspace_id = $1 ORDER BY k.created_at, k.id`, string(scope.Workspace()))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k store.ListedAPIKey
			if err := scanAPIKeyInto(rows, &k.APIKey, &k.CreatorEmail); err != nil {
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

// LookupAPIKey reads the key and its creator's membership in one query.
// Keys the CLI made have no creator (created_by is empty and matches no
// membership). On PostgreSQL the lookup scope lets exactly the key's row
// and its creator's membership in the key's workspace be seen (migration
// 00012).
func (s *Store) LookupAPIKey(ctx context.Context, prefix string) (store.FoundAPIKey, error) {
	var k store.FoundAPIKey
	err := s.lookup(ctx, lookupAPIKey+prefix, func(tx Tx) error {
		var role string
		err := scanAPIKeyInto(tx.QueryRow(ctx, `SELECT `+apiKeyCols+`, COALESCE(m.role, '')
			FROM api_keys k LEFT JOIN memberships m ON m.workspace_id = k.workspace_id AND m.user_id = k.created_by
			WHERE k.prefix = $1`, prefix), &k.APIKey, &role)
		k.CreatorRole = palisade.Role(role)
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
