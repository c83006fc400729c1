package sqlstore

import (
	"context"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// ---- bots ----

const botCols = `id, workspace_id, name, system_prompt, model, temperature, max_output_tokens, pii_mode, allowed_domains, retention_days, gateway_token_hash, gateway_token_salt, daily_token_budget, created_at, updated_at`

func scanBot(r Row) (palisade.Bot, error) {
	var b palisade.Bot
	var id, ws, pii string
	err := r.Scan(&id, &ws, &b.Name, &b.SystemPrompt, &b.Model, &b.Temperature, &b.MaxOutputTokens, &pii, listScan{&b.AllowedDomains},
		&b.RetentionDays, &b.GatewayTokenHash, &b.GatewayTokenSalt, &b.DailyTokenBudget, timeScan{&b.CreatedAt}, timeScan{&b.UpdatedAt})
	b.ID, b.WorkspaceID, b.PIIMode = palisade.BotID(id), palisade.WorkspaceID(ws), palisade.PIIMode(pii)
	return b, err
}

func (s *Store) CreateBot(ctx context.Context, scope palisade.Scope, b palisade.Bot) (palisade.Bot, error) {
	if b.ID == "" {
		b.ID = palisade.NewBotID()
	}
	b.WorkspaceID = scope.Workspace()
	b.CreatedAt, b.UpdatedAt = dbTime(b.CreatedAt), dbTime(b.CreatedAt)
	if b.PIIMode == "" {
		b.PIIMode = palisade.PIIOff
	}
	err := s.tenant(ctx, scope, func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO bots (`+botCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			string(b.ID), string(b.WorkspaceID), b.Name, b.SystemPrompt, b.Model, b.Temperature, b.MaxOutputTokens, string(b.PIIMode),
			joinList(b.AllowedDomains), b.RetentionDays, b.GatewayTokenHash, b.GatewayTokenSalt, b.DailyTokenBudget, b.CreatedAt, b.UpdatedAt)
		return err
	})
	return b, s.mapErr(err, "creating bot")
}

func (s *Store) GetBot(ctx context.Context, scope palisade.Scope, id palisade.BotID) (palisade.Bot, error) {
	var b palisade.Bot
	err := s.tenant(ctx, scope, func(tx Tx) (err error) {
		b, err = scanBot(tx.QueryRow(ctx, `SELECT `+botCols+` FROM bots WHERE workspace_id = $1 AND id = $2`, string(scope.Workspace()), string(id)))
		return err
	})
	return b, s.mapErr(err, "reading bot")
}

func (s *Store) ListBots(ctx context.Context, scope palisade.Scope) ([]palisade.Bot, error) {
	var out []palisade.Bot
	err := s.tenant(ctx, scope, func(tx Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+botCols+` FROM bots WHERE workspace_id = $1 ORDER BY created_at, id`, string(scope.Workspace()))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			b, err := scanBot(rows)
			if err != nil {
				return err
			}
			out = append(out, b)
		}
		return rows.Err()
	})
	return out, s.mapErr(err, "listing bots")
}

func (s *Store) ListBotsPage(ctx context.Context, scope palisade.Scope, p store.ListBotsParams) ([]palisade.Bot, error) {
	limit := p.Limit
	if limit < 1 || limit > store.MaxPage+1 {
		limit = store.MaxPage + 1
	}
	var out []palisade.Bot
	err := s.tenant(ctx, scope, func(tx Tx) error {
		q := `SELECT ` + botCols + ` FROM bots WHERE workspace_id = $1`
		args := []any{string(scope.Workspace()), limit}
		if p.After != nil {
			q += ` AND (created_at > $3 OR (created_at = $3 AND id > $4))`
			args = append(args, dbTime(p.After.CreatedAt), string(p.After.ID))
		}
		rows, err := tx.Query(ctx, q+` ORDER BY created_at, id LIMIT $2`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			b, err := scanBot(rows)
			if err != nil {
				return err
			}
			out = append(out, b)
		}
		return rows.Err()
	})
	return out, s.mapErr(err, "listing bots")
}

// UpdateBot writes the bot's configuration. It never writes the gateway
// token columns: an edit works on a copy read earlier, and writing that
// copy's token back would undo a rotation made in between.
func (s *Store) UpdateBot(ctx context.Context, scope palisade.Scope, b palisade.Bot) (palisade.Bot, error) {
	return s.updateBot(ctx, scope, b.ID, "updating bot", `UPDATE bots SET name = $3, system_prompt = $4, model = $5, temperature = $6,
		max_output_tokens = $7, pii_mode = $8, allowed_domains = $9, retention_days = $10, daily_token_budget = $11, updated_at = $12
		WHERE workspace_id = $1 AND id = $2`,
		b.Name, b.SystemPrompt, b.Model, b.Temperature, b.MaxOutputTokens, string(b.PIIMode),
		joinList(b.AllowedDomains), b.RetentionDays, b.DailyTokenBudget, dbTime(b.UpdatedAt))
}

// RotateBotToken replaces the bot's gateway token salt and hash, and only
// those: the old token stops working at once.
func (s *Store) RotateBotToken(ctx context.Context, scope palisade.Scope, id palisade.BotID, salt, hash []byte, now time.Time) (palisade.Bot, error) {
	return s.updateBot(ctx, scope, id, "rotating bot token",
		`UPDATE bots SET gateway_token_salt = $3, gateway_token_hash = $4, updated_at = $5 WHERE workspace_id = $1 AND id = $2`,
		salt, hash, dbTime(now))
}

// updateBot runs one UPDATE of a bot (its first two parameters are the
// workspace and the bot id) and reads the bot back.
func (s *Store) updateBot(ctx context.Context, scope palisade.Scope, id palisade.BotID, what, query string, args ...any) (palisade.Bot, error) {
	var out palisade.Bot
	err := s.tenant(ctx, scope, func(tx Tx) error {
		n, err := tx.Exec(ctx, query, append([]any{string(scope.Workspace()), string(id)}, args...)...)
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		out, err = scanBot(tx.QueryRow(ctx, `SELECT `+botCols+` FROM bots WHERE workspace_id = $1 AND id = $2`, string(scope.Workspace()), string(id)))
		return err
	})
	return out, s.mapErr(err, what)
}

func (s *Store) DeleteBot(ctx context.Context, scope palisade.Scope, id palisade.BotID) error {
	err := s.tenant(ctx, scope, func(tx Tx) error {
		n, err := tx.Exec(ctx, `DELETE FROM bots WHERE workspace_id = $1 AND id = $2`, string(scope.Workspace()), string(id))
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return s.mapErr(err, "deleting bot")
}

func (s *Store) LookupBotWorkspace(ctx context.Context, id palisade.BotID) (palisade.WorkspaceID, error) {
	var ws string
	err := s.lookup(ctx, lookupBot+string(id), func(tx Tx) error {
		return tx.QueryRow(ctx, `SELECT workspace_id FROM bots WHERE id = $1`, string(id)).Scan(&ws)
	})
	return palisade.WorkspaceID(ws), s.mapErr(err, "looking up bot")
}
