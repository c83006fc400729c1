package probe

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/secret"
)

// CatReplay holds the checks that act as a chat platform with the
// channel's real secret (from --secrets): a genuine delivery is accepted,
// its replay is refused or deduplicated, and a stale, future or tampered
// one is refused. Without the secrets they are skipped.
const CatReplay = "webhook-replay"

// staleBy is how far off a timestamp is sent to be stale: twice the
// five-minute window platforms and Palisade use.
const staleBy = 10 * time.Minute

// replayWait bounds how long a replay check waits for a delivered
// message to appear in the bot's conversations.
const replayWait = 25 * time.Second

// platform is how the probe signs and builds deliveries for one channel
// kind.
type platform struct {
	kind string
	// sign returns the headers that authenticate body, signed at ts.
	sign func(sec secret.Secret, ts time.Time, body []byte) (http.Header, error)
	// timestamped platforms sign a time the server checks against a window.
	timestamped bool
	// signedBody is signed (a tampered body must fail); Telegram's secret
	// token authenticates the sender, not the body.
	signedBody bool
	// noop is a delivery that is accepted and asks nothing of the bot, and
	// what its answer must show.
	noop      func() []byte
	noopCheck func(r *Response) Outcome
	// message is a delivery of one user message with text, for the
	// channel's external id (Slack team/user, WhatsApp phone number id,
	// Discord application id).
	message func(external, text string) []byte
}

func randDigits(n int) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	s := strconv.FormatUint(binary.BigEndian.Uint64(b[:]), 10)
	for len(s) < n {
		s += "7"
	}
	return "1" + s[:n-1]
}

func randUpper(n int) string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(idEncoding.EncodeToString(b[:]))[:n]
}

// snowflake is a Discord id minted now.
func snowflake() string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	ms := uint64(time.Now().UnixMilli() - 1420070400000)
	return strconv.FormatUint(ms<<22|uint64(binary.BigEndian.Uint16(b[:])), 10)
}

func hmacHex(key string, parts ...[]byte) string {
	m := hmac.New(sha256.New, []byte(key))
	for _, p := range parts {
		m.Write(p)
	}
	return hex.EncodeToString(m.Sum(nil))
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func platforms() []platform {
	return []platform{
		{
			kind: "telegram",
			sign: func(sec secret.Secret, _ time.Time, _ []byte) (http.Header, error) {
				return http.Header{"X-Telegram-Bot-Api-Secret-Token": {sec.Reveal()}}, nil
			},
			noop:      func() []byte { return []byte(`{"update_id":` + randDigits(9) + `}`) },
			noopCheck: func(r *Response) Outcome { return Passf("%d", r.Status) },
			message: func(_, text string) []byte {
				chat, _ := strconv.ParseInt(randDigits(10), 10, 64)
				id, _ := strconv.ParseInt(randDigits(9), 10, 64)
				return mustJSON(map[string]any{"update_id": id, "message": map[string]any{
					"message_id": 1, "from": map[string]any{"id": chat, "is_bot": false, "first_name": "Probe"},
					"chat": map[string]any{"id": chat, "type": "private", "first_name": "Probe"}, "date": time.Now().Unix(), "text": text}})
			},
		},
		{
			kind: "slack", timestamped: true, signedBody: true,
			sign: func(sec secret.Secret, ts time.Time, body []byte) (http.Header, error) {
				s := strconv.FormatInt(ts.Unix(), 10)
				return http.Header{"X-Slack-Request-Timestamp": {s}, "X-Slack-Signature": {"v0=" + hmacHex(sec.Reveal(), []byte("v0:"+s+":"), body)}}, nil
			},
			noop: func() []byte {
				return mustJSON(map[string]any{"token": "probe", "challenge": "palisade-probe-" + randUpper(12), "type": "url_verification"})
			},
			noopCheck: func(r *Response) Outcome {
				if !bytes.Contains(r.Body, []byte("palisade-probe-")) {
					return Failf("%d without the challenge", r.Status)
				}
				return Passf("%d, the challenge answered", r.Status)
			},
			message: func(external, text string) []byte {
				team, _, _ := strings.Cut(external, "/")
				now := time.Now()
				return mustJSON(map[string]any{"token": "probe", "team_id": team, "api_app_id": "A" + randUpper(9), "type": "event_callback",
					"event_id": "Ev" + randUpper(12), "event_time": now.Unix(), "event": map[string]any{"type": "message", "channel_type": "im",
						"user": "U" + randUpper(9), "channel": "D" + randUpper(9), "text": text, "ts": fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000)}})
			},
		},
		{
			kind: "whatsapp", signedBody: true,
			sign: func(sec secret.Secret, _ time.Time, body []byte) (http.Header, error) {
				return http.Header{"X-Hub-Signature-256": {"sha256=" + hmacHex(sec.Reveal(), body)}}, nil
			},
			noop: func() []byte {
				return []byte(`{"object":"whatsapp_business_account","entry":[]}`)
			},
			noopCheck: func(r *Response) Outcome { return Passf("%d", r.Status) },
			message: func(external, text string) []byte {
				return mustJSON(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{"id": randDigits(15), "changes": []any{
					map[string]any{"field": "messages", "value": map[string]any{"messaging_product": "whatsapp",
						"metadata": map[string]any{"display_phone_number": "15550000000", "phone_number_id": external},
						"contacts": []any{map[string]any{"profile": map[string]any{"name": "Probe"}, "wa_id": "1555" + randDigits(7)}},
						"messages": []any{map[string]any{"from": "1555" + randDigits(7), "id": "wamid.PROBE" + randUpper(20),
							"timestamp": strconv.FormatInt(time.Now().Unix(), 10), "type": "text", "text": map[string]any{"body": text}}}}}}}}})
			},
		},
		{
			kind: "discord", timestamped: true, signedBody: true,
			sign: func(sec secret.Secret, ts time.Time, body []byte) (http.Header, error) {
				raw, err := hex.DecodeString(strings.TrimSpace(sec.Reveal()))
				var key ed25519.PrivateKey
				switch {
				case err == nil && len(raw) == ed25519.SeedSize:
					key = ed25519.NewKeyFromSeed(raw)
				case err == nil && len(raw) == ed25519.PrivateKeySize:
					key = ed25519.PrivateKey(raw)
				default:
					return nil, fmt.Errorf("the discord secret must be the hex Ed25519 seed or private key")
				}
				s := strconv.FormatInt(ts.Unix(), 10)
				return http.Header{"X-Signature-Timestamp": {s}, "X-Signature-Ed25519": {hex.EncodeToString(ed25519.Sign(key, append([]byte(s), body...)))}}, nil
			},
			noop: func() []byte {
				return []byte(`{"id":"` + snowflake() + `","application_id":"` + snowflake() + `","type":1,"version":1,"token":"probe"}`)
			},
			noopCheck: func(r *Response) Outcome {
				if !bytes.Contains(r.Body, []byte(`"type":1`)) {
					return Failf("%d without a PONG: %q", r.Status, oneLine(string(r.Body)))
				}
				return Passf("%d, PONG", r.Status)
			},
			message: func(external, text string) []byte {
				user := snowflake()
				return mustJSON(map[string]any{"id": snowflake(), "application_id": external, "type": 2, "version": 1,
					"token": "probe." + randUpper(24), "channel_id": snowflake(), "user": map[string]any{"id": user, "username": "probe"},
					"data": map[string]any{"id": snowflake(), "name": "ask", "type": 1, "options": []any{map[string]any{"name": "question", "type": 3, "value": text}}}})
			},
		},
	}
}

// deliver signs body at ts with the channel's secret and posts it.
func deliver(ctx context.Context, t *Target, p platform, cs ChannelSecret, ts time.Time, body, sent []byte) (*Response, error) {
	h, err := p.sign(cs.Secret, ts, body)
	if err != nil {
		return nil, err
	}
	h.Set("Content-Type", "application/json")
	return t.Do(ctx, Request{Method: http.MethodPost, Path: "/hooks/" + p.kind + "/" + string(cs.Bot), Header: h, Body: sent})
}

func replayCheck(p platform, name string, sev Severity, ref, desc string, f func(ctx context.Context, t *Target, cs ChannelSecret) Outcome) Check {
	return Check{Category: CatReplay, Name: p.kind + "-" + name, Severity: sev, Reference: ref, Description: desc, Run: func(ctx context.Context, t *Target) Outcome {
		cs, ok := t.secrets.Channel(p.kind)
		if !ok {
			return Skipf("needs the %s channel's secret (--secrets) to sign a genuine delivery", p.kind)
		}
		return f(ctx, t, cs)
	}}
}

// refusal is the outcome of a delivery that must be refused.
func refusal(what string, r *Response) Outcome {
	if r.Status/100 == 2 || r.Status >= 500 {
		return Failf("%s = %d, want a 4xx refusal", what, r.Status)
	}
	return Passf("%s = %d", what, r.Status)
}

func replayChecks() []Check {
	var cs []Check
	for _, p := range platforms() {
		cs = append(cs, replayCheck(p, "signed-delivery-accepted", High, "CWE-345",
			fmt.Sprintf("a %s delivery signed with the channel's real secret is accepted (the forgery checks refuse for the right reason)", p.kind),
			func(ctx context.Context, t *Target, c ChannelSecret) Outcome {
				body := p.noop()
				r, err := deliver(ctx, t, p, c, time.Now(), body, body)
				if err != nil {
					return requestFailed(ctx, err)
				}
				if r.Status/100 != 2 {
					return Failf("a correctly signed delivery = %d: wrong secret in --secrets, or the channel refuses genuine deliveries", r.Status)
				}
				return p.noopCheck(r)
			}))
		cs = append(cs, replayCheck(p, "replay-deduplicated", Critical, "CWE-294",
			fmt.Sprintf("a signed %s message delivered twice reaches the bot once: the replay is refused or deduplicated", p.kind),
			func(ctx context.Context, t *Target, c ChannelSecret) Outcome { return replayOnce(ctx, t, p, c) }))
		if p.signedBody {
			cs = append(cs, replayCheck(p, "tampered-body-refused", Critical, "CWE-345",
				fmt.Sprintf("a %s delivery changed after it was signed is refused", p.kind),
				func(ctx context.Context, t *Target, c ChannelSecret) Outcome {
					body := p.noop()
					tampered := append(bytes.TrimRight(slicesClone(body), "}"), []byte(`,"palisade_probe":1}`)...)
					r, err := deliver(ctx, t, p, c, time.Now(), body, tampered)
					if err != nil {
						return requestFailed(ctx, err)
					}
					return refusal("a tampered delivery", r)
				}))
		}
		if p.timestamped {
			for _, d := range []struct {
				name string
				off  time.Duration
			}{{"stale-timestamp-refused", -staleBy}, {"future-timestamp-refused", staleBy}} {
				cs = append(cs, replayCheck(p, d.name, High, "CWE-294",
					fmt.Sprintf("a %s delivery correctly signed %s ago is refused", p.kind, strings.TrimPrefix((-d.off).String(), "-")),
					func(ctx context.Context, t *Target, c ChannelSecret) Outcome {
						body := p.noop()
						r, err := deliver(ctx, t, p, c, time.Now().Add(d.off), body, body)
						if err != nil {
							return requestFailed(ctx, err)
						}
						return refusal(fmt.Sprintf("a delivery signed %s off the clock", d.off), r)
					}))
			}
		}
	}
	return cs
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }

// replayOnce delivers one message twice. A refused replay passes; an
// accepted one passes only when the bot's conversations, read with the
// API key of its workspace, hold the message once. The conversation is
// deleted afterwards.
func replayOnce(ctx context.Context, t *Target, p platform, c ChannelSecret) Outcome {
	ownerB, external, ok, why := channelOwner(ctx, t, p.kind, c)
	if !ok {
		return why
	}
	marker := "palisade probe replay " + randUpper(16)
	body := p.message(external, marker)
	first, err := deliver(ctx, t, p, c, time.Now(), body, body)
	if err != nil {
		return requestFailed(ctx, err)
	}
	if first.Status/100 != 2 {
		return Failf("the first, genuine delivery = %d", first.Status)
	}
	second, err := deliver(ctx, t, p, c, time.Now(), body, body)
	if err != nil {
		return requestFailed(ctx, err)
	}
	conv, n, err := countMessage(ctx, t, ownerB, c, p.kind, marker)
	if conv != "" {
		defer func() {
			_, _ = t.Do(context.WithoutCancel(ctx), Request{Method: http.MethodDelete, Path: "/api/v1/conversations/" + conv, Bearer: !ownerB, KeyB: ownerB})
		}()
	}
	if err != nil {
		return requestFailed(ctx, err)
	}
	if second.Status/100 != 2 && second.Status < 500 {
		return Passf("the replay = %d (refused)", second.Status)
	}
	switch {
	case n == 0:
		return Failf("the genuine message never reached a conversation within %s, so deduplication cannot be shown", replayWait)
	case n > 1:
		return Failf("the replay = %d and the message is in the conversation %d times", second.Status, n)
	}
	return Passf("the replay = %d and the message is in the conversation once", second.Status)
}

// channelOwner finds which key's workspace owns the bot and reads the
// channel's external id.
func channelOwner(ctx context.Context, t *Target, kind string, c ChannelSecret) (ownerB bool, external string, ok bool, why Outcome) {
	if !t.HasKey() {
		return false, "", false, Skipf("needs the API key of the bot's workspace to show that a replay reaches the bot once")
	}
	for _, b := range []bool{false, true} {
		if b && !t.HasKeyB() {
			break
		}
		r, err := t.Do(ctx, Request{Path: "/api/v1/bots/" + string(c.Bot) + "/channels", Bearer: !b, KeyB: b})
		if err != nil {
			return false, "", false, requestFailed(ctx, err)
		}
		if r.Status != http.StatusOK {
			continue
		}
		var l struct {
			Data []struct {
				Type       string `json:"type"`
				ExternalID string `json:"external_id"`
			} `json:"data"`
		}
		_ = json.Unmarshal(r.Body, &l)
		for _, ch := range l.Data {
			if ch.Type == kind {
				return b, ch.ExternalID, true, Outcome{}
			}
		}
		return false, "", false, Skipf("the bot %s has no %s channel", c.Bot, kind)
	}
	return false, "", false, Skipf("no API key given reads the bot %s's channels", c.Bot)
}

// countMessage waits for the message to reach one of the bot's
// conversations of that channel, lets a replay have its chance, and
// counts the user messages equal to text.
func countMessage(ctx context.Context, t *Target, ownerB bool, c ChannelSecret, kind, text string) (string, int, error) {
	quoted := mustJSON(text)
	find := func() (string, int, error) {
		r, err := t.Do(ctx, Request{Path: "/api/v1/conversations?bot_id=" + string(c.Bot) + "&channel=" + kind, Bearer: !ownerB, KeyB: ownerB})
		if err != nil {
			return "", 0, err
		}
		var l listed
		_ = json.Unmarshal(r.Body, &l)
		for i, cv := range l.Data {
			if i == 5 {
				break
			}
			m, err := t.Do(ctx, Request{Path: "/api/v1/conversations/" + cv.ID + "/messages", Bearer: !ownerB, KeyB: ownerB})
			if err != nil {
				return "", 0, err
			}
			if n := bytes.Count(m.Body, quoted); n > 0 {
				return cv.ID, n, nil
			}
		}
		return "", 0, nil
	}
	deadline := time.Now().Add(replayWait)
	for {
		conv, n, err := find()
		if err != nil || n > 0 {
			if n > 0 {
				// The replay's job may run a moment after the first's.
				select {
				case <-ctx.Done():
				case <-time.After(2 * time.Second):
				}
				if c2, n2, err2 := find(); err2 == nil && c2 != "" {
					return c2, n2, nil
				}
			}
			return conv, n, err
		}
		if time.Now().After(deadline) {
			return "", 0, nil
		}
		select {
		case <-ctx.Done():
			return "", 0, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
