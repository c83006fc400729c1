package store

import (
	"context"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// ReplyState is what is known of one part of a reply to a platform.
type ReplyState string

const (
	// ReplyNew: no attempt to send the part was recorded.
	ReplyNew ReplyState = ""
	// ReplyPending: an attempt began and did not finish; it may or may not
	// have reached the platform.
	ReplyPending ReplyState = "pending"
	// ReplySent: the platform accepted the part.
	ReplySent ReplyState = "sent"
)

// ReplyPart names one part of the reply to a delivery: the delivery as
// RecordDelivery keys it (bot, source, key) and the part's number.
type ReplyPart struct {
	BotID  palisade.BotID
	Source string // the channel kind, e.g. "telegram"
	Ref    string // the delivery's key
	Part   int
}

// Replies records each part of a reply before and after it is sent, so a
// retried job sends no part twice that the platform already accepted.
type Replies interface {
	// BeginReply records that the part is about to be sent (pending) and
	// returns the state it had before: ReplyNew, ReplyPending (an earlier
	// attempt began and did not finish) or ReplySent (nothing is changed:
	// the part must not be sent again).
	BeginReply(ctx context.Context, scope palisade.Scope, p ReplyPart, now time.Time) (ReplyState, error)
	// FinishReply records that the platform accepted the part.
	FinishReply(ctx context.Context, scope palisade.Scope, p ReplyPart, now time.Time) error
	// AbortReply forgets a pending part the platform refused: nothing was
	// sent, and the next attempt starts clean. A part recorded as sent is
	// left as it is.
	AbortReply(ctx context.Context, scope palisade.Scope, p ReplyPart) error
}

// ReplyOrder names a queued inbound job by its conversation: the job's
// kind and id, and the fields of its arguments that name the conversation
// (a group chat's id, or else the user's).
type ReplyOrder struct {
	Kind    string // the inbound job kind
	JobID   int64
	BotID   palisade.BotID
	Channel string
	UserID  string
	ChatID  string // set for a group chat: the conversation is the group's
}

// ReplyOrdering lets a reply wait for the replies of its conversation's
// earlier messages, so that a conversation's replies reach the platform in
// the order its messages came, even when some of them had to be retried.
type ReplyOrdering interface {
	// EarlierReplyPending reports whether an inbound job of the same
	// conversation inserted before o.JobID is not finished (waiting,
	// retrying or running).
	EarlierReplyPending(ctx context.Context, scope palisade.Scope, o ReplyOrder) (bool, error)
}
