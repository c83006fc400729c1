package discord

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

// GatewayInfo is GET /gateway/bot: where to connect and how many sessions
// may still be started (§4.2).
type GatewayInfo struct {
	URL    string `json:"url"`
	Shards int    `json:"shards"`
	Limit  struct {
		Total          int   `json:"total"`
		Remaining      int   `json:"remaining"`
		ResetAfterMS   int64 `json:"reset_after"`
		MaxConcurrency int   `json:"max_concurrency"`
	} `json:"session_start_limit"`
}

// ResetAfter is when the session start limit is renewed.
func (g GatewayInfo) ResetAfter() time.Duration {
	return time.Duration(g.Limit.ResetAfterMS) * time.Millisecond
}

// GatewayBot reads the Gateway URL and the session start limit of a
// channel's bot.
func (p *Platform) GatewayBot(ctx context.Context, credentials secret.Secret) (GatewayInfo, error) {
	tok, err := BotToken(credentials)
	if err != nil {
		return GatewayInfo{}, err
	}
	var g GatewayInfo
	if err := p.call(ctx, http.MethodGet, "GET /gateway/bot", "/gateway/bot", tok, nil, &g); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusUnauthorized {
			return GatewayInfo{}, ErrTokenRejected
		}
		return GatewayInfo{}, err
	}
	return g, nil
}

// ErrTokenRejected is Discord refusing the bot token: it was reset. A
// session stops using it (§4.4: stop after a 401).
var ErrTokenRejected = errors.New("discord: the bot token was rejected")

// messageEvent is the part of a MESSAGE_CREATE the bot reads (§4.2).
type messageEvent struct {
	ID        string  `json:"id"`
	ChannelID string  `json:"channel_id"`
	GuildID   string  `json:"guild_id"`
	Type      int     `json:"type"`
	Author    *user   `json:"author"`
	Content   string  `json:"content"`
	Mentions  []user  `json:"mentions"`
	WebhookID *string `json:"webhook_id"`
}

var errNotAMessage = palisade.Errorf(palisade.CodeInvalid, "the event is not a Discord message")

// MessageFromEvent turns the data of a MESSAGE_CREATE event into the
// message to answer, if the bot answers it: a DM (no guild), or a guild
// message that mentions the bot, from a person (never the bot itself,
// another bot or a webhook), of the default or reply type, with text. The
// mention is taken out of the text. The dedupe key is the message id; a
// DM's reply goes to its channel, a guild message's replies to it.
func MessageFromEvent(data []byte, botUserID string) (channel.Message, bool, error) {
	var m messageEvent
	if err := json.Unmarshal(data, &m); err != nil || !snowflakePattern.MatchString(m.ID) || !snowflakePattern.MatchString(m.ChannelID) {
		return channel.Message{}, false, errNotAMessage
	}
	if m.Author == nil || m.Author.Bot || m.WebhookID != nil || !snowflakePattern.MatchString(m.Author.ID) || m.Author.ID == botUserID {
		return channel.Message{}, false, nil
	}
	if m.Type != 0 && m.Type != 19 {
		return channel.Message{}, false, nil
	}
	out := channel.Message{Key: m.ID, UserID: m.Author.ID, Text: strings.TrimSpace(m.Content), Route: channel.Route{Chat: m.ChannelID}}
	if m.GuildID != "" {
		mentioned := false
		for _, u := range m.Mentions {
			if botUserID != "" && u.ID == botUserID {
				mentioned = true
			}
		}
		if !mentioned {
			return channel.Message{}, false, nil
		}
		text := strings.NewReplacer("<@"+botUserID+">", "", "<@!"+botUserID+">", "").Replace(m.Content)
		out.Text = strings.TrimSpace(text)
		out.ChatID = m.ChannelID
		out.Route.ReplyTo = m.ID
	}
	if out.Text == "" {
		return channel.Message{}, false, nil
	}
	return out, true, nil
}
