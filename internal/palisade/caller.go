package palisade

import "net/netip"

// Caller is who asks a use case to act: the workspace scope the surface
// established (an API key's workspace, a member's checked membership), the
// principal's id (a user id, an API key id, or "cli") and where the request
// came from. Services record it in the audit log with what they did.
type Caller struct {
	Scope     Scope
	Actor     string
	ClientIP  netip.Addr // zero when unknown (the CLI)
	RequestID string
}
