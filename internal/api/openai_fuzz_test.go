package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
)

// FuzzParseChatCompletion: whatever the body, parsing a Chat Completions
// request never panics and never fails with anything but a client error; a
// request it accepts names a well-formed bot id, and its turn is a user
// message with a history of user and assistant turns only.
func FuzzParseChatCompletion(f *testing.F) {
	f.Add(`{"model":"bot_aaaaaaaaaaaaaaaaaaaaaaaaaa","messages":[{"role":"user","content":"hi"}]}`)
	f.Add(`{"model":"bot_aaaaaaaaaaaaaaaaaaaaaaaaaa","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"x"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}`)
	f.Add(`{"model":"gpt-4o","messages":[{"role":"user","content":null}],"n":2,"temperature":3}`)
	f.Add(`{"model":"bot_aaaaaaaaaaaaaaaaaaaaaaaaaa","messages":[{"role":"assistant","content":[{"type":"refusal","refusal":"no"}]},{"role":"user","content":[{"type":"image_url"}]}]}`)
	f.Add(`{"model":"bot_aaaaaaaaaaaaaaaaaaaaaaaaaa","Model":"x","messages":{}}`)
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		got, err := parseChatCompletion(r, 64<<10)
		if err != nil {
			var pe *palisade.Error
			if !errors.As(err, &pe) || httpx.Status(pe.Code) >= 500 {
				t.Fatalf("a body failed with a server error: %v", err)
			}
			return
		}
		p, _ := got.Context().Value(parsedKey{}).(parsedCompletion)
		if !palisade.ValidID(palisade.PrefixBot, string(p.bot)) || !utf8.ValidString(p.message) {
			t.Fatalf("accepted %+v", p)
		}
		for _, turn := range p.history {
			if turn.Role != "user" && turn.Role != "assistant" || strings.TrimSpace(turn.Content) == "" {
				t.Fatalf("history turn %+v", turn)
			}
		}
	})
}
