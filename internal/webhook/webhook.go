// Package webhook is the inbound surface of the chat channels: one pipeline
// for every platform at /hooks/{kind}/{botId}. For each request, in this
// order: the raw body read once within its limit; the bot id checked
// against its pattern (a malformed one runs no query); the per-bot and
// channel `webhook` rate limit; then the channel service's Receive — the
// one query that finds the bot's channel of that kind with its sealed
// verification secret, verification over the raw bytes in constant time,
// the signed timestamp's window, parsing, and each message's dedupe row
// and sealed job in one transaction — and a fast answer: the platform's
// (a challenge, a PONG) or an empty 200. Replies leave later, from the
// job workers.
//
// Every verification failure, whatever its reason (malformed or unknown
// bot id, no channel or no secret, a missing or wrong header, a stale
// timestamp), is answered the same: 401 with the same body, so an unknown
// bot and a wrong signature look alike from outside. The reason is counted
// (OnRefused, bounded labels: the channel kind and the reason, never a bot
// id) and, for a known channel, audited by the service aggregated per
// minute.
//
// It must never parse a payload before it is verified, never tell
// refusals apart in what it answers, never log or answer with a payload or
// a header's value, and never touch the store: it calls the channel
// service only.
package webhook

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/billing"
	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
)

// Channels is the channel use cases the surface calls (*channel.Service).
type Channels interface {
	Kinds() []string
	Methods(kind string) []string
	Receive(ctx context.Context, kind string, bot palisade.BotID, r channel.Request) (channel.Receipt, error)
}

var _ Channels = (*channel.Service)(nil)

// Billing is the billing use cases the surface calls (*billing.Service).
type Billing interface {
	Receive(ctx context.Context, h http.Header, body []byte) (billing.Receipt, error)
}

var _ Billing = (*billing.Service)(nil)

// BillingPattern is the billing provider's webhook URL.
const BillingPattern = "/hooks/billing/polar"

// BillingKind names the billing route among the routes.
const BillingKind = "billing"

// Options configure the surface.
type Options struct {
	Channels Channels
	// Billing, when set, receives the billing provider's events at
	// BillingPattern; nil serves no billing route (billing off).
	Billing Billing
	// Limiter and Limits apply the webhook class per bot and channel
	// kind; a nil Limiter limits nothing (unit tests).
	Limiter ratelimit.Limiter
	Limits  ratelimit.Table
	// MaxBody is the largest body read (default httpx.DefaultMaxBody).
	MaxBody int64
	// OnRefused counts each refused request by channel kind and reason.
	OnRefused func(kind string, reason channel.Reason)
	// OnAccepted counts each delivery's messages, new and duplicate.
	OnAccepted func(kind string, accepted, duplicates int)
	// OnRateLimited, when set, is told of each delivery the limit refused,
	// by bot (its workspace is not read before the limit) and limit
	// class; it must not block or write per call.
	OnRateLimited func(bot palisade.BotID, class string)
	Logger        *slog.Logger
}

// Webhooks is the surface.
type Webhooks struct {
	o      Options
	policy ratelimit.Policy
	limit  bool
}

// New checks o and returns the surface.
func New(o Options) (*Webhooks, error) {
	if o.Channels == nil {
		return nil, errors.New("webhook: Channels is required")
	}
	if o.MaxBody <= 0 {
		o.MaxBody = httpx.DefaultMaxBody
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.OnRefused == nil {
		o.OnRefused = func(string, channel.Reason) {}
	}
	if o.OnAccepted == nil {
		o.OnAccepted = func(string, int, int) {}
	}
	w := &Webhooks{o: o}
	if o.Limiter != nil {
		p, ok := o.Limits.Policy(ratelimit.ClassWebhook)
		if !ok {
			return nil, errors.New("webhook: the rate-limit table has no webhook class")
		}
		w.policy, w.limit = p, true
	}
	return w, nil
}

// Route is one webhook route; every one is public: the platform's own
// secret or signature authenticates it, checked in the pipeline.
type Route struct {
	Method  string
	Pattern string
	Kind    string
	Perm    auth.Permission
}

// Routes lists every route: for each configured channel kind, its URL
// with each method its platform uses; and the billing route when billing
// is on.
func (w *Webhooks) Routes() []Route {
	var out []Route
	if w.o.Billing != nil {
		out = append(out, Route{Method: http.MethodPost, Pattern: BillingPattern, Kind: BillingKind, Perm: auth.PermPublic})
	}
	for _, kind := range w.o.Channels.Kinds() {
		for _, m := range w.o.Channels.Methods(kind) {
			out = append(out, Route{Method: m, Pattern: "/hooks/" + kind + "/{botId}", Kind: kind, Perm: auth.PermPublic})
		}
	}
	return out
}

// Handler serves the routes; mount it at "/hooks/".
func (w *Webhooks) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range w.Routes() {
		if rt.Kind == BillingKind {
			mux.Handle(rt.Method+" "+rt.Pattern, httpx.HandlerFunc(w.serveBilling))
			continue
		}
		mux.Handle(rt.Method+" "+rt.Pattern, httpx.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) error {
			return w.serve(rw, r, rt.Kind)
		}))
	}
	return httpx.Mux(mux)
}

var errBodyUnread = palisade.Errorf(palisade.CodeInvalid, "request body could not be read")

// serve is the pipeline of one request.
func (w *Webhooks) serve(rw http.ResponseWriter, r *http.Request, kind string) error {
	rw.Header().Set("Cache-Control", "no-store")
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, w.o.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			rw.Header().Set("Connection", "close")
			return err
		}
		return palisade.WrapError(err, palisade.CodeInvalid, errBodyUnread.Message)
	}
	raw := r.PathValue("botId")
	if !palisade.ValidID(palisade.PrefixBot, raw) {
		return w.refuse(kind, channel.ReasonMalformedID)
	}
	bot := palisade.BotID(raw)
	if err := w.rateLimit(rw, r, kind, bot); err != nil {
		return err
	}
	rc, err := w.o.Channels.Receive(r.Context(), kind, bot, channel.Request{Method: r.Method, Header: r.Header, Query: r.URL.Query(), Body: body})
	if err != nil {
		var rj *channel.Rejection
		if errors.As(err, &rj) {
			return w.refuse(kind, rj.Reason)
		}
		if palisade.ErrorCode(err) == palisade.CodeInvalid {
			w.o.OnRefused(kind, channel.ReasonUnparsable)
		}
		return err
	}
	w.o.OnAccepted(kind, rc.Accepted, rc.Duplicates)
	res := rc.Response
	if res.Status == 0 {
		res.Status = http.StatusOK
	}
	if res.ContentType != "" {
		rw.Header().Set("Content-Type", res.ContentType)
	}
	rw.Header().Set("Content-Length", strconv.Itoa(len(res.Body)))
	rw.WriteHeader(res.Status)
	_, err = rw.Write(res.Body)
	return err
}

// serveBilling reads the body within billing.MaxBody, before anything
// else, and hands it with the headers to the billing service, which
// verifies before it parses. A refusal is 401 and records nothing; a
// replayed event is 200 and changes nothing.
func (w *Webhooks) serveBilling(rw http.ResponseWriter, r *http.Request) error {
	rw.Header().Set("Cache-Control", "no-store")
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, min(w.o.MaxBody, billing.MaxBody)))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			rw.Header().Set("Connection", "close")
			return err
		}
		return palisade.WrapError(err, palisade.CodeInvalid, errBodyUnread.Message)
	}
	if _, err := w.o.Billing.Receive(r.Context(), r.Header, body); err != nil {
		if palisade.ErrorCode(err) == palisade.CodeUnauthorized {
			w.o.OnRefused(BillingKind, channel.ReasonBadSignature)
		}
		return err
	}
	rw.Header().Set("Content-Length", "0")
	rw.WriteHeader(http.StatusOK)
	return nil
}

// refuse counts a refusal and answers it like every other.
func (w *Webhooks) refuse(kind string, reason channel.Reason) error {
	w.o.OnRefused(kind, reason)
	return channel.ErrRejected
}

// rateLimit applies the webhook class to the bot and channel kind.
func (w *Webhooks) rateLimit(rw http.ResponseWriter, r *http.Request, kind string, bot palisade.BotID) error {
	if !w.limit {
		return nil
	}
	d, err := w.o.Limiter.Allow(r.Context(), w.policy, ratelimit.Key(string(bot), kind))
	if err != nil {
		return err
	}
	ratelimit.WriteHeaders(rw.Header(), d)
	if !d.Allowed {
		if w.o.OnRateLimited != nil {
			w.o.OnRateLimited(bot, w.policy.Name)
		}
		return palisade.Errorf(palisade.CodeRateLimited, "too many deliveries; retry after %d seconds", int(d.RetryAfter.Seconds()+0.999))
	}
	return nil
}
