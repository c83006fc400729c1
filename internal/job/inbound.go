package job

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/riverqueue/river"

	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
)

// The sealed text of an inbound job is bound to this table and column, and
// to the job's bot, channel and delivery reference as the row, so it opens
// only as the text of that one delivery.
const (
	InboundSealTable  = "river_job"
	InboundSealColumn = "inbound"
	// InboundRouteColumn binds the sealed reply route the same way.
	InboundRouteColumn = "inbound_route"
)

// InboundMaxAttempts bounds the retries of an inbound message. With River's
// backoff (attempt⁴ seconds) ten attempts span about three hours, long
// enough to ride out a provider outage, short enough that a user is not
// answered a day late.
const InboundMaxAttempts = 10

// InboundTimeout is how long one attempt may take: a slow model answering a
// long prompt, with the gateway's own retries, takes minutes, not River's
// default minute.
const InboundTimeout = 5 * time.Minute

// maxRef bounds a delivery reference; platforms' ids are far shorter.
const maxRef = 256

// InboundArgs is one inbound message to answer. The text is sealed with
// the workspace's keys (SealInbound), so no message body sits in clear in
// the queue table, its backups or its logs; so is the route its reply
// takes (SealRoute), which may carry a platform's short-lived token; and
// the whole is authenticated with a MAC (ArgsKey), because the worker acts
// in the scope the arguments name: a row written into the queue table by
// anyone but the application (whoever can run SQL as its database role
// can) is cancelled, not worked.
type InboundArgs struct {
	Workspace palisade.WorkspaceID `json:"workspace"`
	BotID     palisade.BotID       `json:"bot_id"`
	Channel   string               `json:"channel"`
	UserID    string               `json:"user_id"`
	ChatID    string               `json:"chat_id,omitempty"`
	// Ref is the channel's delivery id; the conversation service stores
	// it with the message and the reply, which makes a retry idempotent.
	Ref        string `json:"ref"`
	SealedText []byte `json:"sealed_text"`
	// ChannelID is the channel the reply is sent through, with the route
	// in SealedRoute; empty when the answer is only stored.
	ChannelID   palisade.ChannelID `json:"channel_id,omitempty"`
	SealedRoute []byte             `json:"sealed_route,omitempty"`
	// MAC authenticates every other field (ArgsKey).
	MAC []byte `json:"mac"`
}

// Kind is River's name for the job.
func (InboundArgs) Kind() string { return "inbound_message" }

// InsertOpts makes failed answers retry with River's backoff.
func (InboundArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: InboundMaxAttempts}
}

// sealedField is where the sealed text is bound. Its row id's parts are
// validated identifiers without '/', except the ref, which comes last, so
// no two deliveries share a row id.
func (a InboundArgs) sealedField() palisade.SealedField {
	return palisade.SealedField{Table: InboundSealTable, Column: InboundSealColumn, RowID: a.rowID()}
}

func (a InboundArgs) routeField() palisade.SealedField {
	return palisade.SealedField{Table: InboundSealTable, Column: InboundRouteColumn, RowID: a.rowID()}
}

func (a InboundArgs) rowID() string { return string(a.BotID) + "/" + a.Channel + "/" + a.Ref }

func (a InboundArgs) check() error {
	if a.Workspace == "" || a.BotID == "" || a.Channel == "" || a.UserID == "" {
		return errors.New("inbound job: workspace, bot, channel and user are required")
	}
	if strings.Contains(a.Channel, "/") || strings.Contains(string(a.BotID), "/") {
		return errors.New("inbound job: malformed bot or channel")
	}
	if a.Ref == "" || len(a.Ref) > maxRef || !utf8.ValidString(a.Ref) {
		return fmt.Errorf("inbound job: the delivery reference must be 1 to %d bytes of UTF-8", maxRef)
	}
	if a.ChannelID != "" && !palisade.ValidID(palisade.PrefixChannel, string(a.ChannelID)) {
		return errors.New("inbound job: malformed channel id")
	}
	return nil
}

// SealInbound returns args with text sealed into SealedText and the MAC of
// the whole under key, ready to enqueue. Every field other than SealedText
// and MAC must already be set: the seal is bound to them, and the MAC
// covers them all.
func SealInbound(ctx context.Context, sealer store.Sealer, key *ArgsKey, args InboundArgs, text string) (InboundArgs, error) {
	if sealer == nil {
		return InboundArgs{}, store.ErrNoSealer
	}
	if key == nil {
		return InboundArgs{}, errNoArgsKey
	}
	if err := args.check(); err != nil {
		return InboundArgs{}, err
	}
	sealed, err := sealer.Seal(ctx, args.Workspace, args.sealedField(), []byte(text))
	if err != nil {
		return InboundArgs{}, fmt.Errorf("sealing inbound message: %w", err)
	}
	args.SealedText = sealed
	args.MAC = key.inboundMAC(args)
	return args, nil
}

// ArgsKeySize is the least size of an ArgsKey's key.
const ArgsKeySize = 32

// ArgsKey authenticates the arguments of the jobs that act in a tenant's
// scope (InboundArgs): HMAC-SHA256 under a key the platform derives from its
// master key, computed when the job is made and checked by the worker before
// it acts. The queue table has no row security (River works every tenant's
// jobs), so without it a row inserted by raw SQL would make the worker
// answer as any bot, to any chat.
type ArgsKey struct {
	key []byte
}

var errNoArgsKey = errors.New("inbound job: no key to authenticate its arguments")

// NewArgsKey takes the key (at least ArgsKeySize bytes). The bytes are
// copied.
func NewArgsKey(key []byte) (*ArgsKey, error) {
	if len(key) < ArgsKeySize {
		return nil, fmt.Errorf("job: arguments key of %d bytes, want at least %d", len(key), ArgsKeySize)
	}
	return &ArgsKey{key: append([]byte(nil), key...)}, nil
}

const redactedArgsKey = "job.ArgsKey(" + secret.Redacted + ")"

// The key never prints, whichever verb or logger is used.
func (ArgsKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redactedArgsKey) }
func (ArgsKey) LogValue() slog.Value       { return slog.StringValue(secret.Redacted) }

// inboundMAC is the MAC of every field of a but MAC: a label naming the
// format and the job kind, then each field as a 4-byte big-endian length
// and its bytes, so no byte can move from one field to its neighbour.
func (k *ArgsKey) inboundMAC(a InboundArgs) []byte {
	m := hmac.New(sha256.New, k.key)
	for _, f := range [][]byte{[]byte("palisade job arguments v1"), []byte(a.Kind()), []byte(a.Workspace), []byte(a.BotID),
		[]byte(a.Channel), []byte(a.UserID), []byte(a.ChatID), []byte(a.Ref), a.SealedText, []byte(a.ChannelID), a.SealedRoute} {
		m.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f))))
		m.Write(f)
	}
	return m.Sum(nil)
}

// verifyInbound reports, in constant time, whether a carries its MAC.
func (k *ArgsKey) verifyInbound(a InboundArgs) bool {
	return len(a.MAC) == sha256.Size && hmac.Equal(a.MAC, k.inboundMAC(a))
}

// errForged is the cancellation of a job whose arguments do not carry
// their MAC.
var errForged = errors.New("inbound job: its arguments are not authenticated (not made by this platform, or altered since)")

// SealRoute returns args with the reply's route (the platform's address
// of the chat, thread or interaction, as the channel encodes it) sealed
// into SealedRoute, and the channel it goes through, and their MAC
// renewed to cover them. Like SealInbound, it needs every other field set.
func SealRoute(ctx context.Context, sealer store.Sealer, key *ArgsKey, args InboundArgs, channel palisade.ChannelID, route []byte) (InboundArgs, error) {
	if sealer == nil {
		return InboundArgs{}, store.ErrNoSealer
	}
	if key == nil {
		return InboundArgs{}, errNoArgsKey
	}
	args.ChannelID = channel
	if err := args.check(); err != nil {
		return InboundArgs{}, err
	}
	if channel == "" {
		return InboundArgs{}, errors.New("inbound job: a route needs its channel")
	}
	sealed, err := sealer.Seal(ctx, args.Workspace, args.routeField(), route)
	if err != nil {
		return InboundArgs{}, fmt.Errorf("sealing the reply route: %w", err)
	}
	args.SealedRoute = sealed
	args.MAC = key.inboundMAC(args)
	return args, nil
}

// Reply is an answer to send back to the platform a message came from.
type Reply struct {
	BotID     palisade.BotID
	Channel   string // the channel kind, e.g. "telegram"
	ChannelID palisade.ChannelID
	// Ref is the delivery's key: each part of the reply is recorded under
	// it, so a retry sends no part twice.
	Ref string
	// Route is the sealed route, opened: where the reply goes.
	Route []byte
	Text  string
}

// Replier sends a reply through its channel's platform
// (*channel.Service). An error whose palisade code is invalid, not found
// or forbidden is final (the chat or the channel is gone): the job is
// cancelled. An error with a RetryAfter method is the platform's
// rate-limit answer: the job waits that long without spending an
// attempt. Any other error is retried with backoff.
type Replier interface {
	Reply(ctx context.Context, scope palisade.Scope, r Reply) error
}

// InboundWorker answers inbound messages through the conversation service,
// then sends the answer back through the channel when the job names one.
// A retry is safe: the service returns a reply already stored for the
// delivery without calling the generator, and answers a stored but
// unanswered message without storing it twice; the replier sends no part
// again that the platform accepted.
type InboundWorker struct {
	river.WorkerDefaults[InboundArgs]
	ArgsKey       *ArgsKey
	Sealer        store.Sealer
	Conversations Conversations
	// Replier sends answers to channels; required for jobs that name a
	// channel.
	Replier Replier
	// Order holds a reply back while an earlier message of its
	// conversation is still unanswered, so replies reach the platform in
	// the order the messages came even when some had to be retried. Nil:
	// no ordering.
	Order  store.ReplyOrdering
	Logger *slog.Logger
	// TimeoutAfter bounds one attempt; zero means InboundTimeout. It must
	// stay below the runner's rescue threshold (RescueAfter), as NewRunner
	// makes it.
	TimeoutAfter time.Duration
}

// replyOrderWait is how long a reply waits before looking again whether
// the earlier replies of its conversation went out.
const replyOrderWait = time.Second

// MaxSnooze bounds how long a platform's rate-limit answer may hold a
// reply back in one wait.
const MaxSnooze = time.Hour

// Conversations answers an inbound message (*conversation.Service, the
// same one the API uses).
type Conversations interface {
	Handle(ctx context.Context, scope palisade.Scope, in conversation.Inbound) (conversation.Reply, error)
}

// Timeout allows for slow models.
func (w *InboundWorker) Timeout(*river.Job[InboundArgs]) time.Duration {
	if w.TimeoutAfter > 0 {
		return w.TimeoutAfter
	}
	return InboundTimeout
}

func (w *InboundWorker) Work(ctx context.Context, j *river.Job[InboundArgs]) error {
	args := j.Args
	if w.ArgsKey == nil {
		// A misconfiguration the operator can fix: keep retrying.
		return errNoArgsKey
	}
	// Before anything is acted on, or even opened: the job names the
	// scope it runs in.
	if !w.ArgsKey.verifyInbound(args) {
		w.Logger.WarnContext(ctx, "inbound job with forged or altered arguments cancelled", "job_id", j.ID)
		return river.JobCancel(fmt.Errorf("job %d: %w", j.ID, errForged))
	}
	if err := args.check(); err != nil {
		// Malformed arguments never become well-formed: no retry.
		return river.JobCancel(err)
	}
	if w.Sealer == nil {
		// A misconfiguration the operator can fix: keep retrying.
		return store.ErrNoSealer
	}
	text, err := w.Sealer.Open(ctx, args.Workspace, args.sealedField(), args.SealedText)
	if err != nil {
		// A text that does not open was tampered with, moved, or belongs
		// to a crypto-shredded workspace; it will not open later either.
		return river.JobCancel(fmt.Errorf("opening inbound message of job %d: %w", j.ID, err))
	}
	reply, err := w.Conversations.Handle(ctx, palisade.ScopeFor(args.Workspace), conversation.Inbound{BotID: args.BotID, Channel: args.Channel,
		UserID: args.UserID, ChatID: args.ChatID, Text: string(text), InboundRef: args.Ref})
	if err != nil {
		switch palisade.ErrorCode(err) {
		case palisade.CodeInvalid, palisade.CodeNotFound, palisade.CodeTooLarge, palisade.CodeForbidden, palisade.CodeSuspended:
			// The message or its bot is refused for good (too long, bot
			// deleted, workspace suspended: a message is not answered
			// hours later when it is resumed); retrying cannot change
			// that.
			w.Logger.WarnContext(ctx, "inbound message refused", "job_id", j.ID, "bot_id", string(args.BotID), "channel", args.Channel,
				"code", string(palisade.ErrorCode(err)))
			return river.JobCancel(fmt.Errorf("answering inbound message: %w", err))
		}
		return fmt.Errorf("answering inbound message: %w", err)
	}
	w.Logger.InfoContext(ctx, "inbound message answered", "job_id", j.ID, "bot_id", string(args.BotID), "channel", args.Channel,
		"mode", reply.Mode, "replayed", reply.Replayed, "attempt", j.Attempt)
	if args.ChannelID == "" {
		return nil
	}
	return w.send(ctx, j, reply.Text)
}

// send delivers the stored answer through the channel.
func (w *InboundWorker) send(ctx context.Context, j *river.Job[InboundArgs], text string) error {
	args := j.Args
	if w.Replier == nil {
		// A misconfiguration the operator can fix: keep retrying.
		return errors.New("answering inbound message: no replier is configured to send replies")
	}
	route, err := w.Sealer.Open(ctx, args.Workspace, args.routeField(), args.SealedRoute)
	if err != nil {
		return river.JobCancel(fmt.Errorf("opening the reply route of job %d: %w", j.ID, err))
	}
	if w.Order != nil {
		earlier, err := w.Order.EarlierReplyPending(ctx, palisade.ScopeFor(args.Workspace), store.ReplyOrder{Kind: args.Kind(), JobID: j.ID,
			BotID: args.BotID, Channel: args.Channel, UserID: args.UserID, ChatID: args.ChatID})
		if err != nil {
			return fmt.Errorf("checking the order of the reply: %w", err)
		}
		if earlier {
			// The answer is stored; only the send waits, without spending
			// an attempt, for the earlier reply to go out (or fail for good).
			return river.JobSnooze(replyOrderWait)
		}
	}
	err = w.Replier.Reply(ctx, palisade.ScopeFor(args.Workspace), Reply{BotID: args.BotID, Channel: args.Channel, ChannelID: args.ChannelID,
		Ref: args.Ref, Route: route, Text: text})
	if err == nil {
		w.Logger.InfoContext(ctx, "reply sent", "job_id", j.ID, "bot_id", string(args.BotID), "channel", args.Channel, "attempt", j.Attempt)
		return nil
	}
	var ra interface{ RetryAfter() time.Duration }
	switch {
	case palisade.ErrorCode(err) == palisade.CodeInvalid, palisade.ErrorCode(err) == palisade.CodeNotFound, palisade.ErrorCode(err) == palisade.CodeForbidden:
		w.Logger.WarnContext(ctx, "reply refused for good", "job_id", j.ID, "bot_id", string(args.BotID), "channel", args.Channel,
			"code", string(palisade.ErrorCode(err)), "err", err)
		return river.JobCancel(fmt.Errorf("sending the reply: %w", err))
	case errors.As(err, &ra) && ra.RetryAfter() > 0:
		d := min(ra.RetryAfter(), MaxSnooze)
		w.Logger.InfoContext(ctx, "reply rate-limited by the platform; waiting", "job_id", j.ID, "bot_id", string(args.BotID),
			"channel", args.Channel, "retry_after", d.String())
		return river.JobSnooze(d)
	}
	return fmt.Errorf("sending the reply: %w", err)
}
