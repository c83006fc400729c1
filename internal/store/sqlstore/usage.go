package sqlstore

import (
	"context"
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
