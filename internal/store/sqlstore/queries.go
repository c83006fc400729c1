package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// ---- workspaces ----

func (s *Store) CreateWorkspace(ctx context.Context, p store.CreateWorkspaceParams) (palisade.Workspace, error) {
	w := palisade.Workspace{ID: palisade.NewWorkspaceID(), Name: p.Name, RetentionDays: 90, CreatedAt: dbTime(p.Now)}
	err := s.platform(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO workspaces (id, name, require_mfa, retention_days, created_at) VALUES ($1, $2, $3, $4, $5)`,
			string(w.ID), w.Name, w.RequireMFA, w.RetentionDays, w.CreatedAt)
		return err
	})
	return w, s.mapErr(err, "creating workspace")
}

func (s *Store) GetWorkspace(ctx context.Context, scope store.Scope) (palisade.Workspace, error) {
	var w palisade.Workspace
	err := s.tenant(ctx, scope, func(tx Tx) error {
		var id string
		return tx.QueryRow(ctx, `SELECT id, name, require_mfa, retention_days, allowed_models, created_at FROM workspaces WHERE id = $1`,
			string(scope.Workspace())).Scan(&id, &w.Name, &w.RequireMFA, &w.RetentionDays, listScan{&w.AllowedModels}, timeScan{&w.CreatedAt})
	})
	w.ID = scope.Workspace()
	return w, s.mapErr(err, "reading workspace")
}

func (s *Store) SetWorkspaceModels(ctx context.Context, scope store.Scope, models []string) error {
	err := s.tenant(ctx, scope, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE workspaces SET allowed_models = $1 WHERE id = $2`, joinList(models), string(scope.Workspace()))
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return s.mapErr(err, "setting the workspace's models")
}

func (s *Store) ListWorkspaceIDs(ctx context.Context) ([]palisade.WorkspaceID, error) {
	var ids []palisade.WorkspaceID
	err := s.platform(ctx, func(tx Tx) error {
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

func (s *Store) DeleteWorkspace(ctx context.Context, scope store.Scope) error {
	// Keys first (crypto-shredding), then rows: see shredWorkspace.
	if err := s.shredWorkspace(ctx, scope); err != nil {
		return s.mapErr(err, "deleting workspace")
	}
	err := s.tenant(ctx, scope, func(tx Tx) error {
		n, err := tx.Exec(ctx, `DELETE FROM workspaces WHERE id = $1`, string(scope.Workspace()))
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return s.mapErr(err, "deleting workspace")
}

// ---- users ----

const userCols = `id, email, name, password_hash, email_verified_at, totp_enabled, created_at`

func scanUser(r Row) (palisade.User, error) {
	var u palisade.User
	var id string
	err := r.Scan(&id, &u.Email, &u.Name, &u.PasswordHash, nullTimeScan{&u.EmailVerifiedAt}, &u.TOTPEnabled, timeScan{&u.CreatedAt})
	u.ID = palisade.UserID(id)
	return u, err
}

func (s *Store) CreateUser(ctx context.Context, p store.CreateUserParams) (palisade.User, error) {
	u := palisade.User{ID: palisade.NewUserID(), Email: strings.ToLower(p.Email), Name: p.Name, PasswordHash: p.PasswordHash, CreatedAt: dbTime(p.Now)}
	err := s.platform(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)`,
			string(u.ID), u.Email, u.Name, u.PasswordHash, u.CreatedAt)
		return err
	})
	return u, s.mapErr(err, "creating user")
}

func (s *Store) GetUser(ctx context.Context, id palisade.UserID) (palisade.User, error) {
	var u palisade.User
	err := s.platform(ctx, func(tx Tx) (err error) {
		u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, string(id)))
		return err
	})
	return u, s.mapErr(err, "reading user")
}

func (s *Store) GetUserByEmail(ctx context.Context, email string) (palisade.User, error) {
	var u palisade.User
	err := s.platform(ctx, func(tx Tx) (err error) {
		u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE email = $1`, strings.ToLower(email)))
		return err
	})
	return u, s.mapErr(err, "reading user")
}

func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.platform(ctx, func(tx Tx) error {
		return tx.QueryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	})
	return n, s.mapErr(err, "counting users")
}

// ---- one-time tokens ----

func (s *Store) CreateOneTimeToken(ctx context.Context, p store.CreateTokenParams) error {
	err := s.platform(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO one_time_tokens (token_hash, purpose, email, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			p.Hash, p.Purpose, strings.ToLower(p.Email), nullString(string(p.UserID)), dbTime(p.Now), dbTime(p.ExpiresAt))
		return err
	})
	return s.mapErr(err, "creating one-time token")
}

func (s *Store) ConsumeOneTimeToken(ctx context.Context, purpose string, hash []byte, now time.Time) (store.OneTimeToken, error) {
	var t store.OneTimeToken
	err := s.platform(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE one_time_tokens SET used_at = $1 WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1`,
			dbTime(now), hash, purpose)
		if err != nil {
			return err
		}
		if n != 1 {
			return store.ErrNotFound
		}
		var uid string
		err = tx.QueryRow(ctx, `SELECT purpose, email, user_id, expires_at FROM one_time_tokens WHERE token_hash = $1`, hash).
			Scan(&t.Purpose, &t.Email, strScan{&uid}, timeScan{&t.ExpiresAt})
		t.UserID = palisade.UserID(uid)
		return err
	})
	return t, s.mapErr(err, "consuming one-time token")
}

// ---- memberships ----

const memberCols = `id, workspace_id, user_id, role, created_at`

func scanMember(r Row) (palisade.Membership, error) {
	var m palisade.Membership
	var id, ws, uid, role string
	err := r.Scan(&id, &ws, &uid, &role, timeScan{&m.CreatedAt})
	m.ID, m.WorkspaceID, m.UserID, m.Role = palisade.MembershipID(id), palisade.WorkspaceID(ws), palisade.UserID(uid), palisade.Role(role)
	return m, err
}

func addMember(ctx context.Context, tx Tx, scope store.Scope, user palisade.UserID, role palisade.Role, now time.Time) (palisade.Membership, error) {
	m := palisade.Membership{ID: palisade.NewMembershipID(), WorkspaceID: scope.Workspace(), UserID: user, Role: role, CreatedAt: dbTime(now)}
	_, err := tx.Exec(ctx, `INSERT INTO memberships (`+memberCols+`) VALUES ($1, $2, $3, $4, $5)`,
		string(m.ID), string(m.WorkspaceID), string(user), string(role), m.CreatedAt)
	return m, err
}

func (s *Store) AddMember(ctx context.Context, scope store.Scope, user palisade.UserID, role palisade.Role, now time.Time) (palisade.Membership, error) {
	var m palisade.Membership
	err := s.tenant(ctx, scope, func(tx Tx) (err error) {
		m, err = addMember(ctx, tx, scope, user, role, now)
		return err
	})
	return m, s.mapErr(err, "adding member")
}

func (s *Store) GetMembership(ctx context.Context, scope store.Scope, user palisade.UserID) (palisade.Membership, error) {
	var m palisade.Membership
	err := s.tenant(ctx, scope, func(tx Tx) (err error) {
		m, err = scanMember(tx.QueryRow(ctx, `SELECT `+memberCols+` FROM memberships WHERE workspace_id = $1 AND user_id = $2`,
			string(scope.Workspace()), string(user)))
		return err
	})
	return m, s.mapErr(err, "reading membership")
}

func queryMembers(ctx context.Context, tx Tx, q string, arg string) ([]palisade.Membership, error) {
	rows, err := tx.Query(ctx, q, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []palisade.Membership
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (s *Store) ListMembers(ctx context.Context, scope store.Scope) ([]palisade.Membership, error) {
	var out []palisade.Membership
	err := s.tenant(ctx, scope, func(tx Tx) (err error) {
		out, err = queryMembers(ctx, tx, `SELECT `+memberCols+` FROM memberships WHERE workspace_id = $1 ORDER BY created_at, id`, string(scope.Workspace()))
		return err
	})
	return out, s.mapErr(err, "listing members")
}

func (s *Store) ListUserMemberships(ctx context.Context, user palisade.UserID) ([]palisade.Membership, error) {
	var out []palisade.Membership
	err := s.d.InTx(ctx, TxScope{User: user}, func(tx Tx) (err error) {
		out, err = queryMembers(ctx, tx, `SELECT `+memberCols+` FROM memberships WHERE user_id = $1 ORDER BY created_at, id`, string(user))
		return err
	})
	return out, s.mapErr(err, "listing user memberships")
}

// ---- invitations ----

const invitationCols = `id, workspace_id, email, role, invited_by, created_at, expires_at, accepted_at`

func scanInvitation(r Row) (store.Invitation, error) {
	var i store.Invitation
	var id, ws, role, by string
	err := r.Scan(&id, &ws, &i.Email, &role, &by, timeScan{&i.CreatedAt}, timeScan{&i.ExpiresAt}, nullTimeScan{&i.AcceptedAt})
	i.ID, i.WorkspaceID, i.Role, i.InvitedBy = palisade.InvitationID(id), palisade.WorkspaceID(ws), palisade.Role(role), palisade.UserID(by)
	return i, err
}

func (s *Store) CreateInvitation(ctx context.Context, scope store.Scope, p store.CreateInvitationParams) (store.Invitation, error) {
	i := store.Invitation{ID: palisade.NewInvitationID(), WorkspaceID: scope.Workspace(), Email: strings.ToLower(p.Email), Role: p.Role,
		InvitedBy: p.InvitedBy, CreatedAt: dbTime(p.Now), ExpiresAt: dbTime(p.ExpiresAt)}
	err := s.tenant(ctx, scope, func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO invitations (id, workspace_id, email, role, token_hash, invited_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			string(i.ID), string(i.WorkspaceID), i.Email, string(i.Role), p.TokenHashHex, string(i.InvitedBy), i.CreatedAt, i.ExpiresAt)
		return err
	})
	return i, s.mapErr(err, "creating invitation")
}

func (s *Store) LookupInvitation(ctx context.Context, tokenHashHex string) (store.Invitation, error) {
	var i store.Invitation
	err := s.d.InTx(ctx, TxScope{Lookup: "inv:" + tokenHashHex}, func(tx Tx) (err error) {
		i, err = scanInvitation(tx.QueryRow(ctx, `SELECT `+invitationCols+` FROM invitations WHERE token_hash = $1 AND accepted_at IS NULL`, tokenHashHex))
		return err
	})
	return i, s.mapErr(err, "looking up invitation")
}

func (s *Store) AcceptInvitation(ctx context.Context, scope store.Scope, id palisade.InvitationID, user palisade.UserID, now time.Time) (palisade.Membership, error) {
	var m palisade.Membership
	err := s.tenant(ctx, scope, func(tx Tx) error {
		var role string
		err := tx.QueryRow(ctx, `UPDATE invitations SET accepted_at = $1 WHERE workspace_id = $2 AND id = $3 AND accepted_at IS NULL AND expires_at > $1 RETURNING role`,
			dbTime(now), string(scope.Workspace()), string(id)).Scan(&role)
		if err != nil {
			return err
		}
		m, err = addMember(ctx, tx, scope, user, palisade.Role(role), now)
		return err
	})
	return m, s.mapErr(err, "accepting invitation")
}

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

func (s *Store) CreateAPIKey(ctx context.Context, scope store.Scope, p store.CreateAPIKeyParams) (palisade.APIKey, error) {
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

func (s *Store) ListAPIKeys(ctx context.Context, scope store.Scope) ([]palisade.APIKey, error) {
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

func (s *Store) RevokeAPIKey(ctx context.Context, scope store.Scope, id palisade.APIKeyID, now time.Time) error {
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
	err := s.d.InTx(ctx, TxScope{Lookup: "key:" + prefix}, func(tx Tx) (err error) {
		k, err = scanAPIKey(tx.QueryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE prefix = $1`, prefix))
		return err
	})
	return k, s.mapErr(err, "looking up API key")
}

func (s *Store) TouchAPIKey(ctx context.Context, scope store.Scope, id palisade.APIKeyID, now time.Time) error {
	err := s.tenant(ctx, scope, func(tx Tx) error {
		_, err := tx.Exec(ctx, `UPDATE api_keys SET last_used_at = $1 WHERE workspace_id = $2 AND id = $3`, dbTime(now), string(scope.Workspace()), string(id))
		return err
	})
	return s.mapErr(err, "touching API key")
}

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

func (s *Store) CreateBot(ctx context.Context, scope store.Scope, b palisade.Bot) (palisade.Bot, error) {
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

func (s *Store) GetBot(ctx context.Context, scope store.Scope, id palisade.BotID) (palisade.Bot, error) {
	var b palisade.Bot
	err := s.tenant(ctx, scope, func(tx Tx) (err error) {
		b, err = scanBot(tx.QueryRow(ctx, `SELECT `+botCols+` FROM bots WHERE workspace_id = $1 AND id = $2`, string(scope.Workspace()), string(id)))
		return err
	})
	return b, s.mapErr(err, "reading bot")
}

func (s *Store) ListBots(ctx context.Context, scope store.Scope) ([]palisade.Bot, error) {
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

func (s *Store) UpdateBot(ctx context.Context, scope store.Scope, b palisade.Bot) (palisade.Bot, error) {
	b.WorkspaceID = scope.Workspace()
	b.UpdatedAt = dbTime(b.UpdatedAt)
	var out palisade.Bot
	err := s.tenant(ctx, scope, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE bots SET name = $3, system_prompt = $4, model = $5, temperature = $6, max_output_tokens = $7, pii_mode = $8,
			allowed_domains = $9, retention_days = $10, gateway_token_hash = $11, gateway_token_salt = $12, daily_token_budget = $13, updated_at = $14
			WHERE workspace_id = $1 AND id = $2`,
			string(b.WorkspaceID), string(b.ID), b.Name, b.SystemPrompt, b.Model, b.Temperature, b.MaxOutputTokens, string(b.PIIMode),
			joinList(b.AllowedDomains), b.RetentionDays, b.GatewayTokenHash, b.GatewayTokenSalt, b.DailyTokenBudget, b.UpdatedAt)
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		out, err = scanBot(tx.QueryRow(ctx, `SELECT `+botCols+` FROM bots WHERE workspace_id = $1 AND id = $2`, string(b.WorkspaceID), string(b.ID)))
		return err
	})
	return out, s.mapErr(err, "updating bot")
}

func (s *Store) DeleteBot(ctx context.Context, scope store.Scope, id palisade.BotID) error {
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
	err := s.d.InTx(ctx, TxScope{Lookup: "bot:" + string(id)}, func(tx Tx) error {
		return tx.QueryRow(ctx, `SELECT workspace_id FROM bots WHERE id = $1`, string(id)).Scan(&ws)
	})
	return palisade.WorkspaceID(ws), s.mapErr(err, "looking up bot")
}

// ---- deliveries ----

func (s *Store) RecordDelivery(ctx context.Context, scope store.Scope, p store.DeliveryParams, job store.JobArgs) (bool, error) {
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

// ---- maintenance ----

func (s *Store) PruneExpired(ctx context.Context, now time.Time, dedupeTTL time.Duration) (int64, error) {
	var total int64
	err := s.platform(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, `DELETE FROM one_time_tokens WHERE expires_at < $1`, dbTime(now))
		total += n
		return err
	})
	if err != nil {
		return total, s.mapErr(err, "pruning tokens")
	}
	ids, err := s.ListWorkspaceIDs(ctx)
	if err != nil {
		return total, err
	}
	cutoff := dbTime(now.Add(-dedupeTTL))
	for _, ws := range ids {
		scope := store.ScopeFor(ws)
		err := s.tenant(ctx, scope, func(tx Tx) error {
			n, err := tx.Exec(ctx, `DELETE FROM deliveries WHERE workspace_id = $1 AND created_at < $2`, string(ws), cutoff)
			total += n
			if err != nil {
				return err
			}
			n, err = tx.Exec(ctx, `DELETE FROM invitations WHERE workspace_id = $1 AND accepted_at IS NULL AND expires_at < $2`, string(ws), dbTime(now))
			total += n
			return err
		})
		if err != nil {
			return total, s.mapErr(err, "pruning workspace records")
		}
	}
	return total, nil
}
