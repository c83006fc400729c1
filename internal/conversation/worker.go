package conversation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/sandbox"
	"github.com/palisadehq/palisade/internal/secret"
)

// TurnKind is the task kind of a bot's turn in its worker.
const TurnKind = "turn"

// The calls a turn's worker makes to its parent.
const (
	callComplete = "gateway.complete"
	callStream   = "gateway.stream"
)

// Runner runs a task in a bot's own worker; *sandbox.Pool is one.
type Runner interface {
	Run(ctx context.Context, key, kind string, payload []byte, onProgress func([]byte) error) ([]byte, error)
}

// turnParts is what a turn's worker receives: the bot's gateway token,
// the one credential it ever holds, and the parts of the call.
type turnParts struct {
	BotID    palisade.BotID    `json:"bot_id"`
	Token    string            `json:"token"`
	History  []llm.Message     `json:"history,omitempty"`
	Message  string            `json:"message"`
	Passages []gateway.Passage `json:"passages,omitempty"`
	Stream   bool              `json:"stream,omitempty"`
}

// answer is the gateway's answer as it crosses the socket.
type answer struct {
	Text      string `json:"text"`
	TokensIn  int    `json:"tokens_in"`
	TokensOut int    `json:"tokens_out"`
}

// WorkerGenerator answers through the bot's own worker: the worker gets
// the bot's gateway token and the turn's parts, assembles the gateway
// call and makes it through its parent, which relays it to the gateway
// (GatewayCalls). The server keeps retrieval and the database; a
// retrieval-only turn never reaches a generator, so never a worker.
type WorkerGenerator struct {
	Workers Runner
	Tokens  *gateway.Tokens
}

var _ Generator = (*WorkerGenerator)(nil)

func (g *WorkerGenerator) Generate(ctx context.Context, req Request) (Generated, error) {
	if len(req.Bot.GatewayTokenSalt) == 0 {
		return Generated{}, errNoToken
	}
	parts := turnParts{BotID: req.Bot.ID, Token: g.Tokens.Token(req.Bot.ID, req.Bot.GatewayTokenSalt).Reveal(), Message: req.Message,
		Stream: req.OnDelta != nil}
	for _, turn := range req.History {
		parts.History = append(parts.History, llm.Message{Role: turn.Role, Content: turn.Content})
	}
	for _, s := range req.Sources {
		parts.Passages = append(parts.Passages, gateway.Passage{Source: s.Title, Text: s.Passage})
	}
	payload, err := json.Marshal(parts)
	if err != nil {
		return Generated{}, fmt.Errorf("encoding the turn: %w", err)
	}
	var onProgress func([]byte) error
	if req.OnDelta != nil {
		onProgress = func(b []byte) error { return req.OnDelta(string(b)) }
	}
	out, err := g.Workers.Run(ctx, string(req.Bot.ID), TurnKind, payload, onProgress)
	if err != nil {
		return Generated{}, err
	}
	var a answer
	if err := json.Unmarshal(out, &a); err != nil {
		return Generated{}, palisade.WrapError(err, palisade.CodeUnavailable, gateway.ErrProvider.Message)
	}
	return Generated{Text: a.Text, TokensIn: int64(max(a.TokensIn, 0)), TokensOut: int64(max(a.TokensOut, 0))}, nil
}

// TurnHandler is a turn on the worker's side: it assembles the gateway
// call from the parts and makes it through the parent, streaming the
// deltas back as they come.
func TurnHandler(ctx context.Context, t *sandbox.Task) ([]byte, error) {
	var parts turnParts
	if err := json.Unmarshal(t.Payload, &parts); err != nil {
		return nil, fmt.Errorf("reading the turn: %w", err)
	}
	kind := callComplete
	if parts.Stream {
		kind = callStream
	}
	parts.Stream = false
	call, err := json.Marshal(parts)
	if err != nil {
		return nil, fmt.Errorf("encoding the call: %w", err)
	}
	return t.Call(ctx, kind, call, t.Progress)
}

// GatewayCalls serves, in the parent, the gateway calls of the workers:
// each goes to gw with the token the worker presents, which the gateway
// checks; a worker may call for its own bot only.
func GatewayCalls(gw gateway.Service) map[string]sandbox.CallHandler {
	relay := func(stream bool) sandbox.CallHandler {
		return func(ctx context.Context, key string, payload []byte, emit func([]byte) error) ([]byte, error) {
			var parts turnParts
			if err := json.Unmarshal(payload, &parts); err != nil {
				return nil, palisade.Errorf(palisade.CodeInvalid, "the worker's gateway call is malformed")
			}
			if string(parts.BotID) != key {
				return nil, palisade.Errorf(palisade.CodeForbidden, "a worker calls the gateway for its own bot only")
			}
			call := gateway.Call{BotID: parts.BotID, Token: secret.New(parts.Token), History: parts.History, Message: parts.Message, Passages: parts.Passages}
			var resp llm.Response
			var err error
			if stream {
				resp, err = gw.Stream(ctx, call, func(d string) error { return emit([]byte(d)) })
			} else {
				resp, err = gw.Complete(ctx, call)
			}
			if err != nil {
				var pe *palisade.Error
				if errors.As(err, &pe) {
					return nil, err
				}
				return nil, palisade.WrapError(err, palisade.CodeUnavailable, gateway.ErrProvider.Message)
			}
			return json.Marshal(answer{Text: resp.Text, TokensIn: resp.Usage.InputTokens, TokensOut: resp.Usage.OutputTokens})
		}
	}
	return map[string]sandbox.CallHandler{callComplete: relay(false), callStream: relay(true)}
}
