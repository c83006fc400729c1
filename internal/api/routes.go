package api

import (
	"net/http"

	"github.com/palisadehq/palisade/internal/auth"
)

// Routes lists every route of the API with the permission it needs. Nothing
// is served that is not listed here.
func (a *API) Routes() []Route {
	return []Route{
		{http.MethodGet, "/api/v1/bots", auth.PermBotsRead, a.listBots},
		{http.MethodGet, "/api/v1/bots/{botId}", auth.PermBotsRead, a.getBot},
	}
}
