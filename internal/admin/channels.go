package admin

import (
	"context"
	"net/http"

	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

// Channels is the channel use cases the UI offers (*channel.Service).
type Channels interface {
	Kinds() []string
	List(ctx context.Context, scope palisade.Scope, bot palisade.BotID) ([]channel.View, error)
	Connect(ctx context.Context, c palisade.Caller, bot palisade.BotID, kind string, in channel.Credentials) (channel.View, error)
	Test(ctx context.Context, c palisade.Caller, bot palisade.BotID, id palisade.ChannelID) (channel.TestResult, error)
	Disconnect(ctx context.Context, c palisade.Caller, bot palisade.BotID, id palisade.ChannelID) error
	RotateSecret(ctx context.Context, c palisade.Caller, bot palisade.BotID, id palisade.ChannelID) (channel.View, error)
}

var _ Channels = (*channel.Service)(nil)

// Channel pages: a bot's chat channels with their status, a form to
// connect Telegram with a bot token, and buttons to test, rotate the
// webhook secret and disconnect. A token is never shown back, not even in
// a refused form: only its masked end, as the service gives it.

// channelsView is the channels page of a bot.
type channelsView struct {
	Bot palisade.Bot
	// Enabled is false when this server runs no chat channel.
	Enabled bool
	// Telegram says whether Telegram channels are enabled, and Connected
	// whether the bot has one already.
	Telegram, Connected bool
	// WhatsApp and WhatsAppConnected say the same of WhatsApp.
	WhatsApp, WhatsAppConnected bool
	Channels                    []channel.View
	// Tested is the result of a connection test just run, for the channel
	// TestedID.
	Tested   *channel.TestResult
	TestedID palisade.ChannelID
}

func (channelsView) template() string { return "channels" }

var errNoChannels = palisade.Errorf(palisade.CodeNotFound, "chat channels are not enabled on this server")

func (u *UI) channelsURL(q *req, bot palisade.BotID) string { return u.botURL(q, bot) + "/channels" }

// channelsPageOf lists the bot's channels.
func (u *UI) channelsPageOf(r *http.Request, q *req, b palisade.Bot) (page[channelsView], error) {
	v := channelsView{Bot: b}
	if u.o.Channels != nil {
		list, err := u.o.Channels.List(r.Context(), q.actor.Scope, b.ID)
		if err != nil {
			return page[channelsView]{}, err
		}
		v.Enabled, v.Channels = true, list
		for _, k := range u.o.Channels.Kinds() {
			v.Telegram = v.Telegram || k == channel.KindTelegram
			v.WhatsApp = v.WhatsApp || k == channel.KindWhatsApp
		}
		for _, c := range list {
			v.Connected = v.Connected || c.Kind == channel.KindTelegram
			v.WhatsAppConnected = v.WhatsAppConnected || c.Kind == channel.KindWhatsApp
		}
	}
	return newPage(q, "Channels: "+b.Name, v), nil
}

func (u *UI) channelsPage(w http.ResponseWriter, r *http.Request, q *req) error {
	b, err := u.getBot(r, q)
	if err != nil {
		return err
	}
	p, err := u.channelsPageOf(r, q, b)
	if err != nil {
		return err
	}
	return u.render(w, http.StatusOK, p)
}

// connectChannel connects the platform the form names (Telegram when it
// names none) with the credentials of the form.
func (u *UI) connectChannel(w http.ResponseWriter, r *http.Request, q *req) error {
	b, err := u.getBot(r, q)
	if err != nil {
		return err
	}
	if u.o.Channels == nil {
		return errNoChannels
	}
	kind, creds := channel.KindTelegram, channel.Credentials{"bot_token": secret.New(r.PostFormValue("bot_token"))}
	if r.PostFormValue("type") == channel.KindWhatsApp {
		kind, creds = channel.KindWhatsApp, channel.Credentials{}
		for _, f := range []string{"access_token", "app_secret", "verify_token", "phone_number_id"} {
			creds[f] = secret.New(r.PostFormValue(f))
		}
	}
	if _, err := u.o.Channels.Connect(r.Context(), q.caller(), b.ID, kind, creds); err != nil {
		p, perr := u.channelsPageOf(r, q, b)
		if perr != nil {
			return perr
		}
		return u.formError(w, p, err)
	}
	return redirect(w, r, doneURL(u.channelsURL(q, b.ID), "channel-added"))
}

// testChannel runs a connection test and shows its result on the page.
func (u *UI) testChannel(w http.ResponseWriter, r *http.Request, q *req) error {
	b, err := u.getBot(r, q)
	if err != nil {
		return err
	}
	if u.o.Channels == nil {
		return errNoChannels
	}
	id := palisade.ChannelID(r.PathValue("channelId"))
	res, err := u.o.Channels.Test(r.Context(), q.caller(), b.ID, id)
	if err != nil {
		return err
	}
	p, err := u.channelsPageOf(r, q, b)
	if err != nil {
		return err
	}
	p.D.Tested, p.D.TestedID = &res, id
	return u.render(w, http.StatusOK, p)
}

func (u *UI) rotateChannel(w http.ResponseWriter, r *http.Request, q *req) error {
	b, err := u.getBot(r, q)
	if err != nil {
		return err
	}
	if u.o.Channels == nil {
		return errNoChannels
	}
	if _, err := u.o.Channels.RotateSecret(r.Context(), q.caller(), b.ID, palisade.ChannelID(r.PathValue("channelId"))); err != nil {
		p, perr := u.channelsPageOf(r, q, b)
		if perr != nil {
			return perr
		}
		return u.formError(w, p, err)
	}
	return redirect(w, r, doneURL(u.channelsURL(q, b.ID), "channel-rotated"))
}

func (u *UI) disconnectChannel(w http.ResponseWriter, r *http.Request, q *req) error {
	b, err := u.getBot(r, q)
	if err != nil {
		return err
	}
	if u.o.Channels == nil {
		return errNoChannels
	}
	if err := u.o.Channels.Disconnect(r.Context(), q.caller(), b.ID, palisade.ChannelID(r.PathValue("channelId"))); err != nil {
		return err
	}
	return redirect(w, r, doneURL(u.channelsURL(q, b.ID), "channel-removed"))
}
