package sqlstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
)

// WithSealer sets the Sealer the store seals and opens sealed columns with;
// nil leaves it refusing them. Called once, when the dialect opens the
// store, before it is shared.
func (s *Store) WithSealer(x store.Sealer) *Store {
	s.sealer = x
	return s
}

// WithUserSealer sets the sealer of users' own secrets.
func (s *Store) WithUserSealer(x store.UserSealer) *Store {
	s.userSealer = x
	return s
}

// sealField seals one value of a sealed column. rowID is the row's primary
// key: reencrypt binds the same. Without a Sealer it fails, so a sealed
// column is never written in plaintext.
func (s *Store) sealField(ctx context.Context, scope palisade.Scope, table, column, rowID string, plaintext []byte) ([]byte, error) {
	if !scope.Valid() {
		return nil, store.ErrNoScope
	}
	if s.sealer == nil {
		return nil, store.ErrNoSealer
	}
	b, err := s.sealer.Seal(ctx, scope.Workspace(), palisade.SealedField{Table: table, Column: column, RowID: rowID}, plaintext)
	if err != nil {
		return nil, fmt.Errorf("sealing %s.%s: %w", table, column, err)
	}
	return b, nil
}

// openField opens one value of a sealed column read from the row rowID.
func (s *Store) openField(ctx context.Context, scope palisade.Scope, table, column, rowID string, sealed []byte) ([]byte, error) {
	if !scope.Valid() {
		return nil, store.ErrNoScope
	}
	if s.sealer == nil {
		return nil, store.ErrNoSealer
	}
	b, err := s.sealer.Open(ctx, scope.Workspace(), palisade.SealedField{Table: table, Column: column, RowID: rowID}, sealed)
	if err != nil {
		return nil, fmt.Errorf("opening %s.%s of %s: %w", table, column, rowID, err)
	}
	return b, nil
}

// sealSecret seals a secret, or returns nil (SQL NULL) for a zero one.
func (s *Store) sealSecret(ctx context.Context, scope palisade.Scope, table, column, rowID string, v secret.Secret) ([]byte, error) {
	if v.IsZero() {
		return nil, nil
	}
	pt := []byte(v.Reveal())
	defer clear(pt)
	return s.sealField(ctx, scope, table, column, rowID, pt)
}

// openSecret opens a sealed column into a secret; NULL is a zero secret.
func (s *Store) openSecret(ctx context.Context, scope palisade.Scope, table, column, rowID string, sealed []byte) (secret.Secret, error) {
	if sealed == nil {
		return secret.Secret{}, nil
	}
	pt, err := s.openField(ctx, scope, table, column, rowID, sealed)
	if err != nil {
		return secret.Secret{}, err
	}
	v := secret.New(string(pt))
	clear(pt)
	return v, nil
}

// shredWorkspace destroys the workspace's keys before its rows go
// (crypto-shredding, SPEC.md R3): if the row deletion then fails, the
// sealed values are already unreadable, which is the safe order; the
// reverse would leave keys behind for rows that exist only in backups.
// A store without a Sealer wrote no sealed values, and deletes rows only.
func (s *Store) shredWorkspace(ctx context.Context, scope palisade.Scope) error {
	if s.sealer == nil {
		return nil
	}
	// Only an existing workspace: no tombstone for a mistyped id.
	if _, err := s.GetWorkspace(ctx, scope); err != nil {
		return err
	}
	if err := s.sealer.DestroyWorkspace(ctx, scope.Workspace()); err != nil {
		return fmt.Errorf("destroying the keys of workspace %s: %w", scope.Workspace(), err)
	}
	return nil
}

// ---- channels ----

const channelCols = `id, workspace_id, bot_id, kind, name, external_id, config, status, sealed_credentials IS NOT NULL, sealed_secret IS NOT NULL, created_at, updated_at`

func scanChannel(r Row) (palisade.Channel, error) {
	var c palisade.Channel
	var id, ws, bot string
	err := r.Scan(&id, &ws, &bot, &c.Kind, &c.Name, &c.ExternalID, &c.Config, &c.Status, &c.HasCredentials, &c.HasSecret,
		timeScan{&c.CreatedAt}, timeScan{&c.UpdatedAt})
	c.ID, c.WorkspaceID, c.BotID = palisade.ChannelID(id), palisade.WorkspaceID(ws), palisade.BotID(bot)
	return c, err
}

func (s *Store) CreateChannel(ctx context.Context, scope palisade.Scope, p store.CreateChannelParams) (palisade.Channel, error) {
	if !scope.Valid() {
		return palisade.Channel{}, store.ErrNoScope
	}
	c := palisade.Channel{ID: palisade.NewChannelID(), WorkspaceID: scope.Workspace(), BotID: p.BotID, Kind: p.Kind, Name: p.Name,
		ExternalID: p.ExternalID, Config: p.Config, Status: p.Status, HasCredentials: !p.Credentials.IsZero(), HasSecret: !p.Secret.IsZero(),
		CreatedAt: dbTime(p.Now), UpdatedAt: dbTime(p.Now)}
	if p.Kind == "" {
		return palisade.Channel{}, palisade.FieldError("kind", "a channel needs a kind")
	}
	if c.Status == "" {
		c.Status = "active"
	}
	creds, err := s.sealSecret(ctx, scope, "channels", "sealed_credentials", string(c.ID), p.Credentials)
	if err != nil {
		return palisade.Channel{}, err
	}
	sec, err := s.sealSecret(ctx, scope, "channels", "sealed_secret", string(c.ID), p.Secret)
	if err != nil {
		return palisade.Channel{}, err
	}
	err = s.tenant(ctx, scope, func(tx Tx) error {
		// The bot must be the workspace's own: the foreign key alone would
		// accept another workspace's bot.
		n, err := tx.Exec(ctx, `INSERT INTO channels (id, workspace_id, bot_id, kind, name, external_id, config, sealed_credentials, sealed_secret, status, created_at, updated_at)
			SELECT $1, $2, id, $4, $5, $6, $7, $8, $9, $10, $11, $11 FROM bots WHERE workspace_id = $2 AND id = $3`,
			string(c.ID), string(c.WorkspaceID), string(c.BotID), c.Kind, c.Name, c.ExternalID, c.Config, creds, sec, c.Status, c.CreatedAt)
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return c, s.mapErr(err, "creating channel")
}

func (s *Store) GetChannel(ctx context.Context, scope palisade.Scope, id palisade.ChannelID) (palisade.Channel, error) {
	var c palisade.Channel
	err := s.tenant(ctx, scope, func(tx Tx) (err error) {
		c, err = scanChannel(tx.QueryRow(ctx, `SELECT `+channelCols+` FROM channels WHERE workspace_id = $1 AND id = $2`, string(scope.Workspace()), string(id)))
		return err
	})
	return c, s.mapErr(err, "reading channel")
}

func (s *Store) ListChannels(ctx context.Context, scope palisade.Scope, bot palisade.BotID) ([]palisade.Channel, error) {
	var out []palisade.Channel
	err := s.tenant(ctx, scope, func(tx Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+channelCols+` FROM channels WHERE workspace_id = $1 AND bot_id = $2 ORDER BY created_at, id`,
			string(scope.Workspace()), string(bot))
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
	return out, s.mapErr(err, "listing channels")
}

func (s *Store) SetChannelCredentials(ctx context.Context, scope palisade.Scope, id palisade.ChannelID, creds secret.Secret, now time.Time) error {
	return s.setChannelSealed(ctx, scope, id, "sealed_credentials", creds, now)
}

func (s *Store) SetChannelSecret(ctx context.Context, scope palisade.Scope, id palisade.ChannelID, v secret.Secret, now time.Time) error {
	return s.setChannelSealed(ctx, scope, id, "sealed_secret", v, now)
}

// setChannelSealed writes one of the two sealed columns of channels; column
// is one of those two constants, never input.
func (s *Store) setChannelSealed(ctx context.Context, scope palisade.Scope, id palisade.ChannelID, column string, v secret.Secret, now time.Time) error {
	sealed, err := s.sealSecret(ctx, scope, "channels", column, string(id), v)
	if err != nil {
		return err
	}
	err = s.tenant(ctx, scope, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE channels SET `+column+` = $1, updated_at = $2 WHERE workspace_id = $3 AND id = $4`,
			sealed, dbTime(now), string(scope.Workspace()), string(id))
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return s.mapErr(err, "updating channel "+column)
}

func (s *Store) ChannelCredentials(ctx context.Context, scope palisade.Scope, id palisade.ChannelID) (secret.Secret, error) {
	return s.channelSealed(ctx, scope, id, "sealed_credentials")
}

func (s *Store) ChannelSecret(ctx context.Context, scope palisade.Scope, id palisade.ChannelID) (secret.Secret, error) {
	return s.channelSealed(ctx, scope, id, "sealed_secret")
}

func (s *Store) channelSealed(ctx context.Context, scope palisade.Scope, id palisade.ChannelID, column string) (secret.Secret, error) {
	var sealed []byte
	err := s.tenant(ctx, scope, func(tx Tx) error {
		return tx.QueryRow(ctx, `SELECT `+column+` FROM channels WHERE workspace_id = $1 AND id = $2`, string(scope.Workspace()), string(id)).Scan(&sealed)
	})
	if err != nil {
		return secret.Secret{}, s.mapErr(err, "reading channel "+column)
	}
	return s.openSecret(ctx, scope, "channels", column, string(id), sealed)
}

func (s *Store) SetChannelGatewaySession(ctx context.Context, scope palisade.Scope, id palisade.ChannelID, g store.GatewaySession) error {
	sealed, err := s.sealSecret(ctx, scope, "channels", "sealed_gateway_session", string(id), g.SessionID)
	if err != nil {
		return err
	}
	if sealed == nil {
		g.ResumeURL, g.Seq = "", 0
	}
	err = s.tenant(ctx, scope, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE channels SET sealed_gateway_session = $1, gateway_resume_url = $2, gateway_seq = $3 WHERE workspace_id = $4 AND id = $5`,
			sealed, g.ResumeURL, g.Seq, string(scope.Workspace()), string(id))
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return s.mapErr(err, "saving a channel's Gateway session")
}

func (s *Store) SetChannelGatewaySeq(ctx context.Context, scope palisade.Scope, id palisade.ChannelID, seq int64) error {
	err := s.tenant(ctx, scope, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE channels SET gateway_seq = $1 WHERE workspace_id = $2 AND id = $3`, seq, string(scope.Workspace()), string(id))
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return s.mapErr(err, "saving a channel's Gateway sequence number")
}

func (s *Store) ChannelGatewaySession(ctx context.Context, scope palisade.Scope, id palisade.ChannelID) (store.GatewaySession, error) {
	var g store.GatewaySession
	var sealed []byte
	err := s.tenant(ctx, scope, func(tx Tx) error {
		return tx.QueryRow(ctx, `SELECT sealed_gateway_session, gateway_resume_url, gateway_seq FROM channels WHERE workspace_id = $1 AND id = $2`,
			string(scope.Workspace()), string(id)).Scan(&sealed, &g.ResumeURL, &g.Seq)
	})
	if err != nil {
		return store.GatewaySession{}, s.mapErr(err, "reading a channel's Gateway session")
	}
	if g.SessionID, err = s.openSecret(ctx, scope, "channels", "sealed_gateway_session", string(id), sealed); err != nil {
		return store.GatewaySession{}, err
	}
	return g, nil
}

func (s *Store) UpdateChannel(ctx context.Context, scope palisade.Scope, id palisade.ChannelID, p store.UpdateChannelParams) (palisade.Channel, error) {
	var c palisade.Channel
	err := s.tenant(ctx, scope, func(tx Tx) error {
		// COALESCE keeps a field whose parameter is NULL: one statement
		// whatever the set of fields, with no SQL built from input.
		n, err := tx.Exec(ctx, `UPDATE channels SET name = COALESCE($3, name), external_id = COALESCE($4, external_id),
			config = COALESCE($5, config), status = COALESCE($6, status), updated_at = $7 WHERE workspace_id = $1 AND id = $2`,
			string(scope.Workspace()), string(id), optString(p.Name), optString(p.ExternalID), optString(p.Config), optString(p.Status), dbTime(p.Now))
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		c, err = scanChannel(tx.QueryRow(ctx, `SELECT `+channelCols+` FROM channels WHERE workspace_id = $1 AND id = $2`, string(scope.Workspace()), string(id)))
		return err
	})
	return c, s.mapErr(err, "updating channel")
}

// optString is a nullable parameter: NULL for nil.
func optString(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

func (s *Store) DeleteChannel(ctx context.Context, scope palisade.Scope, id palisade.ChannelID) error {
	err := s.tenant(ctx, scope, func(tx Tx) error {
		n, err := tx.Exec(ctx, `DELETE FROM channels WHERE workspace_id = $1 AND id = $2`, string(scope.Workspace()), string(id))
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return s.mapErr(err, "deleting channel")
}

// LookupWebhookChannel is the one query of an inbound webhook. On
// PostgreSQL the lookup key lets exactly this row be read (migration
// 00008); the secret is opened under the row's own workspace.
func (s *Store) LookupWebhookChannel(ctx context.Context, bot palisade.BotID, kind string) (store.WebhookChannel, error) {
	var out store.WebhookChannel
	var sealed []byte
	err := s.d.InTx(ctx, TxScope{Lookup: "hook:" + kind + ":" + string(bot)}, func(tx Tx) error {
		var id, ws, b string
		c := &out.Channel
		err := tx.QueryRow(ctx, `SELECT `+channelCols+`, sealed_secret FROM channels WHERE bot_id = $1 AND kind = $2`, string(bot), kind).Scan(
			&id, &ws, &b, &c.Kind, &c.Name, &c.ExternalID, &c.Config, &c.Status, &c.HasCredentials, &c.HasSecret,
			timeScan{&c.CreatedAt}, timeScan{&c.UpdatedAt}, &sealed)
		c.ID, c.WorkspaceID, c.BotID = palisade.ChannelID(id), palisade.WorkspaceID(ws), palisade.BotID(b)
		return err
	})
	if err != nil {
		return store.WebhookChannel{}, s.mapErr(err, "looking up webhook channel")
	}
	out.Secret, err = s.openSecret(ctx, palisade.ScopeFor(out.Channel.WorkspaceID), "channels", "sealed_secret", string(out.Channel.ID), sealed)
	if err != nil {
		return store.WebhookChannel{}, err
	}
	return out, nil
}

// ---- provider keys ----

func (s *Store) CreateProviderKey(ctx context.Context, scope palisade.Scope, p store.CreateProviderKeyParams) (store.ProviderKey, error) {
	if !scope.Valid() {
		return store.ProviderKey{}, store.ErrNoScope
	}
	if p.Provider == "" {
		return store.ProviderKey{}, palisade.FieldError("provider", "a provider key needs a provider")
	}
	if p.Key.IsZero() {
		return store.ProviderKey{}, palisade.FieldError("key", "a provider key needs a key")
	}
	k := store.ProviderKey{ID: store.NewProviderKeyID(), WorkspaceID: scope.Workspace(), Provider: p.Provider, BaseURL: p.BaseURL, CreatedAt: dbTime(p.Now)}
	sealed, err := s.sealSecret(ctx, scope, "provider_keys", "sealed_key", string(k.ID), p.Key)
	if err != nil {
		return store.ProviderKey{}, err
	}
	err = s.tenant(ctx, scope, func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO provider_keys (id, workspace_id, provider, base_url, sealed_key, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			string(k.ID), string(k.WorkspaceID), k.Provider, k.BaseURL, sealed, k.CreatedAt)
		return err
	})
	return k, s.mapErr(err, "creating provider key")
}

func (s *Store) GetProviderKey(ctx context.Context, scope palisade.Scope, id store.ProviderKeyID) (store.ProviderKey, error) {
	var k store.ProviderKey
	var sealed []byte
	err := s.tenant(ctx, scope, func(tx Tx) error {
		var kid, ws string
		err := tx.QueryRow(ctx, `SELECT id, workspace_id, provider, base_url, sealed_key, created_at FROM provider_keys WHERE workspace_id = $1 AND id = $2`,
			string(scope.Workspace()), string(id)).Scan(&kid, &ws, &k.Provider, &k.BaseURL, &sealed, timeScan{&k.CreatedAt})
		k.ID, k.WorkspaceID = store.ProviderKeyID(kid), palisade.WorkspaceID(ws)
		return err
	})
	if err != nil {
		return store.ProviderKey{}, s.mapErr(err, "reading provider key")
	}
	k.Key, err = s.openSecret(ctx, scope, "provider_keys", "sealed_key", string(k.ID), sealed)
	if err != nil {
		return store.ProviderKey{}, err
	}
	return k, nil
}

func (s *Store) ListProviderKeys(ctx context.Context, scope palisade.Scope) ([]store.ProviderKey, error) {
	var out []store.ProviderKey
	err := s.tenant(ctx, scope, func(tx Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, workspace_id, provider, base_url, created_at FROM provider_keys WHERE workspace_id = $1 ORDER BY created_at, id`,
			string(scope.Workspace()))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k store.ProviderKey
			var id, ws string
			if err := rows.Scan(&id, &ws, &k.Provider, &k.BaseURL, timeScan{&k.CreatedAt}); err != nil {
				return err
			}
			k.ID, k.WorkspaceID = store.ProviderKeyID(id), palisade.WorkspaceID(ws)
			out = append(out, k)
		}
		return rows.Err()
	})
	return out, s.mapErr(err, "listing provider keys")
}

func (s *Store) UpdateProviderKey(ctx context.Context, scope palisade.Scope, id store.ProviderKeyID, key secret.Secret) error {
	if key.IsZero() {
		return palisade.FieldError("key", "a provider key needs a key")
	}
	sealed, err := s.sealSecret(ctx, scope, "provider_keys", "sealed_key", string(id), key)
	if err != nil {
		return err
	}
	err = s.tenant(ctx, scope, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE provider_keys SET sealed_key = $1 WHERE workspace_id = $2 AND id = $3`, sealed, string(scope.Workspace()), string(id))
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return s.mapErr(err, "updating provider key")
}

func (s *Store) DeleteProviderKey(ctx context.Context, scope palisade.Scope, id store.ProviderKeyID) error {
	err := s.tenant(ctx, scope, func(tx Tx) error {
		n, err := tx.Exec(ctx, `DELETE FROM provider_keys WHERE workspace_id = $1 AND id = $2`, string(scope.Workspace()), string(id))
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return s.mapErr(err, "deleting provider key")
}

// ---- the reseal walk ----

// The table and column names below come from store.SealedColumns, a
// constant list, never from input.

func (s *Store) CountSealedFields(ctx context.Context, scope palisade.Scope) (int, error) {
	total := 0
	err := s.tenant(ctx, scope, func(tx Tx) error {
		for _, c := range store.SealedColumns {
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM `+c.Table+` WHERE workspace_id = $1 AND `+c.Column+` IS NOT NULL`,
				string(scope.Workspace())).Scan(&n); err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	return total, s.mapErr(err, "counting sealed fields")
}

type sealedValue struct {
	id    string
	value []byte
}

func (s *Store) ResealFields(ctx context.Context, scope palisade.Scope, from store.ResealCursor, limit int) (store.ResealResult, error) {
	res := store.ResealResult{Next: from}
	if !scope.Valid() {
		return res, store.ErrNoScope
	}
	if s.sealer == nil {
		return res, store.ErrNoSealer
	}
	if limit <= 0 {
		limit = 100
	}
	for res.Seen < limit && res.Next.Column < len(store.SealedColumns) {
		col := store.SealedColumns[res.Next.Column]
		want := limit - res.Seen
		var batch []sealedValue
		err := s.tenant(ctx, scope, func(tx Tx) error {
			rows, err := tx.Query(ctx, `SELECT id, `+col.Column+` FROM `+col.Table+` WHERE workspace_id = $1 AND `+col.Column+` IS NOT NULL AND id > $2 ORDER BY id LIMIT $3`,
				string(scope.Workspace()), res.Next.After, want)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var v sealedValue
				if err := rows.Scan(&v.id, &v.value); err != nil {
					return err
				}
				batch = append(batch, v)
			}
			return rows.Err()
		})
		if err != nil {
			return res, s.mapErr(err, "reading sealed values of "+col.Table+"."+col.Column)
		}
		// The crypto runs outside any transaction; each changed value is
		// written back only if it is still the one read (a request may
		// have replaced it, sealed under the newest key, meanwhile).
		type change struct {
			id       string
			old, new []byte
		}
		var changes []change
		for _, v := range batch {
			nv, err := s.sealer.Reseal(ctx, scope.Workspace(), palisade.SealedField{Table: col.Table, Column: col.Column, RowID: v.id}, v.value)
			if err != nil {
				return res, fmt.Errorf("resealing %s.%s of %s: %w", col.Table, col.Column, v.id, err)
			}
			if !bytes.Equal(nv, v.value) {
				changes = append(changes, change{v.id, v.value, nv})
			}
		}
		if len(changes) > 0 {
			err = s.tenant(ctx, scope, func(tx Tx) error {
				for _, c := range changes {
					n, err := tx.Exec(ctx, `UPDATE `+col.Table+` SET `+col.Column+` = $1 WHERE workspace_id = $2 AND id = $3 AND `+col.Column+` = $4`,
						c.new, string(scope.Workspace()), c.id, c.old)
					if err != nil {
						return err
					}
					res.Changed += int(n)
				}
				return nil
			})
			if err != nil {
				return res, s.mapErr(err, "writing resealed values of "+col.Table+"."+col.Column)
			}
		}
		res.Seen += len(batch)
		if len(batch) > 0 {
			res.Next.After = batch[len(batch)-1].id
		}
		if len(batch) < want {
			res.Next = store.ResealCursor{Column: res.Next.Column + 1}
		}
	}
	res.Done = res.Next.Column >= len(store.SealedColumns)
	return res, nil
}
