package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// ---- leases ----

func (s *Store) AcquireLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (bool, error) {
	var held bool
	err := s.platform(ctx, func(tx Tx) error {
		// One statement: a free name is inserted, an expired or own lease
		// taken over; a live lease of another owner is left as it is (the
		// update's condition fails and nothing changes).
		n, err := tx.Exec(ctx, `INSERT INTO leases (name, owner, expires_at, acquired_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at,
				acquired_at = CASE WHEN leases.owner = excluded.owner THEN leases.acquired_at ELSE excluded.acquired_at END
			WHERE leases.owner = excluded.owner OR leases.expires_at <= excluded.acquired_at`,
			name, owner, dbTime(now.Add(ttl)), dbTime(now))
		held = n == 1
		return err
	})
	return held, s.mapErr(err, "acquiring lease")
}

func (s *Store) RenewLeases(ctx context.Context, owner string, now time.Time, ttl time.Duration) ([]string, error) {
	var names []string
	err := s.platform(ctx, func(tx Tx) error {
		rows, err := tx.Query(ctx, `UPDATE leases SET expires_at = $1 WHERE owner = $2 AND expires_at > $3 RETURNING name`,
			dbTime(now.Add(ttl)), owner, dbTime(now))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return err
			}
			names = append(names, n)
		}
		return rows.Err()
	})
	return names, s.mapErr(err, "renewing leases")
}

func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	err := s.platform(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND owner = $2`, name, owner)
		return err
	})
	return s.mapErr(err, "releasing lease")
}

func (s *Store) ListLeases(ctx context.Context, prefix string, now time.Time) ([]store.Lease, error) {
	var out []store.Lease
	err := s.platform(ctx, func(tx Tx) error {
		// A prefix match without LIKE, whose wildcards a name could hold.
		rows, err := tx.Query(ctx, `SELECT name, owner, expires_at FROM leases WHERE substr(name, 1, $1) = $2 AND expires_at > $3 ORDER BY name`,
			len(prefix), prefix, dbTime(now))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var l store.Lease
			if err := rows.Scan(&l.Name, &l.Owner, timeScan{&l.ExpiresAt}); err != nil {
				return err
			}
			out = append(out, l)
		}
		return rows.Err()
	})
	return out, s.mapErr(err, "listing leases")
}

func (s *Store) ListChannelsOfKind(ctx context.Context, scope palisade.Scope, kind string) ([]palisade.Channel, error) {
	var out []palisade.Channel
	err := s.tenant(ctx, scope, func(tx Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+channelCols+` FROM channels WHERE workspace_id = $1 AND kind = $2 ORDER BY created_at, id`,
			string(scope.Workspace()), strings.ToLower(kind))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanChannel(rows)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, s.mapErr(err, "listing channels of a kind")
}
