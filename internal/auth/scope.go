package auth

import (
	"strings"

	"github.com/palisadehq/palisade/internal/palisade"
)

// Scope is what an API key may do. Each scope grants the permission of the
// same name (see ScopeAllows).
type Scope string

const (
	ScopeBotsRead          Scope = "bots:read"
	ScopeBotsWrite         Scope = "bots:write"
	ScopeDocumentsRead     Scope = "documents:read"
	ScopeDocumentsWrite    Scope = "documents:write"
	ScopeChannelsRead      Scope = "channels:read"
	ScopeChannelsWrite     Scope = "channels:write"
	ScopeConversationsRead Scope = "conversations:read"
	ScopeMessagesSend      Scope = "messages:send"
	ScopeKeysRead          Scope = "keys:read"
	ScopeKeysWrite         Scope = "keys:write"
	ScopeAuditRead         Scope = "audit:read"
	ScopeWebhooksRead      Scope = "webhooks:read"
	ScopeWebhooksWrite     Scope = "webhooks:write"
	ScopeBilling           Scope = "billing:manage"
	// ScopeConversationsWrite deletes conversations with their messages.
	ScopeConversationsWrite Scope = "conversations:write"
	// ScopeWorkspaceExport downloads the whole workspace's export. It
	// works only while the key's creator is an owner (PermDataExport is
	// the owners'), or for a key the operator made.
	ScopeWorkspaceExport Scope = "workspace:export"
)

// AllScopes returns every scope in canonical order, the order ParseScopes
// returns and FormatScopes writes. The slice is the caller's.
func AllScopes() []Scope {
	return []Scope{
		ScopeBotsRead, ScopeBotsWrite,
		ScopeDocumentsRead, ScopeDocumentsWrite,
		ScopeChannelsRead, ScopeChannelsWrite,
		ScopeConversationsRead, ScopeConversationsWrite, ScopeMessagesSend,
		ScopeKeysRead, ScopeKeysWrite,
		ScopeAuditRead,
		ScopeWebhooksRead, ScopeWebhooksWrite,
		ScopeBilling,
		ScopeWorkspaceExport,
	}
}

func scopeRank(s Scope) int {
	for i, x := range AllScopes() {
		if x == s {
			return i
		}
	}
	return -1
}

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool { return scopeRank(s) >= 0 }

// maxScopesInput bounds a scope list; all valid scopes together are far
// shorter.
const maxScopesInput = 1024

func validScopesText() string {
	names := make([]string, 0, len(AllScopes()))
	for _, s := range AllScopes() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}

// ParseScopes parses a comma-separated scope list such as
// "bots:read, messages:send". Spaces around names and empty items are
// ignored; duplicates are dropped; the result is in canonical order. An
// unknown scope, or no scope at all, is a palisade.FieldError on field
// "scopes" that lists the valid ones.
func ParseScopes(s string) ([]Scope, error) {
	if len(s) > maxScopesInput {
		return nil, palisade.FieldError("scopes", "scope list is too long; valid scopes are: %s", validScopesText())
	}
	return ParseScopeList(strings.Split(s, ","))
}

// ParseScopeList is ParseScopes for a list already split (a JSON array).
func ParseScopeList(items []string) ([]Scope, error) {
	if len(items) > maxScopesInput {
		return nil, palisade.FieldError("scopes", "scope list is too long; valid scopes are: %s", validScopesText())
	}
	seen := make([]bool, len(AllScopes())) // indexed by scopeRank
	n := 0
	for _, item := range items {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		r := scopeRank(Scope(item))
		if r < 0 {
			if len(item) > 40 {
				item = item[:40] + "..."
			}
			return nil, palisade.FieldError("scopes", "unknown scope %q; valid scopes are: %s", item, validScopesText())
		}
		if !seen[r] {
			seen[r] = true
			n++
		}
	}
	if n == 0 {
		return nil, palisade.FieldError("scopes", "at least one scope is required; valid scopes are: %s", validScopesText())
	}
	out := make([]Scope, 0, n)
	for i, s := range AllScopes() {
		if seen[i] {
			out = append(out, s)
		}
	}
	return out, nil
}

// FormatScopes writes scopes comma-separated in canonical order, dropping
// unknown ones and duplicates; ParseScopes reads it back unchanged.
func FormatScopes(scopes []Scope) string {
	var names []string
	for _, s := range AllScopes() {
		for _, x := range scopes {
			if x == s {
				names = append(names, string(s))
				break
			}
		}
	}
	return strings.Join(names, ",")
}
