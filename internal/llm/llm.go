package llm

import (
	"context"
	"math"
)

// Roles of a conversation turn. The system prompt is not a role here: it is
// Request.System, and each adapter places it where its provider expects it.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Normalised finish reasons. Adapters map their provider's values onto these;
// a value with no equivalent is passed through in lower case.
const (
	FinishStop          = "stop"           // the model ended its turn
	FinishLength        = "length"         // the output cap was reached
	FinishContentFilter = "content_filter" // the provider withheld or cut the output
	FinishToolCalls     = "tool_calls"     // the model asked for a tool
)

// Provider is one language-model backend. Implementations must be safe for
// concurrent use.
type Provider interface {
	// Complete sends req and waits for the whole answer.
	Complete(ctx context.Context, req Request) (Response, error)
	// Stream sends req and calls onDelta with each piece of text as it
	// arrives. The returned Response carries the full text (the concatenation
	// of every delta) and the usage. If onDelta returns an error the stream
	// is abandoned and that error is returned unchanged. After an error the
	// caller decides what to do with the deltas it already received.
	Stream(ctx context.Context, req Request, onDelta func(string) error) (Response, error)
}

// Message is one turn of a conversation.
type Message struct {
	Role    string // RoleUser or RoleAssistant
	Content string
}

// Request is a provider-neutral chat request.
type Request struct {
	Model       string
	System      string // the system prompt; never merged into a user message
	Messages    []Message
	MaxTokens   int      // 0: the adapter's default
	Temperature *float64 // nil: the provider's default
}

// Usage counts tokens as the provider reported them.
type Usage struct {
	InputTokens  int
	OutputTokens int
}

// Response is a provider-neutral answer.
type Response struct {
	Text         string
	FinishReason string // one of the Finish* constants, or the provider's own value in lower case
	Model        string // the model that answered, as the provider named it
	Usage        Usage
}

// Validate checks what every provider needs, so a malformed request fails
// here instead of costing a round trip. The error is an *Error of type
// TypeInvalidRequest.
func (r Request) Validate() error {
	switch {
	case r.Model == "":
		return invalid("model is required")
	case len(r.Messages) == 0:
		return invalid("at least one message is required")
	case r.MaxTokens < 0:
		return invalid("max tokens must not be negative")
	case r.Temperature != nil && (math.IsNaN(*r.Temperature) || math.IsInf(*r.Temperature, 0) || *r.Temperature < 0):
		return invalid("temperature must be a finite number, zero or more")
	}
	for _, m := range r.Messages {
		if m.Role != RoleUser && m.Role != RoleAssistant {
			return invalid("message role must be user or assistant")
		}
	}
	return nil
}

func invalid(msg string) *Error {
	return &Error{Type: TypeInvalidRequest, Message: msg}
}
