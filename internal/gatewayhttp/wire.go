package gatewayhttp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

// A signature is good for SignatureWindow either side of the gateway's
// clock, and its nonce is remembered for NonceTTL, until no clock within
// the window could accept it again; PathComplete is the one route.
const (
	SignatureWindow = 60 * time.Second
	NonceTTL        = 2*SignatureWindow + 10*time.Second
	PathComplete    = "/gateway/v1/complete"

	headerKeyID     = "X-Palisade-Key-Id"
	headerTimestamp = "X-Palisade-Timestamp"
	headerNonce     = "X-Palisade-Nonce"
	headerSignature = "X-Palisade-Signature"
	headerBot       = "X-Palisade-Bot-Id"
	// HeaderOriginRequestID carries the id of the web request a call
	// serves, so one request can be followed from the web role's log into
	// the gateway's. It is a log correlation only, outside the signature:
	// nothing is decided on it, and it is taken only in the strict format
	// of httpx.ValidRequestID and only from a correctly signed call.
	HeaderOriginRequestID = "X-Palisade-Origin-Request-Id"
	maxCallBody           = 1 << 20
	// maxAnswerBody caps a non-streamed answer; the output ceiling keeps a
	// real one far below it.
	maxAnswerBody = 4 << 20
	maxErrorBody  = 64 << 10
)

// SigningKey is one shared key for signing calls.
type SigningKey struct {
	ID  string
	Key secret.Secret // at least 32 bytes
}

// signature is HMAC-SHA256 under key over everything that decides what a
// call does and whom it is charged to: the method, path, time and nonce,
// the bot it names, the SHA-256 of the token it presents and the SHA-256 of
// its body. A call signed for one bot cannot be delivered as another's, nor
// with another token. No field can contain the separator: the path is
// escaped, the time and nonce are checked for digits and hex, the bot id
// is a header value and the hashes are hex.
func signature(key secret.Secret, method, path, ts, nonce string, bot palisade.BotID, token secret.Secret, body []byte) string {
	bh := sha256.Sum256(body)
	m := hmac.New(sha256.New, []byte(key.Reveal()))
	fmt.Fprintf(m, "v2\n%s\n%s\n%s\n%s\n%s\n%s\n%s", method, path, ts, nonce, bot, hex.EncodeToString(gateway.HashToken(token)), hex.EncodeToString(bh[:]))
	return "v2=" + hex.EncodeToString(m.Sum(nil))
}

// wireRequest is a gateway.Call's parts; the bot and token travel in
// headers. It has no field for a system prompt, model, temperature or
// output cap, and the Handler refuses unknown fields: those are the
// stored bot's.
type wireRequest struct {
	Stream   bool          `json:"stream"`
	History  []wireMessage `json:"history,omitempty"`
	Message  string        `json:"message"`
	Passages []wirePassage `json:"passages,omitempty"`
}

type wireMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type wirePassage struct {
	Source string `json:"source"`
	Text   string `json:"text"`
}

type wireDelta struct {
	Text string `json:"text"`
}

type wireResponse struct {
	Text         string `json:"text"`
	FinishReason string `json:"finish_reason"`
	Model        string `json:"model"`
	InputTokens  int    `json:"input_tokens"`
	OutputTokens int    `json:"output_tokens"`
}

// wireError is the part of an httpx.Public the client reads back.
type wireError struct {
	Code    palisade.Code `json:"code"`
	Message string        `json:"message"`
	Field   string        `json:"field"`
	ErrorID string        `json:"error_id"`
}

func toWire(r llm.Response) wireResponse {
	return wireResponse{Text: r.Text, FinishReason: r.FinishReason, Model: r.Model, InputTokens: r.Usage.InputTokens, OutputTokens: r.Usage.OutputTokens}
}

func fromWire(w wireResponse) llm.Response {
	return llm.Response{Text: w.Text, FinishReason: w.FinishReason, Model: w.Model, Usage: llm.Usage{InputTokens: w.InputTokens, OutputTokens: w.OutputTokens}}
}
