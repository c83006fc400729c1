package gatewayhttp

import (
	"bytes"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
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
	nonces gateway.Nonces
}

// HandlerOptions configure a Handler.
type HandlerOptions struct {
	// Keys are the signing keys calls may be signed with, by key id.
	Keys []SigningKey
	// Nonces remembers every accepted call's nonce (required). With more
	// than one gateway process it must be shared by all of them (Redis or
	// the database), or a call replayed to another process would pass.
	Nonces gateway.Nonces
	Now    func() time.Time
}

// NewHandler serves g, accepting calls signed with any of o.Keys.
func NewHandler(g gateway.Service, o HandlerOptions) (*Handler, error) {
	if o.Nonces == nil {
		return nil, errors.New("gatewayhttp: a handler needs a nonce memory")
	}
	if len(o.Keys) == 0 {
		return nil, errors.New("gatewayhttp: a handler needs at least one signing key")
	}
	h := &Handler{g: g, keys: map[string]secret.Secret{}, now: o.Now, nonces: o.Nonces}
	if h.now == nil {
		h.now = time.Now
	}
	for _, k := range o.Keys {
		h.keys[k.ID] = k.Key
	}
	return h, nil
}

var errSignature = palisade.Errorf(palisade.CodeUnauthorized, "the call's signature is missing, wrong, stale or replayed")

// Routes returns the gateway role's handler (already behind no edge: mount
// it on a surface that has one).
func (h *Handler) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST "+PathComplete, httpx.HandlerFunc(h.complete))
	return httpx.Mux(mux)
}

// verify checks the signature, over the bot and token the call presents,
// before the body is parsed, and then claims the nonce.
func (h *Handler) verify(r *http.Request, bot palisade.BotID, token secret.Secret, body []byte) error {
	key, ok := h.keys[r.Header.Get(headerKeyID)]
	ts, nonce, sig := r.Header.Get(headerTimestamp), r.Header.Get(headerNonce), r.Header.Get(headerSignature)
	if !ok || sig == "" || !validNonce(nonce) {
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
	want := signature(key, r.Method, r.URL.EscapedPath(), ts, nonce, bot, token, body)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return errSignature
	}
	// Only a correctly signed nonce is remembered, so forgeries cannot fill
	// the memory; one that cannot be checked refuses the call.
	fresh, err := h.nonces.Claim(r.Context(), nonce, now, now.Add(NonceTTL))
	if err != nil {
		return palisade.WrapError(err, palisade.CodeUnavailable, "the gateway cannot check this call for replay; try again later")
	}
	if !fresh {
		return errSignature
	}
	return nil
}

// validNonce: 32 lowercase hex digits, as the Client makes them.
func validNonce(n string) bool {
	if len(n) != 32 {
		return false
	}
	for _, c := range []byte(n) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// single returns a header's value when it is given exactly once.
func single(r *http.Request, name string) (string, bool) {
	v := r.Header.Values(name)
	if len(v) != 1 {
		return "", false
	}
	return v[0], true
}

func (h *Handler) complete(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCallBody+1))
	if err != nil {
		return palisade.WrapError(err, palisade.CodeInvalid, "the request body could not be read")
	}
	if len(body) > maxCallBody {
		return palisade.Errorf(palisade.CodeTooLarge, "the call is too large")
	}
	// The bot and the token are what the call is charged to: each given
	// exactly once, and both under the signature.
	bot, okBot := single(r, headerBot)
	auth, okAuth := single(r, "Authorization")
	bearer, okBearer := strings.CutPrefix(auth, "Bearer ")
	if !okBot || !okAuth || !okBearer || bearer == "" {
		return errSignature
	}
	c := gateway.Call{BotID: palisade.BotID(bot), Token: secret.New(bearer)}
	if err := h.verify(r, c.BotID, c.Token, body); err != nil {
		return err
	}
	if id, ok := single(r, HeaderOriginRequestID); ok && httpx.ValidRequestID(id) {
		httpx.Annotate(r.Context(), slog.String("origin_request_id", id))
	}
	var wr wireRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&wr); err != nil {
		return palisade.Errorf(palisade.CodeInvalid, "the call is not valid JSON")
	}
	c.Message = wr.Message
	for _, m := range wr.History {
		c.History = append(c.History, llm.Message{Role: m.Role, Content: m.Content})
	}
	for _, p := range wr.Passages {
		c.Passages = append(c.Passages, gateway.Passage{Source: p.Source, Text: p.Text})
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
