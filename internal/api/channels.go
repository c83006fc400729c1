package api

import (
	"net/http"
	"time"

	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

// channelJSON is a channel as the API shows it: never a credential or a
// secret, only the submitted credentials masked (their last four
// characters at most) and whether a verification secret is set.
type channelJSON struct {
	ID          palisade.ChannelID `json:"id"`
	BotID       palisade.BotID     `json:"bot_id"`
	Type        string             `json:"type"`
	Name        string             `json:"name"`
	ExternalID  string             `json:"external_id"`
	Status      string             `json:"status"`
	WebhookURL  string             `json:"webhook_url"`
	Credentials map[string]string  `json:"credentials"`
	HasSecret   bool               `json:"has_secret"`
	CreatedAt   time.Time          `json:"created_at"`
	UpdatedAt   time.Time          `json:"updated_at"`
}

func toChannelJSON(v channel.View) channelJSON {
	masked := v.Masked
	if masked == nil {
		masked = map[string]string{}
	}
	return channelJSON{ID: v.ID, BotID: v.BotID, Type: v.Kind, Name: v.Name, ExternalID: v.ExternalID, Status: v.Status, WebhookURL: v.WebhookURL,
		Credentials: masked, HasSecret: v.HasSecret, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt}
}

func channelID(r *http.Request) palisade.ChannelID {
	return palisade.ChannelID(r.PathValue("channelId"))
}

func (a *API) listChannels(w http.ResponseWriter, r *http.Request) error {
	page, err := readPage(r, "channels", palisade.PrefixChannel)
	if err != nil {
		return err
	}
	list, err := a.Channels.List(r.Context(), scope(r), botID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pageOf("channels", page, list,
		func(v channel.View) keyed { return keyed{v.CreatedAt, string(v.ID)} }, toChannelJSON))
}

func (a *API) getChannel(w http.ResponseWriter, r *http.Request) error {
	v, err := a.Channels.Get(r.Context(), scope(r), botID(r), channelID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toChannelJSON(v))
}

// connectInput is the body of POST /api/v1/bots/{botId}/channels: the
// platform and its credentials, each platform's own fields (telegram:
// bot_token; whatsapp: access_token, app_secret, verify_token,
// phone_number_id; slack: bot_token, signing_secret; discord:
// application_id, public_key, bot_token), checked by its adapter.
type connectInput struct {
	Type        string            `json:"type"`
	Credentials map[string]string `json:"credentials"`
}

// createChannel connects the bot to a platform. The credentials become
// secrets at once and are never echoed.
func (a *API) createChannel(w http.ResponseWriter, r *http.Request) error {
	var in connectInput
	if err := httpx.DecodeJSON(r, &in, httpx.DefaultMaxBody); err != nil {
		return err
	}
	if in.Type == "" {
		return palisade.FieldError("type", "type is required")
	}
	creds := make(channel.Credentials, len(in.Credentials))
	for k, v := range in.Credentials {
		creds[k] = secret.New(v)
	}
	clear(in.Credentials)
	v, err := a.Channels.Connect(r.Context(), caller(r), botID(r), in.Type, creds)
	if err != nil {
		return err
	}
	out := toChannelJSON(v)
	return writeCreated(w, r, string(out.ID), out)
}

func (a *API) deleteChannel(w http.ResponseWriter, r *http.Request) error {
	if err := a.Channels.Disconnect(r.Context(), caller(r), botID(r), channelID(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// channelTestJSON is what a connection test found.
type channelTestJSON struct {
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// testChannel checks the connection with the platform and reports what
// it found; it changes nothing.
func (a *API) testChannel(w http.ResponseWriter, r *http.Request) error {
	res, err := a.Channels.Test(r.Context(), caller(r), botID(r), channelID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, channelTestJSON{OK: res.OK, Detail: res.Detail})
}

// rotateChannelSecret gives the channel a fresh verification secret where
// the platform lets us choose it; the secret itself is never shown.
func (a *API) rotateChannelSecret(w http.ResponseWriter, r *http.Request) error {
	v, err := a.Channels.RotateSecret(r.Context(), caller(r), botID(r), channelID(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toChannelJSON(v))
}
