package gatewayhttp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
)

// A signature is good for SignatureWindow either side of the gateway's
// clock; PathComplete is the one route.
const (
	SignatureWindow = 60 * time.Second
	PathComplete    = "/gateway/v1/complete"

	headerKeyID     = "X-Palisade-Key-Id"
	headerTimestamp = "X-Palisade-Timestamp"
	headerNonce     = "X-Palisade-Nonce"
	headerSignature = "X-Palisade-Signature"
	headerBot       = "X-Palisade-Bot-Id"
	maxCallBody     = 1 << 20
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

func signature(key secret.Secret, method, path, ts, nonce string, body []byte) string {
	bh := sha256.Sum256(body)
	m := hmac.New(sha256.New, []byte(key.Reveal()))
	fmt.Fprintf(m, "v1\n%s\n%s\n%s\n%s\n%s", method, path, ts, nonce, hex.EncodeToString(bh[:]))
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

type wireRequest struct {
	Stream      bool          `json:"stream"`
	Inbound     string        `json:"inbound,omitempty"`
	Model       string        `json:"model"`
	System      string        `json:"system"`
	Messages    []wireMessage `json:"messages"`
	MaxTokens   int           `json:"max_tokens"`
	Temperature *float64      `json:"temperature,omitempty"`
}

type wireMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
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

// nonces remembers the nonces seen within the signature window.
type nonces struct {
	mu   sync.Mutex
	seen map[string]time.Time
	max  int
}

func (n *nonces) add(nonce string, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.seen) >= n.max/2 {
		for k, t := range n.seen {
			if now.Sub(t) > 2*SignatureWindow {
				delete(n.seen, k)
			}
		}
	}
	if _, dup := n.seen[nonce]; dup || len(n.seen) >= n.max {
		return false
	}
	n.seen[nonce] = now
	return true
}
