package sqlstore

import (
	"context"
	"strconv"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// ---- conversation listings ----

func (s *Store) ListConversations(ctx context.Context, scope palisade.Scope, p store.ListConversationsParams) ([]palisade.Conversation, error) {
	var out []palisade.Conversation
	err := s.tenant(ctx, scope, func(tx Tx) error {
		if p.BotID != "" {
			if err := botInScope(ctx, tx, scope, p.BotID); err != nil {
				return err
			}
		}
		q := `SELECT ` + convCols + ` FROM conversations WHERE workspace_id = $1`
		args := []any{string(scope.Workspace())}
		arg := func(v any) string {
			args = append(args, v)
			return "$" + strconv.Itoa(len(args))
		}
		if p.BotID != "" {
			q += ` AND bot_id = ` + arg(string(p.BotID))
		}
		if p.Channel != "" {
			q += ` AND channel = ` + arg(p.Channel)
		}
		if !p.Since.IsZero() {
			q += ` AND last_message_at >= ` + arg(dbTime(p.Since))
		}
		if !p.Until.IsZero() {
			q += ` AND last_message_at < ` + arg(dbTime(p.Until))
		}
		if p.After != nil {
			t, id := arg(dbTime(p.After.CreatedAt)), arg(string(p.After.ID))
			q += ` AND (created_at < ` + t + ` OR (created_at = ` + t + ` AND id < ` + id + `))`
		}
		q += ` ORDER BY created_at DESC, id DESC LIMIT ` + arg(store.PageLimit(p.Limit))
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanConversation(rows, scope.Workspace())
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, s.mapErr(err, "listing conversations")
}

func (s *Store) ListMessagesAfter(ctx context.Context, scope palisade.Scope, conv palisade.ConversationID, afterSeq int64, limit int) ([]palisade.Message, error) {
	var out []palisade.Message
	var bodies, sources [][]byte
	err := s.tenant(ctx, scope, func(tx Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, conversation_id, bot_id, role, sealed_body, inbound_ref, tokens_in, tokens_out, seq, created_at, sealed_sources
			FROM messages WHERE workspace_id = $1 AND conversation_id = $2 AND seq > $3 ORDER BY seq, id LIMIT $4`,
			string(scope.Workspace()), string(conv), afterSeq, store.PageLimit(limit))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m palisade.Message
			var id, c, bot string
			var sealed, src []byte
			if err := rows.Scan(&id, &c, &bot, &m.Role, &sealed, &m.InboundRef, &m.TokensIn, &m.TokensOut, &m.Seq, timeScan{&m.CreatedAt}, &src); err != nil {
				return err
			}
			m.ID, m.ConversationID, m.BotID = palisade.MessageID(id), palisade.ConversationID(c), palisade.BotID(bot)
			out = append(out, m)
			bodies = append(bodies, sealed)
			sources = append(sources, src)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, s.mapErr(err, "listing messages")
	}
	return s.openMessages(ctx, scope, out, bodies, sources)
}

func (s *Store) DeleteConversation(ctx context.Context, scope palisade.Scope, id palisade.ConversationID) error {
	err := s.tenant(ctx, scope, func(tx Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM messages WHERE workspace_id = $1 AND conversation_id = $2`, string(scope.Workspace()), string(id)); err != nil {
			return err
		}
		n, err := tx.Exec(ctx, `DELETE FROM conversations WHERE workspace_id = $1 AND id = $2`, string(scope.Workspace()), string(id))
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	return s.mapErr(err, "deleting conversation")
}

// ---- idempotency keys ----

func (s *Store) ClaimIdempotencyKey(ctx context.Context, scope palisade.Scope, p store.ClaimIdempotencyParams) (store.IdempotencyRecord, bool, error) {
	var rec store.IdempotencyRecord
	var claimed bool
	var id string
	var sealed []byte
	mine := palisade.NewID("idem")
	err := s.tenant(ctx, scope, func(tx Tx) error {
		ws := string(scope.Workspace())
		if _, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE workspace_id = $1 AND principal = $2 AND key = $3 AND expires_at <= $4`,
			ws, p.Principal, p.Key, dbTime(p.Now)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (id, workspace_id, principal, key, request_hash, status, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, 0, $6, $7) ON CONFLICT (workspace_id, principal, key) DO NOTHING`,
			mine, ws, p.Principal, p.Key, p.RequestHash, dbTime(p.Now), dbTime(p.ExpiresAt)); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT id, principal, key, request_hash, status, sealed_response, created_at, expires_at FROM idempotency_keys
			WHERE workspace_id = $1 AND principal = $2 AND key = $3`, ws, p.Principal, p.Key).
			Scan(&id, &rec.Principal, &rec.Key, &rec.RequestHash, &rec.Status, &sealed, timeScan{&rec.CreatedAt}, timeScan{&rec.ExpiresAt})
		claimed = id == mine
		return err
	})
	if err != nil {
		return rec, false, s.mapErr(err, "claiming idempotency key")
	}
	if sealed != nil {
		body, err := s.openField(ctx, scope, "idempotency_keys", "sealed_response", id, sealed)
		if err != nil {
			return rec, false, err
		}
		rec.Response = body
	}
	return rec, claimed, nil
}

func (s *Store) CompleteIdempotencyKey(ctx context.Context, scope palisade.Scope, principal, key string, status int, response []byte) error {
	var id string
	err := s.tenant(ctx, scope, func(tx Tx) error {
		return tx.QueryRow(ctx, `SELECT id FROM idempotency_keys WHERE workspace_id = $1 AND principal = $2 AND key = $3 AND status = 0`,
			string(scope.Workspace()), principal, key).Scan(&id)
	})
	if err != nil {
		return s.mapErr(err, "reading idempotency key")
	}
	// Sealed outside the transaction: the crypto needs no lock.
	sealed, err := s.sealField(ctx, scope, "idempotency_keys", "sealed_response", id, response)
	if err != nil {
		return err
	}
	err = s.tenant(ctx, scope, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE idempotency_keys SET status = $1, sealed_response = $2 WHERE workspace_id = $3 AND id = $4 AND status = 0`,
			status, sealed, string(scope.Workspace()), id)
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return s.mapErr(err, "completing idempotency key")
}

func (s *Store) ReleaseIdempotencyKey(ctx context.Context, scope palisade.Scope, principal, key string) error {
	err := s.tenant(ctx, scope, func(tx Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE workspace_id = $1 AND principal = $2 AND key = $3 AND status = 0`,
			string(scope.Workspace()), principal, key)
		return err
	})
	return s.mapErr(err, "releasing idempotency key")
}
