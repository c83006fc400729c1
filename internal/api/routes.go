package api

import (
	"net/http"

	"github.com/palisadehq/palisade/internal/auth"
)

// Routes lists every route of the API with the permission it needs. Nothing
// is served that is not listed here.
func (a *API) Routes() []Route {
	return append([]Route{
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
	}, a.webhookRoutes()...)
}

// webhookRoutes are the outgoing webhook endpoints and the billing plan.
func (a *API) webhookRoutes() []Route {
	return []Route{
		{http.MethodGet, "/api/v1/webhooks", auth.PermWebhooksRead, a.listWebhooks},
		{http.MethodPost, "/api/v1/webhooks", auth.PermWebhooksWrite, a.createWebhook},
		{http.MethodDelete, "/api/v1/webhooks/{webhookId}", auth.PermWebhooksWrite, a.deleteWebhook},
		{http.MethodPost, "/api/v1/webhooks/{webhookId}/test", auth.PermWebhooksWrite, a.testWebhook},
		{http.MethodGet, "/api/v1/webhooks/{webhookId}/deliveries", auth.PermWebhooksRead, a.listWebhookDeliveries},
		{http.MethodGet, "/api/v1/billing", auth.PermBilling, a.getBilling},
	}
}
