package discord_test

import (
	"testing"

	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/channel/discord"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/palisade"
)

// FuzzParseInteraction: whatever verified bytes arrive, Parse returns a
// delivery or an invalid error, never panics, and every message it makes
// has a snowflake key, a user, a channel and text.
func FuzzParseInteraction(f *testing.F) {
	f.Add([]byte(vectorBody))
	f.Add([]byte(`{"type":2,"id":"1300000000000000001","application_id":"787053080478613554","channel_id":"1","user":{"id":"2"},"token":"t","data":{"name":"ask","options":[{"name":"question","type":3,"value":"hi"}]}}`))
	f.Add([]byte(`{"type":2,"id":"1","data":{"name":"ask","options":[{"name":"question","type":3,"value":{"x":1}}]}}`))
	client, err := egress.New(egress.DefaultPolicy(), egress.Options{})
	if err != nil {
		f.Fatal(err)
	}
	adapter, err := discord.New(discord.Options{Client: client})
	if err != nil {
		f.Fatal(err)
	}
	ch := palisade.Channel{Kind: "discord", Config: `{"settings":{"application_id":"787053080478613554"}}`}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := adapter.Parse(channel.Request{Body: body}, ch)
		if err != nil {
			if palisade.ErrorCode(err) != palisade.CodeInvalid {
				t.Fatalf("error %v is not invalid", err)
			}
			return
		}
		if d.Response.Status == 0 || len(d.Response.Body) == 0 {
			t.Fatalf("no answer for Discord: %+v", d.Response)
		}
		for _, m := range d.Messages {
			if m.Key == "" || m.UserID == "" || m.Route.Chat == "" || m.Text == "" || m.Route.Token == "" {
				t.Fatalf("incomplete message %+v", m)
			}
		}
	})
}

// FuzzMessageFromEvent: a MESSAGE_CREATE's data never panics the decoder,
// and a message it keeps is complete and never the bot's own.
func FuzzMessageFromEvent(f *testing.F) {
	f.Add([]byte(`{"id":"1300000000000000001","channel_id":"1100000000000000001","type":0,"author":{"id":"1200000000000000001"},"content":"hello"}`))
	f.Add([]byte(`{"id":"1300000000000000002","channel_id":"1100000000000000001","guild_id":"9","type":0,"author":{"id":"1200000000000000001"},"content":"<@787053080478613560> hi","mentions":[{"id":"787053080478613560"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, ok, err := discord.MessageFromEvent(data, botUserID)
		if err != nil && palisade.ErrorCode(err) != palisade.CodeInvalid {
			t.Fatalf("error %v is not invalid", err)
		}
		if ok && (m.Key == "" || m.UserID == "" || m.UserID == botUserID || m.Text == "" || m.Route.Chat == "") {
			t.Fatalf("incomplete message %+v", m)
		}
	})
}
