package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

func (s *Store) AddUsage(ctx context.Context, scope palisade.Scope, p store.AddUsageParams) error {
	var failed int64
	if p.Failed {
		failed = 1
	}
	err := s.tenant(ctx, scope, func(tx Tx) error {
		if p.Reservation != "" {
			if _, err := tx.Exec(ctx, `DELETE FROM usage_reservations WHERE workspace_id = $1 AND id = $2`,
				string(scope.Workspace()), p.Reservation); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO usage_daily (workspace_id, bot_id, day, requests, tokens_in, tokens_out, errors, latency_ms)
			VALUES ($1, $2, $3, 1, $4, $5, $6, $7)
			ON CONFLICT (workspace_id, bot_id, day) DO UPDATE SET
				requests = usage_daily.requests + 1,
				tokens_in = usage_daily.tokens_in + excluded.tokens_in,
				tokens_out = usage_daily.tokens_out + excluded.tokens_out,
				errors = usage_daily.errors + excluded.errors,
				latency_ms = usage_daily.latency_ms + excluded.latency_ms`,
			string(scope.Workspace()), string(p.BotID), store.DayKey(p.Day), p.TokensIn, p.TokensOut, failed, p.Latency.Milliseconds())
		return err
	})
	return s.mapErr(err, "recording usage")
}

func (s *Store) UsageOn(ctx context.Context, scope palisade.Scope, bot palisade.BotID, day time.Time) (store.DailyUsage, error) {
	u := store.DailyUsage{Day: store.DayKey(day)}
	err := s.tenant(ctx, scope, func(tx Tx) error {
		return tx.QueryRow(ctx, `SELECT requests, tokens_in, tokens_out, errors, latency_ms FROM usage_daily WHERE workspace_id = $1 AND bot_id = $2 AND day = $3`,
			string(scope.Workspace()), string(bot), u.Day).Scan(&u.Requests, &u.TokensIn, &u.TokensOut, &u.Errors, &u.LatencyMS)
	})
	if err != nil && s.d.IsNoRows(err) {
		return u, nil
	}
	return u, s.mapErr(err, "reading usage")
}

var errReservation = errors.New("a reservation needs a budget above zero and 1 ≤ min ≤ tokens")

// ReserveUsage serialises the bots' reservations of one day on their
// usage_daily row: the upsert that opens the transaction takes that row's
// lock on PostgreSQL (SQLite's immediate transactions hold the database's
// write lock throughout), so the sum read next already counts every
// reservation committed before, and none can commit in between.
func (s *Store) ReserveUsage(ctx context.Context, scope palisade.Scope, p store.ReserveUsageParams) (store.Reservation, error) {
	if p.Budget <= 0 || p.Min < 1 || p.Min > p.Tokens {
		return store.Reservation{}, errReservation
	}
	var r store.Reservation
	ws, bot, day := string(scope.Workspace()), string(p.BotID), store.DayKey(p.Day)
	err := s.tenant(ctx, scope, func(tx Tx) error {
		var spent, held int64
		if err := tx.QueryRow(ctx, `INSERT INTO usage_daily (workspace_id, bot_id, day) VALUES ($1, $2, $3)
			ON CONFLICT (workspace_id, bot_id, day) DO UPDATE SET requests = usage_daily.requests
			RETURNING tokens_in + tokens_out`, ws, bot, day).Scan(&spent); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT CAST(COALESCE(SUM(tokens), 0) AS BIGINT) FROM usage_reservations
			WHERE workspace_id = $1 AND bot_id = $2 AND day = $3 AND expires_at > $4`, ws, bot, day, dbTime(p.Now)).Scan(&held); err != nil {
			return err
		}
		grant := min(p.Tokens, p.Budget-spent-held)
		if grant < p.Min {
			return nil
		}
		id := palisade.NewID(palisade.PrefixUsage)
		if _, err := tx.Exec(ctx, `INSERT INTO usage_reservations (id, workspace_id, bot_id, day, tokens, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, ws, bot, day, grant, dbTime(p.Now), dbTime(p.ExpiresAt)); err != nil {
			return err
		}
		r = store.Reservation{ID: id, Tokens: grant}
		return nil
	})
	if err != nil {
		return store.Reservation{}, s.mapErr(err, "reserving usage")
	}
	return r, nil
}

// ---- gateway nonces ----

func (s *Store) ClaimGatewayNonce(ctx context.Context, nonce string, now, expiresAt time.Time) (bool, error) {
	var fresh bool
	err := s.platform(ctx, func(tx Tx) error {
		// A nonce recorded before but expired is claimed afresh: its
		// signature's window has long closed.
		n, err := tx.Exec(ctx, `INSERT INTO gateway_nonces (nonce, expires_at) VALUES ($1, $2)
			ON CONFLICT (nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE gateway_nonces.expires_at <= $3`,
			nonce, dbTime(expiresAt), dbTime(now))
		fresh = n == 1
		return err
	})
	return fresh, s.mapErr(err, "recording a gateway nonce")
}

func (s *Store) PruneGatewayNonces(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.platform(ctx, func(tx Tx) error {
		var err error
		n, err = tx.Exec(ctx, `DELETE FROM gateway_nonces WHERE expires_at <= $1`, dbTime(now))
		return err
	})
	return n, s.mapErr(err, "pruning gateway nonces")
}
