package channel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// Receipt is what Receive did with a verified request.
type Receipt struct {
	// Response is the platform's answer.
	Response Response
	// Accepted counts the messages enqueued; Duplicates those whose
	// dedupe record existed already.
	Accepted, Duplicates int
}

// Receive runs an inbound request of kind for bot through the channel's
// checks, in this order, after the webhook surface has capped the body,
// checked the bot id's pattern and applied the rate limit: the one lookup
// of the channel with its verification secret (no bot, no channel of that
// kind, or no secret: refused), verification over the raw bytes, the
// signed timestamp against SignatureWindow, parsing, then Accept.
//
// A refusal is a *Rejection; the refusals of a known channel are noted
// for the audit log (Rejections). A body that does not parse is a
// palisade.CodeInvalid error.
func (s *Service) Receive(ctx context.Context, kind string, bot palisade.BotID, r Request) (Receipt, error) {
	p, ok := s.platforms[kind]
	if !ok {
		return Receipt{}, palisade.ErrNotFound
	}
	if !slices.Contains(p.Methods(), r.Method) {
		return Receipt{}, Reject(ReasonMethod)
	}
	w, err := s.o.Store.LookupWebhookChannel(ctx, bot, kind)
	if errors.Is(err, store.ErrNotFound) {
		return Receipt{}, Reject(ReasonUnknownChannel)
	}
	if err != nil {
		return Receipt{}, err
	}
	ch := w.Channel
	if w.Secret.IsZero() {
		return Receipt{}, s.reject(ch, ReasonNoSecret)
	}
	v, err := p.Verify(r, w.Secret)
	if err != nil {
		var rj *Rejection
		if errors.As(err, &rj) {
			return Receipt{}, s.reject(ch, rj.Reason)
		}
		return Receipt{}, err
	}
	if !v.SignedAt.IsZero() {
		if d := s.o.Now().Sub(v.SignedAt); d > SignatureWindow || d < -SignatureWindow {
			return Receipt{}, s.reject(ch, ReasonStaleTimestamp)
		}
	}
	d, err := p.Parse(r, ch)
	if err != nil {
		return Receipt{}, err
	}
	acc, dup, err := s.Accept(ctx, ch, d.Messages)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{Response: d.Response, Accepted: acc, Duplicates: dup}, nil
}

// dropSuspended notes messages of a suspended workspace that were
// acknowledged and dropped.
func (s *Service) dropSuspended(ctx context.Context, ch palisade.Channel, n int) {
	if n > 0 {
		s.o.Logger.InfoContext(ctx, "messages to a suspended workspace dropped", "workspace_id", string(ch.WorkspaceID),
			"bot_id", string(ch.BotID), "channel", ch.Kind, "messages", n)
	}
}

// reject notes a refusal of a known channel for the audit log and returns
// it.
func (s *Service) reject(ch palisade.Channel, reason Reason) error {
	if s.o.Rejections != nil {
		s.o.Rejections.Note(ch.WorkspaceID, ch.BotID, ch.Kind, reason, s.o.Now())
	}
	return Reject(reason)
}

// Accept durably accepts verified messages of a channel: for each, the
// dedupe record and its job (the text and the reply route sealed into
// it) in one transaction. A message seen before is counted as a
// duplicate and enqueues nothing. It is the entry point of every source
// of messages: the webhook (through Receive) and connections a platform
// keeps open (Discord's Gateway).
//
// A suspended workspace's messages are dropped: acknowledged, neither
// kept nor answered.
func (s *Service) Accept(ctx context.Context, ch palisade.Channel, msgs []Message) (accepted, duplicates int, err error) {
	scope := palisade.ScopeFor(ch.WorkspaceID)
	if len(msgs) > 0 {
		ws, err := s.o.Store.GetWorkspace(ctx, scope)
		if err != nil {
			return 0, 0, fmt.Errorf("reading the channel's workspace: %w", err)
		}
		if ws.Suspended() {
			s.dropSuspended(ctx, ch, len(msgs))
			return 0, 0, nil
		}
	}
	for _, m := range msgs {
		args := job.InboundArgs{Workspace: ch.WorkspaceID, BotID: ch.BotID, Channel: ch.Kind, UserID: m.UserID, ChatID: m.ChatID, Ref: m.Key}
		args, err := job.SealInbound(ctx, s.o.Sealer, s.o.ArgsKey, args, m.Text)
		if err != nil {
			return accepted, duplicates, fmt.Errorf("accepting a %s message: %w", ch.Kind, err)
		}
		route, err := json.Marshal(m.Route)
		if err != nil {
			return accepted, duplicates, fmt.Errorf("encoding a reply route: %w", err)
		}
		args, err = job.SealRoute(ctx, s.o.Sealer, s.o.ArgsKey, args, ch.ID, route)
		clear(route)
		if err != nil {
			return accepted, duplicates, fmt.Errorf("accepting a %s message: %w", ch.Kind, err)
		}
		fresh, err := s.o.Store.RecordDelivery(ctx, scope, store.DeliveryParams{BotID: ch.BotID, Source: ch.Kind, Key: m.Key, Now: s.o.Now()}, args)
		if err != nil {
			return accepted, duplicates, err
		}
		if fresh {
			accepted++
		} else {
			duplicates++
		}
	}
	return accepted, duplicates, nil
}
