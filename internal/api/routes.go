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
		{http.MethodPost, "/api/v1/bots", auth.PermBotsWrite, a.createBot},
		{http.MethodPatch, "/api/v1/bots/{botId}", auth.PermBotsWrite, a.updateBot},
		{http.MethodDelete, "/api/v1/bots/{botId}", auth.PermBotsWrite, a.deleteBot},
		{http.MethodPost, "/api/v1/bots/{botId}/gateway-token/rotate", auth.PermBotsWrite, a.rotateGatewayToken},
		{http.MethodPost, "/api/v1/bots/{botId}/documents", auth.PermDocumentsWrite, a.createDocument},
		{http.MethodGet, "/api/v1/bots/{botId}/documents", auth.PermDocumentsRead, a.listDocuments},
		{http.MethodPost, "/api/v1/bots/{botId}/chat", auth.PermMessagesSend, a.chat},
		{http.MethodGet, "/api/v1/bots/{botId}/channels", auth.PermChannelsRead, a.listChannels},
		{http.MethodPost, "/api/v1/bots/{botId}/channels", auth.PermChannelsWrite, a.createChannel},
		{http.MethodGet, "/api/v1/bots/{botId}/channels/{channelId}", auth.PermChannelsRead, a.getChannel},
		{http.MethodDelete, "/api/v1/bots/{botId}/channels/{channelId}", auth.PermChannelsWrite, a.deleteChannel},
		// A connection test changes nothing: reading channels is enough.
		{http.MethodPost, "/api/v1/bots/{botId}/channels/{channelId}/test", auth.PermChannelsRead, a.testChannel},
		{http.MethodPost, "/api/v1/bots/{botId}/channels/{channelId}/secret/rotate", auth.PermChannelsWrite, a.rotateChannelSecret},
	}
}
