package sqlstore

import (
	"context"
	"encoding/json"
	"strconv"
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
	var r store.PruneReport
	err := s.pruneShortLived(ctx, now, dedupeTTL, &r)
	return r.Total(), err
}

func (s *Store) PruneAll(ctx context.Context, now time.Time, dedupeTTL time.Duration) (store.PruneReport, error) {
	var r store.PruneReport
	if err := s.pruneShortLived(ctx, now, dedupeTTL, &r); err != nil {
		return r, err
	}
	err := s.lookup(ctx, lookupPrune, func(tx Tx) error {
		// A revoked session is never valid again; an expired one neither.
		n, err := tx.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1 OR revoked_at IS NOT NULL`, dbTime(now))
		r.Add("sessions", n)
		return err
	})
	if err != nil {
		return r, s.mapErr(err, "pruning sessions")
	}
	ids, err := s.ListWorkspaceIDs(ctx)
	if err != nil {
		return r, err
	}
	for _, ws := range ids {
		if err := s.pruneRetention(ctx, palisade.ScopeFor(ws), now, &r); err != nil {
			return r, err
		}
	}
	return r, nil
}

// pruneRetention deletes, bot by bot, the messages of the workspace older
// than the bot's retention (its own, or else the workspace's), and the
// conversations whose last message is: a conversation goes with its last
// message, so nothing of it outlives the retention.
func (s *Store) pruneRetention(ctx context.Context, scope palisade.Scope, now time.Time, r *store.PruneReport) error {
	ws := string(scope.Workspace())
	err := s.tenant(ctx, scope, func(tx Tx) error {
		var days int
		if err := tx.QueryRow(ctx, `SELECT retention_days FROM workspaces WHERE id = $1`, ws).Scan(&days); err != nil {
			return err
		}
		type botDays struct {
			id   string
			days int
		}
		var bots []botDays
		rows, err := tx.Query(ctx, `SELECT id, retention_days FROM bots WHERE workspace_id = $1 ORDER BY id`, ws)
		if err != nil {
			return err
		}
		for rows.Next() {
			var b botDays
			if err := rows.Scan(&b.id, &b.days); err != nil {
				rows.Close()
				return err
			}
			bots = append(bots, b)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, b := range bots {
			d := b.days
			if d <= 0 {
				d = days
			}
			// A retention outside the bounds was never accepted; rather
			// than delete everything on a zero, keep the default.
			if d < store.MinRetentionDays || d > store.MaxRetentionDays {
				d = store.DefaultRetentionDays
			}
			cutoff := dbTime(now.Add(-time.Duration(d) * 24 * time.Hour))
			n, err := tx.Exec(ctx, `DELETE FROM messages WHERE workspace_id = $1 AND bot_id = $2 AND created_at < $3`, ws, b.id, cutoff)
			r.Add("messages", n)
			if err != nil {
				return err
			}
			n, err = tx.Exec(ctx, `DELETE FROM conversations WHERE workspace_id = $1 AND bot_id = $2 AND last_message_at < $3`, ws, b.id, cutoff)
			r.Add("conversations", n)
			if err != nil {
				return err
			}
		}
		return nil
	})
	return s.mapErr(err, "pruning messages past their retention")
}

func (s *Store) pruneShortLived(ctx context.Context, now time.Time, dedupeTTL time.Duration, r *store.PruneReport) error {
	err := s.lookup(ctx, lookupPrune, func(tx Tx) error {
		n, err := tx.Exec(ctx, `DELETE FROM one_time_tokens WHERE expires_at < $1`, dbTime(now))
		r.Add("one_time_tokens", n)
		if err != nil {
			return err
		}
		n, err = tx.Exec(ctx, `DELETE FROM known_devices WHERE expires_at <= $1`, dbTime(now))
		r.Add("known_devices", n)
		if err != nil {
			return err
		}
		// Billing event ids outlive the provider's retries, like dedupe
		// records.
		n, err = tx.Exec(ctx, `DELETE FROM billing_events WHERE received_at < $1`, dbTime(now.Add(-dedupeTTL)))
		r.Add("billing_events", n)
		return err
	})
	if err != nil {
		return s.mapErr(err, "pruning tokens")
	}
	n, err := s.PruneGatewayNonces(ctx, now)
	r.Add("gateway_nonces", n)
	if err != nil {
		return err
	}
	ids, err := s.ListWorkspaceIDs(ctx)
	if err != nil {
		return err
	}
	cutoff := dbTime(now.Add(-dedupeTTL))
	for _, ws := range ids {
		scope := palisade.ScopeFor(ws)
		err := s.tenant(ctx, scope, func(tx Tx) error {
			for _, q := range []struct{ kind, sql string }{
				{"deliveries", `DELETE FROM deliveries WHERE workspace_id = $1 AND created_at < $2`},
				{"reply_sends", `DELETE FROM reply_sends WHERE workspace_id = $1 AND created_at < $2`},
				{"event_deliveries", `DELETE FROM event_deliveries WHERE workspace_id = $1 AND created_at < $2`},
			} {
				n, err := tx.Exec(ctx, q.sql, string(ws), cutoff)
				r.Add(q.kind, n)
				if err != nil {
					return err
				}
			}
			for _, q := range []struct{ kind, sql string }{
				{"invitations", `DELETE FROM invitations WHERE workspace_id = $1 AND accepted_at IS NULL AND expires_at < $2`},
				// Reservations of calls whose process died before releasing them.
				{"usage_reservations", `DELETE FROM usage_reservations WHERE workspace_id = $1 AND expires_at <= $2`},
				{"idempotency_keys", `DELETE FROM idempotency_keys WHERE workspace_id = $1 AND expires_at <= $2`},
			} {
				n, err := tx.Exec(ctx, q.sql, string(ws), dbTime(now))
				r.Add(q.kind, n)
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return s.mapErr(err, "pruning workspace records")
		}
	}
	return nil
}

// unfinishedJobStates are River's states of a job that has not ended.
const unfinishedJobStates = `('available', 'pending', 'retryable', 'running', 'scheduled')`

func (s *Store) EarlierReplyPending(ctx context.Context, scope palisade.Scope, o store.ReplyOrder) (bool, error) {
	// The conversation: the group's, or else the user's direct chat.
	match := map[string]string{"workspace": string(scope.Workspace()), "bot_id": string(o.BotID), "channel": o.Channel}
	if o.ChatID != "" {
		match["chat_id"] = o.ChatID
	} else {
		match["user_id"] = o.UserID
	}
	var q string
	var args []any
	if s.d.Dialect() == store.DialectPostgres {
		// Containment uses River's GIN index on the arguments, so the
		// look-up reads one conversation's jobs, not the whole backlog.
		raw, err := json.Marshal(match)
		if err != nil {
			return false, err
		}
		q = `SELECT id FROM river_job WHERE args @> $1::jsonb AND kind = $2 AND id < $3 AND state IN ` + unfinishedJobStates
		args = []any{string(raw), o.Kind, o.JobID}
		if o.ChatID == "" {
			q += ` AND COALESCE(args->>'chat_id', '') = ''`
		}
	} else {
		// SQLite has no index on the arguments; the state index keeps the
		// scan to the jobs not finished yet.
		q = `SELECT id FROM river_job WHERE state IN ` + unfinishedJobStates + ` AND kind = $1 AND id < $2`
		args = []any{o.Kind, o.JobID}
		for _, k := range []string{"workspace", "bot_id", "channel", "chat_id", "user_id"} {
			v, ok := match[k]
			if !ok && k == "user_id" {
				continue // a group's conversation is anyone's in it
			}
			args = append(args, v)
			q += ` AND COALESCE(json_extract(args, '$.` + k + `'), '') = $` + strconv.Itoa(len(args))
		}
	}
	q += ` LIMIT 1`
	var found bool
	err := s.tenant(ctx, scope, func(tx Tx) error {
		var id int64
		err := tx.QueryRow(ctx, q, args...).Scan(&id)
		if s.d.IsNoRows(err) {
			return nil
		}
		found = err == nil
		return err
	})
	return found, s.mapErr(err, "looking for an earlier reply of the conversation")
}
