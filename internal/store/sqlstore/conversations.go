package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// ---- conversations ----

const convCols = `id, bot_id, key, channel, external_user, created_at, last_message_at`

func scanConversation(r Row, ws palisade.WorkspaceID) (palisade.Conversation, error) {
	c := palisade.Conversation{WorkspaceID: ws}
	var id, bot string
	err := r.Scan(&id, &bot, &c.Key, &c.Channel, &c.ExternalUser, timeScan{&c.CreatedAt}, timeScan{&c.LastMessageAt})
	c.ID, c.BotID = palisade.ConversationID(id), palisade.BotID(bot)
	return c, err
}

func (s *Store) OpenConversation(ctx context.Context, scope palisade.Scope, p store.OpenConversationParams) (palisade.Conversation, error) {
	var c palisade.Conversation
	err := s.tenant(ctx, scope, func(tx Tx) error {
		if err := botInScope(ctx, tx, scope, p.BotID); err != nil {
			return err
		}
		now := dbTime(p.Now)
		if _, err := tx.Exec(ctx, `INSERT INTO conversations (id, workspace_id, bot_id, key, channel, external_user, created_at, last_message_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (workspace_id, key) DO NOTHING`,
			string(palisade.NewConversationID()), string(scope.Workspace()), string(p.BotID), p.Key, p.Channel, p.ExternalUser, now); err != nil {
			return err
		}
		var err error
		c, err = scanConversation(tx.QueryRow(ctx, `SELECT `+convCols+` FROM conversations WHERE workspace_id = $1 AND key = $2`,
			string(scope.Workspace()), p.Key), scope.Workspace())
		if err != nil {
			return err
		}
		// Keys embed the bot id, so a key held by another bot is a
		// caller's mistake; never hand one bot another's thread.
		if c.BotID != p.BotID {
			return store.ErrConflict
		}
		return nil
	})
	return c, s.mapErr(err, "opening conversation")
}

func (s *Store) GetConversation(ctx context.Context, scope palisade.Scope, id palisade.ConversationID) (palisade.Conversation, error) {
	var c palisade.Conversation
	err := s.tenant(ctx, scope, func(tx Tx) (err error) {
		c, err = scanConversation(tx.QueryRow(ctx, `SELECT `+convCols+` FROM conversations WHERE workspace_id = $1 AND id = $2`,
			string(scope.Workspace()), string(id)), scope.Workspace())
		return err
	})
	return c, s.mapErr(err, "reading conversation")
}

func (s *Store) AppendMessage(ctx context.Context, scope palisade.Scope, p store.AppendMessageParams) (palisade.Message, error) {
	m := palisade.Message{ID: p.ID, ConversationID: p.ConversationID, Role: p.Role, Body: p.Body, InboundRef: p.InboundRef,
		TokensIn: p.TokensIn, TokensOut: p.TokensOut, CreatedAt: dbTime(p.Now)}
	if m.ID == "" {
		m.ID = palisade.NewMessageID()
	}
	// Sealed before the transaction: the crypto needs no lock.
	sealed, err := s.sealField(ctx, scope, "messages", "sealed_body", string(m.ID), []byte(p.Body))
	if err != nil {
		return m, err
	}
	sources, err := s.sealSources(ctx, scope, string(m.ID), p.Sources)
	if err != nil {
		return m, err
	}
	m.Sources = p.Sources
	err = s.tenant(ctx, scope, func(tx Tx) error {
		// Updating the conversation first takes its row lock (PostgreSQL)
		// or the write lock (SQLite), so the sequence number read next is
		// not read by a concurrent append to the same conversation.
		var bot string
		if err := tx.QueryRow(ctx, `UPDATE conversations SET last_message_at = $3 WHERE workspace_id = $1 AND id = $2 RETURNING bot_id`,
			string(scope.Workspace()), string(p.ConversationID), m.CreatedAt).Scan(&bot); err != nil {
			return err
		}
		m.BotID = palisade.BotID(bot)
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE workspace_id = $1 AND conversation_id = $2`,
			string(scope.Workspace()), string(p.ConversationID)).Scan(&m.Seq); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO messages (id, workspace_id, conversation_id, bot_id, role, sealed_body, inbound_ref, tokens_in, tokens_out, seq, created_at, sealed_sources)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			string(m.ID), string(scope.Workspace()), string(m.ConversationID), bot, m.Role, sealed, m.InboundRef, m.TokensIn, m.TokensOut, m.Seq, m.CreatedAt, sources)
		return err
	})
	return m, s.mapErr(err, "appending message")
}

func (s *Store) ListMessages(ctx context.Context, scope palisade.Scope, conv palisade.ConversationID, limit int) ([]palisade.Message, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []palisade.Message
	var bodies, sources [][]byte
	err := s.tenant(ctx, scope, func(tx Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, conversation_id, bot_id, role, sealed_body, inbound_ref, tokens_in, tokens_out, seq, created_at, sealed_sources
			FROM messages WHERE workspace_id = $1 AND conversation_id = $2 ORDER BY seq DESC, created_at DESC, id DESC LIMIT $3`,
			string(scope.Workspace()), string(conv), limit)
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
	// Read newest first to take the last limit; hand them back in order.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
		bodies[i], bodies[j] = bodies[j], bodies[i]
		sources[i], sources[j] = sources[j], sources[i]
	}
	return s.openMessages(ctx, scope, out, bodies, sources)
}

func (s *Store) FindMessageByRef(ctx context.Context, scope palisade.Scope, conv palisade.ConversationID, role, ref string) (palisade.Message, error) {
	var m palisade.Message
	if ref == "" {
		return m, store.ErrNotFound
	}
	var sealed, src []byte
	err := s.tenant(ctx, scope, func(tx Tx) error {
		var id, c, bot string
		err := tx.QueryRow(ctx, `SELECT id, conversation_id, bot_id, role, sealed_body, inbound_ref, tokens_in, tokens_out, seq, created_at, sealed_sources
			FROM messages WHERE workspace_id = $1 AND conversation_id = $2 AND role = $3 AND inbound_ref = $4`,
			string(scope.Workspace()), string(conv), role, ref).
			Scan(&id, &c, &bot, &m.Role, &sealed, &m.InboundRef, &m.TokensIn, &m.TokensOut, &m.Seq, timeScan{&m.CreatedAt}, &src)
		m.ID, m.ConversationID, m.BotID = palisade.MessageID(id), palisade.ConversationID(c), palisade.BotID(bot)
		return err
	})
	if err != nil {
		return m, s.mapErr(err, "finding message by reference")
	}
	out, err := s.openMessages(ctx, scope, []palisade.Message{m}, [][]byte{sealed}, [][]byte{src})
	if err != nil {
		return m, err
	}
	return out[0], nil
}

// openMessages opens the sealed bodies and sources of msgs, read in the
// same order.
func (s *Store) openMessages(ctx context.Context, scope palisade.Scope, msgs []palisade.Message, bodies, sources [][]byte) ([]palisade.Message, error) {
	for i := range msgs {
		body, err := s.openField(ctx, scope, "messages", "sealed_body", string(msgs[i].ID), bodies[i])
		if err != nil {
			return nil, err
		}
		msgs[i].Body = string(body)
		if msgs[i].Sources, err = s.openSources(ctx, scope, string(msgs[i].ID), sources[i]); err != nil {
			return nil, err
		}
	}
	return msgs, nil
}

// sealSources seals an answer's sources as JSON bound to the message's
// row; none is NULL, so a question costs no crypto.
func (s *Store) sealSources(ctx context.Context, scope palisade.Scope, id string, src []palisade.MessageSource) ([]byte, error) {
	if len(src) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(src)
	if err != nil {
		return nil, fmt.Errorf("encoding sources: %w", err)
	}
	return s.sealField(ctx, scope, "messages", "sealed_sources", id, b)
}

func (s *Store) openSources(ctx context.Context, scope palisade.Scope, id string, sealed []byte) ([]palisade.MessageSource, error) {
	if sealed == nil {
		return nil, nil
	}
	b, err := s.openField(ctx, scope, "messages", "sealed_sources", id, sealed)
	if err != nil {
		return nil, err
	}
	var out []palisade.MessageSource
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decoding the sources of message %s: %w", id, err)
	}
	return out, nil
}

// placeholderAttempts bounds the retries of two messages of one
// conversation numbering new values at once: the loser of a race for a
// number tries the next.
const placeholderAttempts = 5

func (s *Store) PlaceholderNumber(ctx context.Context, scope palisade.Scope, conv palisade.ConversationID, kind string, mac []byte) (int, error) {
	var n int
	var err error
	for range placeholderAttempts {
		err = s.tenant(ctx, scope, func(tx Tx) error {
			ws := string(scope.Workspace())
			err := tx.QueryRow(ctx, `SELECT number FROM pii_placeholders WHERE workspace_id = $1 AND conversation_id = $2 AND kind = $3 AND mac = $4`,
				ws, string(conv), kind, mac).Scan(&n)
			if err == nil || !s.d.IsNoRows(err) {
				return err
			}
			// The conversation must be the scope's: the foreign key alone
			// would accept another workspace's.
			var one int
			if err := tx.QueryRow(ctx, `SELECT 1 FROM conversations WHERE workspace_id = $1 AND id = $2`, ws, string(conv)).Scan(&one); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(number), 0) + 1 FROM pii_placeholders WHERE workspace_id = $1 AND conversation_id = $2 AND kind = $3`,
				ws, string(conv), kind).Scan(&n); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `INSERT INTO pii_placeholders (workspace_id, conversation_id, kind, mac, number) VALUES ($1, $2, $3, $4, $5)`,
				ws, string(conv), kind, mac, n)
			return err
		})
		if err == nil || !s.d.IsUniqueViolation(err) {
			break
		}
	}
	return n, s.mapErr(err, "numbering a placeholder")
}
