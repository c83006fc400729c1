package auth

import (
	"github.com/palisadehq/palisade/internal/palisade"
)

// Permission names one family of actions. Every route declares exactly one
// (CONVENTIONS 3), and one table below decides which roles hold it.
type Permission string

const (
	// PermPublic needs no authentication at all (log-in page, webhooks
	// verified by their own signatures, health checks).
	PermPublic Permission = "public"
	// PermAccount needs a signed-in user but no workspace role: the
	// user's own profile, sessions, password and two-factor settings.
	PermAccount Permission = "account"

	// PermWorkspaceRead is the workspace's dashboard and usage.
	PermWorkspaceRead     Permission = "workspace:read"
	PermBotsRead          Permission = "bots:read"
	PermBotsWrite         Permission = "bots:write"
	PermDocumentsRead     Permission = "documents:read"
	PermDocumentsWrite    Permission = "documents:write"
	PermChannelsRead      Permission = "channels:read"
	PermChannelsWrite     Permission = "channels:write"
	PermConversationsRead Permission = "conversations:read"
	// PermConversationsWrite deletes conversations and their messages.
	PermConversationsWrite Permission = "conversations:write"
	// PermMessagesSend is talking to a bot through the API or the UI.
	PermMessagesSend Permission = "messages:send"
	PermMembersRead  Permission = "members:read"
	// PermMembersWrite invites members and changes or removes those who
	// are not owners; whoever holds it may grant roles up to admin only.
	PermMembersWrite Permission = "members:write"
	PermKeysRead     Permission = "keys:read"
	PermKeysWrite    Permission = "keys:write"
	PermAuditRead    Permission = "audit:read"
	// PermWebhooksRead and PermWebhooksWrite cover the workspace's
	// outgoing webhook endpoints and their delivery log: an endpoint
	// receives the workspace's events, so only admins manage them.
	PermWebhooksRead  Permission = "webhooks:read"
	PermWebhooksWrite Permission = "webhooks:write"
	// PermBilling reads the workspace's plan and opens its checkout link.
	PermBilling Permission = "billing:manage"
	// PermSettingsRead and PermSettingsWrite cover security settings
	// (requiring two-factor among them), retention and limits.
	PermSettingsRead  Permission = "settings:read"
	PermSettingsWrite Permission = "settings:write"
	// PermDataExport downloads all of the workspace's data (R7): members'
	// addresses, every conversation and the audit log, so owners only.
	PermDataExport Permission = "workspace:export"
	// PermOwnership grants or removes the owner role and transfers
	// ownership.
	PermOwnership       Permission = "workspace:ownership"
	PermWorkspaceDelete Permission = "workspace:delete"
)

// permissionTable is THE permission table (SPEC R2): for each permission,
// which roles hold it. Viewers read; editors also change bots, documents
// and channels and send messages; admins also manage members (not owners),
// keys, the audit log and settings; owners hold everything, including
// exporting the whole workspace, ownership and deleting the workspace. Read only: nothing
// writes to it after compilation.
var permissionTable = [...]struct {
	perm                         Permission
	viewer, editor, admin, owner bool
}{
	// permission, then: viewer, editor, admin, owner
	{PermPublic, true, true, true, true},
	{PermAccount, true, true, true, true},
	{PermWorkspaceRead, true, true, true, true},
	{PermBotsRead, true, true, true, true},
	{PermDocumentsRead, true, true, true, true},
	{PermChannelsRead, true, true, true, true},
	{PermConversationsRead, true, true, true, true},
	{PermMembersRead, true, true, true, true},
	{PermBotsWrite, false, true, true, true},
	{PermDocumentsWrite, false, true, true, true},
	{PermChannelsWrite, false, true, true, true},
	{PermConversationsWrite, false, true, true, true},
	{PermMessagesSend, false, true, true, true},
	{PermMembersWrite, false, false, true, true},
	{PermKeysRead, false, false, true, true},
	{PermKeysWrite, false, false, true, true},
	{PermAuditRead, false, false, true, true},
	{PermWebhooksRead, false, false, true, true},
	{PermWebhooksWrite, false, false, true, true},
	{PermBilling, false, false, true, true},
	{PermSettingsRead, false, false, true, true},
	{PermSettingsWrite, false, false, true, true},
	{PermDataExport, false, false, false, true},
	{PermOwnership, false, false, false, true},
	{PermWorkspaceDelete, false, false, false, true},
}

// Permissions returns every permission, in table order. The slice is the
// caller's.
func Permissions() []Permission {
	out := make([]Permission, len(permissionTable))
	for i, row := range permissionTable {
		out[i] = row.perm
	}
	return out
}

// Valid reports whether p is in the permission table.
func (p Permission) Valid() bool {
	for _, row := range permissionTable {
		if row.perm == p {
			return true
		}
	}
	return false
}

// Allows reports whether a member with role may act under perm. An unknown
// role or permission allows nothing. Anonymous requests have no role: use
// Authorize, which lets them through PermPublic only.
func Allows(role palisade.Role, perm Permission) bool {
	for _, row := range permissionTable {
		if row.perm != perm {
			continue
		}
		switch role {
		case palisade.RoleViewer:
			return row.viewer
		case palisade.RoleEditor:
			return row.editor
		case palisade.RoleAdmin:
			return row.admin
		case palisade.RoleOwner:
			return row.owner
		}
		return false
	}
	return false
}

// RolePermissions returns every permission role holds, in table order.
func RolePermissions(role palisade.Role) []Permission {
	var out []Permission
	for _, row := range permissionTable {
		if Allows(role, row.perm) {
			out = append(out, row.perm)
		}
	}
	return out
}

// scopePermissions maps each scope to the permissions it grants an API
// key. A write scope includes reading the same things: a key that may
// change a bot may see it. No scope grants members, settings, ownership or
// deletion: those need a signed-in person. Export has its own scope, which
// a key holds usefully only while its creator is an owner.
func scopePermissions(s Scope) []Permission {
	switch s {
	case ScopeBotsRead:
		return []Permission{PermBotsRead}
	case ScopeBotsWrite:
		return []Permission{PermBotsRead, PermBotsWrite}
	case ScopeDocumentsRead:
		return []Permission{PermDocumentsRead}
	case ScopeDocumentsWrite:
		return []Permission{PermDocumentsRead, PermDocumentsWrite}
	case ScopeChannelsRead:
		return []Permission{PermChannelsRead}
	case ScopeChannelsWrite:
		return []Permission{PermChannelsRead, PermChannelsWrite}
	case ScopeConversationsRead:
		return []Permission{PermConversationsRead}
	case ScopeConversationsWrite:
		return []Permission{PermConversationsRead, PermConversationsWrite}
	case ScopeMessagesSend:
		return []Permission{PermMessagesSend}
	case ScopeKeysRead:
		return []Permission{PermKeysRead}
	case ScopeKeysWrite:
		return []Permission{PermKeysRead, PermKeysWrite}
	case ScopeAuditRead:
		return []Permission{PermAuditRead}
	case ScopeWebhooksRead:
		return []Permission{PermWebhooksRead}
	case ScopeWebhooksWrite:
		return []Permission{PermWebhooksRead, PermWebhooksWrite}
	case ScopeBilling:
		return []Permission{PermBilling}
	case ScopeWorkspaceExport:
		return []Permission{PermDataExport}
	}
	return nil
}

// ScopeWithin reports whether s grants nothing that held does not: a key
// holding held may hand s on. keys:read is within keys:write, since the
// write scope includes reading.
func ScopeWithin(s Scope, held []Scope) bool {
	perms := scopePermissions(s)
	for _, p := range perms {
		if !ScopeAllows(held, p) {
			return false
		}
	}
	return len(perms) > 0
}

// ScopeAllows reports whether an API key with scopes may act under perm.
// PermPublic is open to any key; PermAccount to none (account pages are for
// people); unknown scopes and permissions allow nothing.
func ScopeAllows(scopes []Scope, perm Permission) bool {
	if perm == PermPublic {
		return true
	}
	for _, s := range scopes {
		for _, p := range scopePermissions(s) {
			if p == perm {
				return true
			}
		}
	}
	return false
}

// Principal is who makes a request, as far as authorisation cares: no one
// (the zero value), a signed-in user with their role in the request's
// workspace ("" when they are not a member or the route has no workspace),
// or an API key with its scopes.
type Principal struct {
	User   bool
	Role   palisade.Role
	APIKey bool
	Scopes []Scope
}

// Authorize is the one decision every route makes: whether p may act under
// perm. Anyone may use PermPublic; PermAccount needs a signed-in user; the
// rest need a role (users) or a scope (API keys) that grants perm. A
// principal claiming to be both a user and a key is refused everything
// but PermPublic.
func Authorize(p Principal, perm Permission) bool {
	if !perm.Valid() {
		return false
	}
	switch {
	case perm == PermPublic:
		return true
	case p.User && p.APIKey:
		return false
	case p.User && perm == PermAccount:
		return true
	case p.User:
		return Allows(p.Role, perm)
	case p.APIKey:
		return ScopeAllows(p.Scopes, perm)
	}
	return false
}
