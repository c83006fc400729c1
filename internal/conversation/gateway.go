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
	p := BuildPrompt(req)
	lr := llm.Request{Model: req.Bot.Model, System: p.System, MaxTokens: req.Bot.MaxOutputTokens}
	t := req.Bot.Temperature
	lr.Temperature = &t
	for _, turn := range p.Turns {
		lr.Messages = append(lr.Messages, llm.Message{Role: turn.Role, Content: turn.Content})
	}
	// The last turn wraps the user's message with retrieved passages; the
	// gateway's 4,000-character cap is on the message itself.
	call := gateway.Call{BotID: req.Bot.ID, Token: g.Tokens.Token(req.Bot.ID, req.Bot.GatewayTokenSalt), Request: lr, Inbound: req.Message}
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
