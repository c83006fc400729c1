package conversation

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/pii"
)

// privacy applies a bot's pii_mode to the handling of one message. With
// before_llm, what leaves for the model (the message, the history, the
// retrieval query) is redacted and what is stored is the original; with
// before_storage, the message is redacted before anything else sees it,
// and the reply is redacted before it is stored, so nothing unredacted is
// stored. One Redactor serves the whole message, so a value keeps its
// placeholder across the history and the new message; with before_storage
// and numbers kept by the store, across the whole conversation.
type privacy struct {
	mode palisade.PIIMode
	r    *pii.Redactor
	// numbered: the placeholders' numbers come from the store, the same
	// in every message of the conversation.
	numbered bool
}

func newPrivacy(mode palisade.PIIMode, numbers pii.Numbers) privacy {
	if mode != palisade.PIIBeforeLLM && mode != palisade.PIIBeforeStorage {
		return privacy{mode: palisade.PIIOff}
	}
	if mode == palisade.PIIBeforeStorage && numbers != nil {
		return privacy{mode: mode, r: pii.NewRedactorWith(numbers), numbered: true}
	}
	return privacy{mode: mode, r: pii.NewRedactor()}
}

func (p privacy) on() bool { return p.r != nil }

// prepare redacts the history and then the message, in conversation
// order, and returns what the model may see; with the mode off, its
// arguments unchanged.
//
// With before_llm the history is stored as written, so numbering it
// afresh in order gives each value the placeholder it had in the earlier
// requests, the ones the model's earlier replies use. With before_storage
// the history is stored redacted and its values are gone: the store
// remembers each value's number by a keyed hash, or, without one, new
// values are numbered after the placeholders already in the history, so
// none names two values.
func (p privacy) prepare(history []Turn, message string) ([]Turn, string) {
	if !p.on() {
		return history, message
	}
	if p.mode == palisade.PIIBeforeStorage && !p.numbered {
		for _, t := range history {
			p.r.Seed(t.Content)
		}
	}
	out := make([]Turn, len(history))
	for i, t := range history {
		out[i] = Turn{Role: t.Role, Content: p.r.Redact(t.Content)}
	}
	return out, p.r.Redact(message)
}

// stored returns what may be stored of a text the model saw or wrote.
func (p privacy) stored(text string) string {
	if p.mode == palisade.PIIBeforeStorage {
		return p.r.Redact(text)
	}
	return text
}

// err is a failure to number a placeholder: the text was still redacted,
// but without the number it should have had.
func (p privacy) err() error {
	if p.r == nil {
		return nil
	}
	return p.r.Err()
}

// storeNumbers numbers a conversation's values through the store, by
// HMAC-SHA256 of the normalised value under a key of the conversation's
// own (derived from the service's PIIKey and the conversation id), so
// equal values in two conversations do not share a hash.
type storeNumbers struct {
	ctx   context.Context
	s     Store
	scope palisade.Scope
	conv  palisade.ConversationID
	key   []byte
}

func (n storeNumbers) Number(kind pii.Kind, value string) (int, error) {
	m := hmac.New(sha256.New, n.key)
	m.Write([]byte(value))
	return n.s.PlaceholderNumber(n.ctx, n.scope, n.conv, string(kind), m.Sum(nil))
}

func (s *Service) numbers(ctx context.Context, scope palisade.Scope, conv palisade.ConversationID) pii.Numbers {
	if len(s.PIIKey) == 0 {
		return nil
	}
	m := hmac.New(sha256.New, s.PIIKey)
	m.Write([]byte("placeholders\x00" + string(scope.Workspace()) + "\x00" + string(conv)))
	return storeNumbers{ctx: ctx, s: s.Store, scope: scope, conv: conv, key: m.Sum(nil)}
}

// HashedPrefix starts an identifier stored as a keyed hash.
const HashedPrefix = "h:"

// identity is the inbound message as it is stored: with before_storage and
// a PIIKey, a user or chat id that carries personal data (every WhatsApp
// id, which is a phone number; any id with an e-mail address or phone
// number in it) is replaced by a keyed hash, the same for the same id, so
// the conversation is still found again. Replies are routed by the
// channel's own route, never by the stored ids.
func (s *Service) identity(in Inbound, mode palisade.PIIMode) Inbound {
	if mode != palisade.PIIBeforeStorage || len(s.PIIKey) == 0 {
		return in
	}
	in.UserID = s.hashID(in.Channel, "user", in.UserID)
	in.ChatID = s.hashID(in.Channel, "chat", in.ChatID)
	return in
}

func (s *Service) hashID(channel, what, id string) string {
	if id == "" || len(id) > len(HashedPrefix) && id[:len(HashedPrefix)] == HashedPrefix {
		return id
	}
	if channel != "whatsapp" && len(pii.Detect(id)) == 0 {
		return id
	}
	m := hmac.New(sha256.New, s.PIIKey)
	m.Write([]byte("identity\x00" + channel + "\x00" + what + "\x00" + id))
	return HashedPrefix + hex.EncodeToString(m.Sum(nil)[:16])
}

func (s *Service) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}
