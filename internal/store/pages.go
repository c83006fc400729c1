package store

import (
	"context"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// MaxPage is the largest page any keyset listing returns; a Limit outside
// 1..MaxPage means MaxPage.
const MaxPage = 200

// PageLimit bounds a requested page size to 1..MaxPage.
func PageLimit(n int) int {
	if n < 1 || n > MaxPage {
		return MaxPage
	}
	return n
}

// ConversationListing lists a workspace's conversations newest first, by
// creation time then id, so that pages never repeat or skip a row however
// many messages arrive meanwhile.
type ConversationListing interface {
	// ListConversations returns up to p.Limit conversations after p.After.
	// It returns ErrNotFound when p.BotID is set and the bot is not in the
	// scope.
	ListConversations(ctx context.Context, scope palisade.Scope, p ListConversationsParams) ([]palisade.Conversation, error)
	// ListMessagesAfter returns up to limit messages of a conversation with
	// a sequence number above afterSeq, oldest first: a transcript page.
	ListMessagesAfter(ctx context.Context, scope palisade.Scope, conv palisade.ConversationID, afterSeq int64, limit int) ([]palisade.Message, error)
	// DeleteConversation removes a conversation with its messages.
	DeleteConversation(ctx context.Context, scope palisade.Scope, id palisade.ConversationID) error
}

// ListConversationsParams filter and page a conversation listing. Every
// filter is optional.
type ListConversationsParams struct {
	BotID   palisade.BotID
	Channel string
	// Since and Until bound the last-message time (active within the
	// window); zero leaves a side open.
	Since, Until time.Time
	// After is the last conversation of the previous page; nil starts at
	// the newest.
	After *ConversationCursor
	Limit int
}

// ListBotsParams page a bot listing.
type ListBotsParams struct {
	// After is the last bot of the previous page; nil starts at the
	// oldest.
	After *BotCursor
	// Limit is bounded to 1..MaxPage+1: one more than the largest page,
	// which a caller asks for to learn whether another page follows.
	Limit int
}

// BotCursor is a position in a bot listing.
type BotCursor struct {
	CreatedAt time.Time
	ID        palisade.BotID
}

// ConversationCursor is a position in a conversation listing.
type ConversationCursor struct {
	CreatedAt time.Time
	ID        palisade.ConversationID
}

// Idempotency remembers the responses of creating requests by their
// Idempotency-Key, per workspace and principal, until they expire.
type Idempotency interface {
	// ClaimIdempotencyKey records a new request under its key and reports
	// true, or returns the record already there (not expired at p.Now) and
	// false. An expired record is replaced.
	ClaimIdempotencyKey(ctx context.Context, scope palisade.Scope, p ClaimIdempotencyParams) (IdempotencyRecord, bool, error)
	// CompleteIdempotencyKey stores the response of a claimed request,
	// sealed.
	CompleteIdempotencyKey(ctx context.Context, scope palisade.Scope, principal, key string, status int, response []byte) error
	// ReleaseIdempotencyKey forgets a claimed request that produced no
	// response to replay, so that it can be tried again.
	ReleaseIdempotencyKey(ctx context.Context, scope palisade.Scope, principal, key string) error
}

type ClaimIdempotencyParams struct {
	Principal   string
	Key         string
	RequestHash []byte
	Now         time.Time
	ExpiresAt   time.Time
}

// IdempotencyRecord is a request stored under its Idempotency-Key. Status
// zero means the first request is still being answered.
type IdempotencyRecord struct {
	Principal   string
	Key         string
	RequestHash []byte
	Status      int
	Response    []byte
	CreatedAt   time.Time
	ExpiresAt   time.Time
}
