package gatewayhttp

import (
	"bytes"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/sse"
)

// Handler serves a gateway.Service to other processes.
type Handler struct {
	g      gateway.Service
	keys   map[string]secret.Secret
	now    func() time.Time
	nonces *nonces
}

// NewHandler serves g, accepting calls signed with any of keys.
func NewHandler(g gateway.Service, keys []SigningKey, now func() time.Time) *Handler {
	h := &Handler{g: g, keys: map[string]secret.Secret{}, now: now, nonces: &nonces{seen: map[string]time.Time{}, max: 1 << 20}}
	if h.now == nil {
		h.now = time.Now
	}
	for _, k := range keys {
		h.keys[k.ID] = k.Key
	}
	return h
}

var errSignature = palisade.Errorf(palisade.CodeUnauthorized, "the call's signature is missing, wrong, stale or replayed")

// Routes returns the gateway role's handler (already behind no edge: mount
// it on a surface that has one).
func (h *Handler) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST "+PathComplete, httpx.HandlerFunc(h.complete))
	return httpx.Mux(mux)
}

// verify checks the signature before the body is parsed.
func (h *Handler) verify(r *http.Request, body []byte) error {
	key, ok := h.keys[r.Header.Get(headerKeyID)]
	ts, nonce, sig := r.Header.Get(headerTimestamp), r.Header.Get(headerNonce), r.Header.Get(headerSignature)
	if !ok || len(nonce) != 32 || sig == "" {
		return errSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errSignature
	}
	now := h.now()
	if d := now.Sub(time.Unix(sec, 0)); d > SignatureWindow || d < -SignatureWindow {
		return errSignature
	}
	want := signature(key, r.Method, r.URL.EscapedPath(), ts, nonce, body)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return errSignature
	}
	// Only a correctly signed nonce is remembered, so forgeries cannot fill
	// the cache.
	if !h.nonces.add(nonce, now) {
		return errSignature
	}
	return nil
}

func (h *Handler) complete(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCallBody+1))
	if err != nil {
		return palisade.WrapError(err, palisade.CodeInvalid, "the request body could not be read")
	}
	if len(body) > maxCallBody {
		return palisade.Errorf(palisade.CodeTooLarge, "the call is too large")
	}
	if err := h.verify(r, body); err != nil {
		return err
	}
	var wr wireRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&wr); err != nil {
		return palisade.Errorf(palisade.CodeInvalid, "the call is not valid JSON")
	}
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return gateway.ErrUnauthorized
	}
	c := gateway.Call{BotID: palisade.BotID(r.Header.Get(headerBot)), Token: secret.New(bearer), Inbound: wr.Inbound, Request: llm.Request{
		Model: wr.Model, System: wr.System, MaxTokens: wr.MaxTokens, Temperature: wr.Temperature}}
	for _, m := range wr.Messages {
		c.Request.Messages = append(c.Request.Messages, llm.Message{Role: m.Role, Content: m.Content})
	}
	w.Header().Set("Cache-Control", "no-store")
	if !wr.Stream {
		resp, err := h.g.Complete(r.Context(), c)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(toWire(resp))
	}
	// A refusal before the first piece of text is an ordinary error
	// response; a failure after it can only be an "error" event, which
	// carries no more of the error than that response would.
	events := sse.NewWriter(w)
	resp, err := h.g.Stream(r.Context(), c, func(d string) error {
		return events.Send("delta", wireDelta{Text: d})
	})
	if err != nil && !events.Started() {
		return err
	}
	if err != nil {
		return events.Send("error", httpx.PublicError(r.Context(), err))
	}
	return events.Send("done", toWire(resp))
}
