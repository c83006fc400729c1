package sqlstore

import (
	"context"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// ---- deliveries ----

func (s *Store) RecordDelivery(ctx context.Context, scope palisade.Scope, p store.DeliveryParams, job store.JobArgs) (bool, error) {
	var fresh bool
	err := s.tenant(ctx, scope, func(tx Tx) error {
		n, err := tx.Exec(ctx, `INSERT INTO deliveries (workspace_id, bot_id, source, key, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
			string(scope.Workspace()), string(p.BotID), p.Source, p.Key, dbTime(p.Now))
		if err != nil || n == 0 {
			return err
		}
		fresh = true
		if job == nil {
			return nil
		}
		return tx.Enqueue(ctx, job)
	})
	return fresh, s.mapErr(err, "recording delivery")
}

// ---- replies ----

func (s *Store) BeginReply(ctx context.Context, scope palisade.Scope, p store.ReplyPart, now time.Time) (store.ReplyState, error) {
	state := store.ReplyNew
	err := s.tenant(ctx, scope, func(tx Tx) error {
		n, err := tx.Exec(ctx, `INSERT INTO reply_sends (workspace_id, bot_id, source, ref, part, state, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT DO NOTHING`,
			string(scope.Workspace()), string(p.BotID), p.Source, p.Ref, p.Part, string(store.ReplyPending), dbTime(now))
		if err != nil || n == 1 {
			return err
		}
		var st string
		err = tx.QueryRow(ctx, `SELECT state FROM reply_sends WHERE workspace_id = $1 AND bot_id = $2 AND source = $3 AND ref = $4 AND part = $5`,
			string(scope.Workspace()), string(p.BotID), p.Source, p.Ref, p.Part).Scan(&st)
		state = store.ReplyState(st)
		return err
	})
	return state, s.mapErr(err, "recording a reply part")
}

func (s *Store) FinishReply(ctx context.Context, scope palisade.Scope, p store.ReplyPart, now time.Time) error {
	err := s.tenant(ctx, scope, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE reply_sends SET state = $6, updated_at = $7
			WHERE workspace_id = $1 AND bot_id = $2 AND source = $3 AND ref = $4 AND part = $5`,
			string(scope.Workspace()), string(p.BotID), p.Source, p.Ref, p.Part, string(store.ReplySent), dbTime(now))
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return s.mapErr(err, "recording a sent reply part")
}

func (s *Store) AbortReply(ctx context.Context, scope palisade.Scope, p store.ReplyPart) error {
	err := s.tenant(ctx, scope, func(tx Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM reply_sends WHERE workspace_id = $1 AND bot_id = $2 AND source = $3 AND ref = $4 AND part = $5 AND state = $6`,
			string(scope.Workspace()), string(p.BotID), p.Source, p.Ref, p.Part, string(store.ReplyPending))
		return err
	})
	return s.mapErr(err, "forgetting a refused reply part")
}

// ---- maintenance ----

func (s *Store) PruneExpired(ctx context.Context, now time.Time, dedupeTTL time.Duration) (int64, error) {
	var total int64
	err := s.lookup(ctx, lookupPrune, func(tx Tx) error {
		n, err := tx.Exec(ctx, `DELETE FROM one_time_tokens WHERE expires_at < $1`, dbTime(now))
		total += n
		if err != nil {
			return err
		}
		n, err = tx.Exec(ctx, `DELETE FROM known_devices WHERE expires_at <= $1`, dbTime(now))
		total += n
		if err != nil {
			return err
		}
		// Billing event ids outlive the provider's retries, like dedupe
		// records.
		n, err = tx.Exec(ctx, `DELETE FROM billing_events WHERE received_at < $1`, dbTime(now.Add(-dedupeTTL)))
		total += n
		return err
	})
	if err != nil {
		return total, s.mapErr(err, "pruning tokens")
	}
	n, err := s.PruneGatewayNonces(ctx, now)
	total += n
	if err != nil {
		return total, err
	}
	ids, err := s.ListWorkspaceIDs(ctx)
	if err != nil {
		return total, err
	}
	cutoff := dbTime(now.Add(-dedupeTTL))
	for _, ws := range ids {
		scope := palisade.ScopeFor(ws)
		err := s.tenant(ctx, scope, func(tx Tx) error {
			n, err := tx.Exec(ctx, `DELETE FROM deliveries WHERE workspace_id = $1 AND created_at < $2`, string(ws), cutoff)
			total += n
			if err != nil {
				return err
			}
			n, err = tx.Exec(ctx, `DELETE FROM reply_sends WHERE workspace_id = $1 AND created_at < $2`, string(ws), cutoff)
			total += n
			if err != nil {
				return err
			}
			n, err = tx.Exec(ctx, `DELETE FROM event_deliveries WHERE workspace_id = $1 AND created_at < $2`, string(ws), cutoff)
			total += n
			if err != nil {
				return err
			}
			n, err = tx.Exec(ctx, `DELETE FROM invitations WHERE workspace_id = $1 AND accepted_at IS NULL AND expires_at < $2`, string(ws), dbTime(now))
			total += n
			if err != nil {
				return err
			}
			// Reservations of calls whose process died before releasing them.
			n, err = tx.Exec(ctx, `DELETE FROM usage_reservations WHERE workspace_id = $1 AND expires_at <= $2`, string(ws), dbTime(now))
			total += n
			if err != nil {
				return err
			}
			n, err = tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE workspace_id = $1 AND expires_at <= $2`, string(ws), dbTime(now))
			total += n
			return err
		})
		if err != nil {
			return total, s.mapErr(err, "pruning workspace records")
		}
	}
	return total, nil
}
