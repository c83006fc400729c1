package api

import (
	"net/http"

	"github.com/palisadehq/palisade/internal/bot"
	"github.com/palisadehq/palisade/internal/knowledge"
)

// Docs describes every route of Routes for the OpenAPI document, keyed
// "METHOD pattern". A route added to Routes needs its entry here (or in a
// function of its own merged below), or the document test fails.
func Docs() map[string]Op {
	docs := map[string]Op{}
	for _, part := range []map[string]Op{coreDocs(), webhookDocs()} {
		for k, v := range part {
			docs[k] = v
		}
	}
	return docs
}

func coreDocs() map[string]Op {
	return map[string]Op{
		"GET /api/v1/bots":         {Summary: "List bots", Tag: "bots", Response: botJSON{}, List: true, Status: http.StatusOK},
		"GET /api/v1/bots/{botId}": {Summary: "Get a bot", Tag: "bots", Response: botJSON{}, Status: http.StatusOK},
		"POST /api/v1/bots": {Summary: "Create a bot", Tag: "bots", Request: bot.Input{}, Response: botJSON{}, Status: http.StatusCreated,
			Idempotent: true, Example: `{"name":"Support","system_prompt":"Answer from the documents."}`},
		"PATCH /api/v1/bots/{botId}": {Summary: "Change a bot's settings (only the fields sent)", Tag: "bots", Request: bot.Input{}, Response: botJSON{},
			Status: http.StatusOK, Example: `{"name":"Support desk"}`},
		"DELETE /api/v1/bots/{botId}": {Summary: "Delete a bot with its documents and conversations", Tag: "bots", Status: http.StatusNoContent},
		"POST /api/v1/bots/{botId}/gateway-token/rotate": {Summary: "Rotate the bot's gateway token (never shown)", Tag: "bots", Response: botJSON{},
			Status: http.StatusOK},
		"GET /api/v1/bots/{botId}/budget": {Summary: "Get the bot's daily token budget and today's usage", Tag: "bots", Response: budgetJSON{},
			Status: http.StatusOK},
		"PUT /api/v1/bots/{botId}/budget": {Summary: "Set the bot's daily token budget (0 removes it)", Tag: "bots", Request: budgetInput{},
			Response: budgetJSON{}, Status: http.StatusOK, Example: `{"daily_tokens":200000}`},

		"POST /api/v1/bots/{botId}/documents": {Summary: "Add a document to the bot's knowledge: text as JSON, the URL of a page on one of the bot's allowed domains, or a file (PDF, DOCX, HTML, Markdown, text) as the body or a multipart form",
			Tag: "documents", Request: documentInput{}, Response: documentJSON{}, Status: http.StatusCreated, Idempotent: true,
			Uploads: knowledge.FileTypes(),
			Query: []Param{
				{Name: "title", Description: "The title of a file sent as the body; by default the file name of its Content-Disposition, else the document's own."},
				{Name: "filename", Description: "The file name of a file sent as the body, for its title."},
			},
			Example: `{"title":"Opening hours","content_type":"text/plain","content":"We open at nine and close at six."}`},
		"GET /api/v1/bots/{botId}/documents": {Summary: "List the bot's documents", Tag: "documents", Response: documentJSON{}, List: true,
			Status: http.StatusOK},
		"GET /api/v1/bots/{botId}/documents/{documentId}": {Summary: "Get a document", Tag: "documents", Response: documentJSON{},
			Status: http.StatusOK},
		"DELETE /api/v1/bots/{botId}/documents/{documentId}": {Summary: "Delete a document", Tag: "documents", Status: http.StatusNoContent},

		"POST /api/v1/bots/{botId}/chat": {Summary: "Send a message as a user id of your choosing and get the bot's answer", Tag: "messages",
			Request: chatInput{}, Response: chatJSON{}, Status: http.StatusOK, Stream: true, Idempotent: true,
			Example: `{"user_id":"customer-42","message":"When do you open?"}`},

		"GET /api/v1/bots/{botId}/channels": {Summary: "List the bot's chat channels", Tag: "channels", Response: channelJSON{}, List: true,
			Status: http.StatusOK},
		"POST /api/v1/bots/{botId}/channels": {Summary: "Connect the bot to a chat platform", Tag: "channels", Request: connectInput{},
			Response: channelJSON{}, Status: http.StatusCreated, Idempotent: true,
			Example: `{"type":"telegram","credentials":{"bot_token":"123456789:AAExampleExampleExampleExampleExample"}}`},
		"GET /api/v1/bots/{botId}/channels/{channelId}": {Summary: "Get a channel", Tag: "channels", Response: channelJSON{},
			Status: http.StatusOK},
		"DELETE /api/v1/bots/{botId}/channels/{channelId}": {Summary: "Disconnect a channel", Tag: "channels", Status: http.StatusNoContent},
		"POST /api/v1/bots/{botId}/channels/{channelId}/test": {Summary: "Test the channel's connection with its platform", Tag: "channels",
			Response: channelTestJSON{}, Status: http.StatusOK},
		"POST /api/v1/bots/{botId}/channels/{channelId}/secret/rotate": {Summary: "Rotate the channel's webhook secret (never shown)",
			Tag: "channels", Response: channelJSON{}, Status: http.StatusOK},

		"GET /api/v1/conversations": {Summary: "List conversations, newest first", Tag: "conversations", Response: conversationJSON{},
			List: true, Status: http.StatusOK, Query: []Param{
				{Name: "bot_id", Description: "Only this bot's conversations."},
				{Name: "channel", Description: "Only this channel's (api, telegram, …)."},
				{Name: "since", Description: "Only conversations with a message at or after this time.", Format: "date-time"},
				{Name: "until", Description: "Only conversations whose last message is before this time.", Format: "date-time"},
			}},
		"GET /api/v1/conversations/{conversationId}": {Summary: "Get a conversation", Tag: "conversations", Response: conversationJSON{},
			Status: http.StatusOK},
		"DELETE /api/v1/conversations/{conversationId}": {Summary: "Delete a conversation and its messages", Tag: "conversations",
			Status: http.StatusNoContent},
		"GET /api/v1/conversations/{conversationId}/messages": {Summary: "A conversation's transcript, oldest first", Tag: "conversations",
			Response: messageJSON{}, List: true, Status: http.StatusOK},
		"POST /api/v1/conversations/{conversationId}/messages": {Summary: "Send a message into an API conversation and get the answer",
			Tag: "messages", Request: messageInput{}, Response: chatJSON{}, Status: http.StatusOK, Stream: true, Idempotent: true,
			Example: `{"message":"And on Sundays?"}`},

		"GET /api/v1/keys": {Summary: "List the workspace's API keys", Tag: "keys", Response: keyJSON{}, List: true, Status: http.StatusOK},
		"POST /api/v1/keys": {Summary: "Create an API key no wider than the calling key (shown once)", Tag: "keys", Request: keyInput{},
			Response: keyJSON{}, Status: http.StatusCreated, Idempotent: true, Example: `{"name":"reporting","scopes":["bots:read"]}`},
		"DELETE /api/v1/keys/{keyId}": {Summary: "Revoke an API key", Tag: "keys", Status: http.StatusNoContent},

		"GET /api/v1/provider-keys": {Summary: "List the workspace's own LLM provider keys, masked", Tag: "provider-keys",
			Response: providerKeyJSON{}, List: true, Status: http.StatusOK},
		"POST /api/v1/provider-keys": {Summary: "Set the workspace's key for a provider (write-only, sealed)", Tag: "provider-keys",
			Request: providerKeyInput{}, Response: providerKeyJSON{}, Status: http.StatusCreated, Idempotent: true,
			Example: `{"provider":"openai","key":"sk-example-0000000000000000"}`},
		"DELETE /api/v1/provider-keys/{providerKeyId}": {Summary: "Delete a provider key (its bots fall back to the operator's)",
			Tag: "provider-keys", Status: http.StatusNoContent},

		"GET /api/v1/audit": {Summary: "The workspace's audit log, newest first", Tag: "audit", Response: auditJSON{}, List: true,
			Status: http.StatusOK, Query: []Param{
				{Name: "action", Description: "Only entries of this action (bot.created, apikey.revoked, …)."},
				{Name: "actor", Description: "Only entries of this actor (a key_… or usr_… id)."},
				{Name: "since", Description: "Only entries at or after this time.", Format: "date-time"},
				{Name: "until", Description: "Only entries before this time.", Format: "date-time"},
			}},

		"GET /api/v1/openapi.json": {Summary: "This document (no key needed)", Tag: "meta", Response: map[string]any{}, Status: http.StatusOK},
	}
}

// webhookDocs describes the outgoing webhook endpoints and the billing
// plan. A workspace has at most events.MaxEndpoints endpoints and the log
// shows an endpoint's latest attempts, so both lists come whole, in one
// object, without a cursor.
func webhookDocs() map[string]Op {
	return map[string]Op{
		"GET /api/v1/webhooks": {Summary: "List the workspace's outgoing webhook endpoints (secrets masked)", Tag: "webhooks",
			Response: endpointListJSON{}, Status: http.StatusOK},
		"POST /api/v1/webhooks": {Summary: "Register an HTTPS endpoint for events (its signing secret is shown once)", Tag: "webhooks",
			Request: endpointInput{}, Response: endpointJSON{}, Status: http.StatusCreated, Idempotent: true,
			Example: `{"url":"https://hooks.example.com/palisade","description":"CRM","events":["message.received","reply.sent"]}`},
		"DELETE /api/v1/webhooks/{webhookId}": {Summary: "Delete an endpoint", Tag: "webhooks", Status: http.StatusNoContent},
		"POST /api/v1/webhooks/{webhookId}/test": {Summary: "Queue a webhook.test event to the endpoint", Tag: "webhooks",
			Response: testEventJSON{}, Status: http.StatusAccepted},
		"GET /api/v1/webhooks/{webhookId}/deliveries": {Summary: "The endpoint's latest delivery attempts, newest first", Tag: "webhooks",
			Response: deliveryListJSON{}, Status: http.StatusOK, Query: []Param{
				{Name: "limit", Description: "How many attempts, 1 to 100 (default 50)."},
			}},
		"GET /api/v1/export": {Summary: "Download the whole workspace as one JSON document, secrets redacted (owners' keys only; 2 a minute)",
			Tag: "export", Response: exportDocJSON{}, Status: http.StatusOK},
		"GET /api/v1/billing": {Summary: "The workspace's plan, its limits and the checkout link (404 when billing is off)", Tag: "billing",
			Response: billingJSON{}, Status: http.StatusOK},
	}
}
