package palisade

import "context"

// The events a workspace's outgoing webhooks can receive.
const (
	EventMessageReceived  = "message.received"
	EventReplySent        = "reply.sent"
	EventChannelConnected = "channel.connected"
	EventChannelFailed    = "channel.failed"
	// EventTest is sent on request, to check an endpoint.
	EventTest = "webhook.test"
)

// EventTypes lists the events an endpoint may subscribe to.
func EventTypes() []string {
	return []string{EventMessageReceived, EventReplySent, EventChannelConnected, EventChannelFailed}
}

// EventSink is told of what happened in a workspace, to send it to the
// workspace's webhook endpoints. Emit never fails its caller: an event
// that cannot be queued is logged by the sink, and the action it reports
// stands.
type EventSink interface {
	Emit(ctx context.Context, scope Scope, typ string, data map[string]any)
}
