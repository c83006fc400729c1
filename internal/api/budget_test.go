package api_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/llm/llmtest"
	"github.com/palisadehq/palisade/internal/llm/openai"
	"github.com/palisadehq/palisade/internal/secret"
)

// TestBudgetSetThroughTheAPIIsEnforced: a daily token budget set through
// the API is what the gateway enforces on the bot's next message, and the
// budget's answer shows the day's usage; 0 removes it.
func TestBudgetSetThroughTheAPIIsEnforced(t *testing.T) {
	t.Parallel()
	w := newWorld(t, dialects["sqlite"])
	fake := llmtest.NewOpenAI(t, llmtest.Options{Text: "We open at nine."})
	prov, err := openai.New(openai.Config{BaseURL: fake.URL, APIKey: secret.New("sk-operator-0000000000"), HTTPClient: fake.Client()})
	if err != nil {
		t.Fatal(err)
	}
	providers := map[string]llm.Provider{}
	for _, m := range llm.DefaultModels("") {
		providers[m] = prov
	}
	tokens, err := gateway.NewTokens(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	gw := gateway.New(gateway.Options{Store: w.store, Providers: providers})
	a := wire(t, w.store, botConfig{Telegram: w.fake, Generator: &conversation.GatewayGenerator{Gateway: gw, Tokens: tokens}})
	srv := httptest.NewServer(httpx.Edge(httpx.EdgeConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, a.Handler()))
	t.Cleanup(srv.Close)
	w.srv = srv
	tn := w.tenant(t)
	budgetURL := "/api/v1/bots/" + string(tn.bot) + "/budget"
	chatURL := "/api/v1/bots/" + string(tn.bot) + "/chat"

	code, b := w.call(t, http.MethodGet, budgetURL, tn.key, "")
	if code != http.StatusOK || b["daily_tokens"] != float64(0) || b["today"].(map[string]any)["remaining"] != nil {
		t.Fatalf("budget before: %d %v", code, b)
	}
	if used := b["today"].(map[string]any)["requests"]; used != float64(1) {
		t.Fatalf("the fixture's message is not counted: %v", b)
	}
	if code, b := w.call(t, http.MethodPut, budgetURL, tn.key, `{"daily_tokens":100}`); code != http.StatusOK || b["daily_tokens"] != float64(100) {
		t.Fatalf("set: %d %v", code, b)
	}
	// What the day has left no longer holds a call's worst case: the next
	// message is refused before the provider sees it.
	calls := len(fake.Requests())
	if code, out := w.call(t, http.MethodPost, chatURL, tn.key, `{"user_id":"alice","message":"And on Sunday?"}`); code != http.StatusTooManyRequests {
		t.Fatalf("over budget: %d %v", code, out)
	}
	if len(fake.Requests()) != calls {
		t.Fatal("the provider was called over budget")
	}
	code, b = w.call(t, http.MethodGet, budgetURL, tn.key, "")
	today := b["today"].(map[string]any)
	if code != http.StatusOK || today["remaining"] != 100-today["tokens_in"].(float64)-today["tokens_out"].(float64) {
		t.Fatalf("budget after: %d %v", code, b)
	}
	if code, b := w.call(t, http.MethodPut, budgetURL, tn.key, `{"daily_tokens":0}`); code != http.StatusOK || b["daily_tokens"] != float64(0) {
		t.Fatalf("remove: %d %v", code, b)
	}
	if code, out := w.call(t, http.MethodPost, chatURL, tn.key, `{"user_id":"alice","message":"And on Sunday?"}`); code != http.StatusOK {
		t.Fatalf("without a budget: %d %v", code, out)
	}
	for _, body := range []string{`{"daily_tokens":-1}`, `{}`, `{"daily_tokens":"lots"}`, `{"daily_tokens":2000000000000}`} {
		if code, out := w.call(t, http.MethodPut, budgetURL, tn.key, body); code != http.StatusBadRequest {
			t.Errorf("budget %s: %d %v", body, code, out)
		}
	}
}
