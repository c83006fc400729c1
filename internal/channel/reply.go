package channel

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

var _ job.Replier = (*Service)(nil)

// Reply sends an answer back through its channel's platform, part by
// part. Each part is recorded before the platform call (pending) and
// after it (sent): a part recorded as sent is never sent again, a part
// the platform refused is forgotten so the next attempt starts clean, and
// a part left pending (the process died inside the call, or no answer
// came) is sent again — the only way a platform can see a part twice.
//
// Within one call each part is tried up to SendAttempts times with
// backoff, waiting out the platform's rate-limit answers up to
// MaxInlineWait; a longer wait is returned (SendError.RetryAfter) for
// the job runner to honour. A platform's final refusal (the chat is gone,
// the bot blocked or its token revoked), a channel that no longer
// exists and an unreadable route are returned as palisade errors the job
// runner does not retry.
func (s *Service) Reply(ctx context.Context, scope palisade.Scope, r job.Reply) error {
	p, ok := s.platforms[r.Channel]
	if !ok {
		return palisade.Errorf(palisade.CodeNotFound, "channels of type %s are not enabled on this server", r.Channel)
	}
	creds, err := s.o.Store.ChannelCredentials(ctx, scope, r.ChannelID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return palisade.WrapError(err, palisade.CodeNotFound, "the channel was disconnected")
		}
		return err
	}
	if creds.IsZero() {
		return palisade.Errorf(palisade.CodeNotFound, "the channel has no credentials")
	}
	var route Route
	if err := json.Unmarshal(r.Route, &route); err != nil {
		return palisade.WrapError(err, palisade.CodeInvalid, "unreadable reply route")
	}
	for i, text := range p.Split(r.Text) {
		part := store.ReplyPart{BotID: r.BotID, Source: r.Channel, Ref: r.Ref, Part: i}
		prior, err := s.o.Store.BeginReply(ctx, scope, part, s.o.Now())
		if err != nil {
			return err
		}
		switch prior {
		case store.ReplySent:
			continue
		case store.ReplyPending:
			// An earlier attempt began this part and never recorded an
			// outcome: it died inside the call, or the platform did not
			// answer. Sending again is the one possible duplicate.
			s.o.Logger.WarnContext(ctx, "sending a reply part again whose earlier attempt did not finish; the platform may show it twice",
				"bot_id", string(r.BotID), "channel", r.Channel, "part", i)
			s.o.OnReply(r.Channel, "resent")
		}
		err = s.send(ctx, r.Channel, func() error {
			return p.Send(ctx, creds, Outgoing{Route: route, Text: text, Key: r.Ref + "/" + strconv.Itoa(i)})
		})
		if err != nil {
			se := asSendError(err)
			if se.Answered() {
				// The platform answered with a refusal: nothing was
				// accepted, the next attempt starts clean.
				if aerr := s.o.Store.AbortReply(context.WithoutCancel(ctx), scope, part); aerr != nil {
					s.o.Logger.ErrorContext(ctx, "could not forget a refused reply part", "bot_id", string(r.BotID), "err", aerr)
				}
			}
			if se.Final {
				s.o.OnReply(r.Channel, "refused")
				return palisade.WrapError(se, palisade.CodeForbidden, "the platform refused the reply for good")
			}
			if se.After > 0 {
				s.o.OnReply(r.Channel, "rate_limited")
			} else {
				s.o.OnReply(r.Channel, "failed")
			}
			return se
		}
		if err := s.o.Store.FinishReply(ctx, scope, part, s.o.Now()); err != nil {
			return err
		}
		s.o.OnReply(r.Channel, "sent")
	}
	return nil
}

// send tries one part up to SendAttempts times: after a rate-limit answer
// it waits what the platform asked (up to MaxInlineWait, beyond which the
// answer is returned), after any other failure a short backoff; a final
// refusal returns at once.
func (s *Service) send(ctx context.Context, kind string, call func() error) error {
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := call()
		if err == nil {
			return nil
		}
		se := asSendError(err)
		if se.Final || attempt >= s.o.SendAttempts {
			return se
		}
		wait := backoff
		backoff *= 4
		if se.After > 0 {
			if se.After > s.o.MaxInlineWait {
				return se
			}
			wait = se.After
		}
		s.o.OnReply(kind, "retried")
		if err := s.o.Sleep(ctx, wait); err != nil {
			return se
		}
	}
}
