package api

import (
	"net/http"

	"github.com/palisadehq/palisade/internal/auth"
)

// OpenAIRoutes lists every route of the OpenAI-compatible endpoint under
// /v1 with the permission it needs. Nothing is served there that is not
// listed here.
func (a *API) OpenAIRoutes() []OpenAIRoute {
	return []OpenAIRoute{
		{Route: Route{http.MethodPost, "/v1/chat/completions", auth.PermMessagesSend, a.chatCompletions}, Parse: parseChatCompletion},
		{Route: Route{http.MethodGet, "/v1/models", auth.PermBotsRead, a.listModels}},
		{Route: Route{http.MethodGet, "/v1/models/{botId}", auth.PermBotsRead, a.getModel}},
	}
}
