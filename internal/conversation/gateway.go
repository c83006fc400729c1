package conversation

import (
	"context"
	"errors"

	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/llm"
	"github.com/palisadehq/palisade/internal/palisade"
)

// GatewayGenerator answers through the LLM gateway, presenting the bot's
// own gateway token: the only credential a bot's work ever holds.
type GatewayGenerator struct {
	Gateway gateway.Service
	Tokens  *gateway.Tokens
}

var _ Generator = (*GatewayGenerator)(nil)

// errNoToken: a bot created before tokens were issued cannot call the
// gateway until its token is rotated.
var errNoToken = palisade.Errorf(palisade.CodeUnavailable, "this bot has no gateway token; rotate its token to enable answers")

func (g *GatewayGenerator) Generate(ctx context.Context, req Request) (Generated, error) {
	if len(req.Bot.GatewayTokenSalt) == 0 {
		return Generated{}, errNoToken
	}
	// The gateway builds the prompt from the stored bot and these parts
	// (gateway.BuildPrompt, as BuildPrompt here): the caller sends the
	// user's message and the passages apart, so the gateway caps the
	// message itself, and sends no system prompt, model or limits.
	call := gateway.Call{BotID: req.Bot.ID, Token: g.Tokens.Token(req.Bot.ID, req.Bot.GatewayTokenSalt), Message: req.Message}
	for _, turn := range req.History {
		call.History = append(call.History, llm.Message{Role: turn.Role, Content: turn.Content})
	}
	for _, s := range req.Sources {
		call.Passages = append(call.Passages, gateway.Passage{Source: s.Title, Text: s.Passage})
	}
	var resp llm.Response
	var err error
	if req.OnDelta != nil {
		resp, err = g.Gateway.Stream(ctx, call, req.OnDelta)
	} else {
		resp, err = g.Gateway.Complete(ctx, call)
	}
	if err != nil {
		var pe *palisade.Error
		if errors.As(err, &pe) {
			return Generated{}, err
		}
		return Generated{}, palisade.WrapError(err, palisade.CodeUnavailable, gateway.ErrProvider.Message)
	}
	return Generated{Text: resp.Text, TokensIn: int64(resp.Usage.InputTokens), TokensOut: int64(resp.Usage.OutputTokens)}, nil
}
