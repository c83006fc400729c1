package api

import (
	"net/http"

	"github.com/palisadehq/palisade/internal/auth"
)

// Routes lists every route of the API with the permission it needs. Nothing
// is served that is not listed here. Each route is also described in Docs
// (routes_doc.go) for the OpenAPI document; a test fails on a route
// without a description.
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
		{http.MethodGet, "/api/v1/bots/{botId}/documents/{documentId}", auth.PermDocumentsRead, a.getDocument},
		{http.MethodDelete, "/api/v1/bots/{botId}/documents/{documentId}", auth.PermDocumentsWrite, a.deleteDocument},
		{http.MethodGet, "/api/v1/bots/{botId}/budget", auth.PermBotsRead, a.getBudget},
		{http.MethodPut, "/api/v1/bots/{botId}/budget", auth.PermBotsWrite, a.setBudget},
		{http.MethodGet, "/api/v1/conversations", auth.PermConversationsRead, a.listConversations},
		{http.MethodGet, "/api/v1/conversations/{conversationId}", auth.PermConversationsRead, a.getConversation},
		{http.MethodDelete, "/api/v1/conversations/{conversationId}", auth.PermConversationsWrite, a.deleteConversation},
		{http.MethodGet, "/api/v1/conversations/{conversationId}/messages", auth.PermConversationsRead, a.listMessages},
		{http.MethodPost, "/api/v1/conversations/{conversationId}/messages", auth.PermMessagesSend, a.sendMessage},
		{http.MethodGet, "/api/v1/keys", auth.PermKeysRead, a.listKeys},
		{http.MethodPost, "/api/v1/keys", auth.PermKeysWrite, a.createKey},
		{http.MethodDelete, "/api/v1/keys/{keyId}", auth.PermKeysWrite, a.revokeKey},
		// A workspace's provider keys are keys too: the same permissions
		// as its API keys.
		{http.MethodGet, "/api/v1/provider-keys", auth.PermKeysRead, a.listProviderKeys},
		{http.MethodPost, "/api/v1/provider-keys", auth.PermKeysWrite, a.setProviderKey},
		{http.MethodDelete, "/api/v1/provider-keys/{providerKeyId}", auth.PermKeysWrite, a.deleteProviderKey},
		{http.MethodGet, "/api/v1/audit", auth.PermAuditRead, a.listAudit},
		// The whole workspace, members and conversations included: owners'
		// keys only (PermDataExport checks the creator's role too).
		{http.MethodGet, "/api/v1/export", auth.PermDataExport, a.exportWorkspace},
		// The API's description is public: it holds nothing of any
		// workspace.
		{http.MethodGet, "/api/v1/openapi.json", auth.PermPublic, a.openAPI},
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
