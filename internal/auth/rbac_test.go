package auth

import (
	"slices"
	"testing"

	"github.com/palisadehq/palisade/internal/palisade"
)

// expectedMinRole is the expected table written the other way round: the
// least role holding each permission. A permission added to the table
// without a decision here fails TestPermissionTable.
func expectedMinRole() map[Permission]palisade.Role {
	return map[Permission]palisade.Role{
		PermPublic:            palisade.RoleViewer,
		PermAccount:           palisade.RoleViewer,
		PermWorkspaceRead:     palisade.RoleViewer,
		PermBotsRead:          palisade.RoleViewer,
		PermDocumentsRead:     palisade.RoleViewer,
		PermChannelsRead:      palisade.RoleViewer,
		PermConversationsRead: palisade.RoleViewer,
		PermMembersRead:       palisade.RoleViewer,
		PermBotsWrite:         palisade.RoleEditor,
		PermDocumentsWrite:    palisade.RoleEditor,
		PermChannelsWrite:     palisade.RoleEditor,
		PermMessagesSend:      palisade.RoleEditor,
		PermMembersWrite:      palisade.RoleAdmin,
		PermKeysRead:          palisade.RoleAdmin,
		PermKeysWrite:         palisade.RoleAdmin,
		PermAuditRead:         palisade.RoleAdmin,
		PermWebhooksRead:      palisade.RoleAdmin,
		PermWebhooksWrite:     palisade.RoleAdmin,
		PermBilling:           palisade.RoleAdmin,
		PermSettingsRead:      palisade.RoleAdmin,
		PermSettingsWrite:     palisade.RoleAdmin,
		PermDataExport:        palisade.RoleOwner,
		PermOwnership:         palisade.RoleOwner,
		PermWorkspaceDelete:   palisade.RoleOwner,

		PermConversationsWrite: palisade.RoleEditor,
	}
}

func TestPermissionTable(t *testing.T) {
	t.Parallel()
	minRole := expectedMinRole()
	perms := Permissions()
	if len(perms) != len(minRole) {
		t.Errorf("table has %d permissions, the expectation %d", len(perms), len(minRole))
	}
	for i, p := range perms {
		if slices.Contains(perms[:i], p) {
			t.Errorf("permission %s listed twice", p)
		}
		if !p.Valid() {
			t.Errorf("permission %s not valid", p)
		}
		want, ok := minRole[p]
		if !ok {
			t.Errorf("permission %s has no expected role", p)
			continue
		}
		for _, r := range palisade.Roles {
			if got := Allows(r, p); got != r.AtLeast(want) {
				t.Errorf("Allows(%s, %s) = %v; want %v", r, p, got, !got)
			}
		}
	}
	if !slices.Equal(RolePermissions(palisade.RoleOwner), perms) {
		t.Error("owners do not hold every permission")
	}
	Permissions()[0] = "mutated"
	if Permissions()[0] != PermPublic {
		t.Error("Permissions shares its slice")
	}
}

// Every permission of a lower role is held by every higher role.
func TestRoleTableMonotone(t *testing.T) {
	t.Parallel()
	for _, p := range Permissions() {
		for i, lower := range palisade.Roles {
			for _, higher := range palisade.Roles[i+1:] {
				if Allows(lower, p) && !Allows(higher, p) {
					t.Errorf("%s holds %s but %s does not", lower, p, higher)
				}
			}
		}
	}
	for i := 1; i < len(palisade.Roles); i++ {
		lo, hi := RolePermissions(palisade.Roles[i-1]), RolePermissions(palisade.Roles[i])
		if len(hi) <= len(lo) {
			t.Errorf("%s holds no more than %s", palisade.Roles[i], palisade.Roles[i-1])
		}
	}
}

func TestUnknownRoleOrPermissionAllowsNothing(t *testing.T) {
	t.Parallel()
	for _, r := range []palisade.Role{"", "Owner", "superadmin", "root", "owner "} {
		for _, p := range Permissions() {
			if Allows(r, p) {
				t.Errorf("unknown role %q allowed %s", r, p)
			}
		}
		if len(RolePermissions(r)) != 0 {
			t.Errorf("unknown role %q has permissions", r)
		}
	}
	for _, p := range []Permission{"", "*", "bots:*", "bots:delete", "Bots:Read", "admin"} {
		for _, r := range palisade.Roles {
			if Allows(r, p) {
				t.Errorf("%s allowed unknown permission %q", r, p)
			}
		}
		if ScopeAllows(AllScopes(), p) {
			t.Errorf("all scopes allow unknown permission %q", p)
		}
		if Authorize(Principal{User: true, Role: palisade.RoleOwner}, p) {
			t.Errorf("an owner is authorized for unknown permission %q", p)
		}
	}
}

func TestScopeAllows(t *testing.T) {
	t.Parallel()
	// Each scope grants the permission of its own name.
	for _, s := range AllScopes() {
		if !Permission(s).Valid() {
			t.Errorf("scope %s names no permission", s)
		}
		if !ScopeAllows([]Scope{s}, Permission(s)) {
			t.Errorf("scope %s does not grant its own permission", s)
		}
	}
	cases := []struct {
		scopes []Scope
		perm   Permission
		want   bool
	}{
		{nil, PermPublic, true},
		{nil, PermBotsRead, false},
		{[]Scope{ScopeBotsWrite}, PermBotsRead, true},
		{[]Scope{ScopeBotsRead}, PermBotsWrite, false},
		{[]Scope{ScopeDocumentsWrite}, PermDocumentsRead, true},
		{[]Scope{ScopeChannelsWrite}, PermChannelsRead, true},
		{[]Scope{ScopeKeysWrite}, PermKeysRead, true},
		{[]Scope{ScopeConversationsRead}, PermMessagesSend, false},
		{[]Scope{ScopeMessagesSend}, PermConversationsRead, false},
		{[]Scope{ScopeBotsRead}, PermDocumentsRead, false},
		{[]Scope{"bots:*"}, PermBotsRead, false},
		{[]Scope{"members:write"}, PermMembersWrite, false},
		{AllScopes(), PermAccount, false},
	}
	for _, tc := range cases {
		if got := ScopeAllows(tc.scopes, tc.perm); got != tc.want {
			t.Errorf("ScopeAllows(%v, %s) = %v; want %v", tc.scopes, tc.perm, got, tc.want)
		}
	}
	// People-only permissions are out of reach of any key.
	for _, p := range []Permission{PermMembersRead, PermMembersWrite, PermSettingsRead, PermSettingsWrite, PermOwnership, PermWorkspaceDelete, PermAccount, PermWorkspaceRead} {
		if ScopeAllows(AllScopes(), p) {
			t.Errorf("an API key can hold %s", p)
		}
	}
}

func TestAuthorize(t *testing.T) {
	t.Parallel()
	anon := Principal{}
	member := func(r palisade.Role) Principal { return Principal{User: true, Role: r} }
	key := func(s ...Scope) Principal { return Principal{APIKey: true, Scopes: s} }
	cases := []struct {
		name string
		p    Principal
		perm Permission
		want bool
	}{
		{"anonymous public", anon, PermPublic, true},
		{"anonymous account", anon, PermAccount, false},
		{"anonymous read", anon, PermBotsRead, false},
		{"anonymous with role but no session", Principal{Role: palisade.RoleOwner}, PermBotsRead, false},
		{"anonymous with scopes but no key", Principal{Scopes: AllScopes()}, PermBotsRead, false},
		{"non-member account", member(""), PermAccount, true},
		{"non-member read", member(""), PermBotsRead, false},
		{"viewer read", member(palisade.RoleViewer), PermBotsRead, true},
		{"viewer write", member(palisade.RoleViewer), PermBotsWrite, false},
		{"editor send", member(palisade.RoleEditor), PermMessagesSend, true},
		{"editor keys", member(palisade.RoleEditor), PermKeysWrite, false},
		{"admin members", member(palisade.RoleAdmin), PermMembersWrite, true},
		{"admin ownership", member(palisade.RoleAdmin), PermOwnership, false},
		{"admin delete", member(palisade.RoleAdmin), PermWorkspaceDelete, false},
		{"owner delete", member(palisade.RoleOwner), PermWorkspaceDelete, true},
		{"key with scope", key(ScopeMessagesSend), PermMessagesSend, true},
		{"key without scope", key(ScopeBotsRead), PermMessagesSend, false},
		{"key account", key(AllScopes()...), PermAccount, false},
		{"key ignores role", Principal{APIKey: true, Role: palisade.RoleOwner}, PermBotsRead, false},
		{"user and key at once", Principal{User: true, Role: palisade.RoleOwner, APIKey: true, Scopes: AllScopes()}, PermBotsRead, false},
		{"user and key at once, public", Principal{User: true, APIKey: true}, PermPublic, true},
	}
	for _, tc := range cases {
		if got := Authorize(tc.p, tc.perm); got != tc.want {
			t.Errorf("%s: Authorize(%+v, %s) = %v; want %v", tc.name, tc.p, tc.perm, got, tc.want)
		}
	}
	// For members, Authorize is exactly the table.
	for _, r := range palisade.Roles {
		for _, p := range Permissions() {
			if Authorize(member(r), p) != Allows(r, p) {
				t.Errorf("Authorize and Allows disagree on %s, %s", r, p)
			}
		}
	}
}

func TestScopeWithin(t *testing.T) {
	t.Parallel()
	held := []Scope{ScopeBotsRead, ScopeKeysWrite}
	for s, want := range map[Scope]bool{ScopeBotsRead: true, ScopeKeysRead: true, ScopeKeysWrite: true, ScopeBotsWrite: false,
		ScopeAuditRead: false, ScopeConversationsWrite: false, "nonsense": false} {
		if got := ScopeWithin(s, held); got != want {
			t.Errorf("ScopeWithin(%s, %v) = %v, want %v", s, held, got, want)
		}
	}
	if ScopeWithin(ScopeConversationsRead, []Scope{ScopeConversationsWrite}) != true {
		t.Error("conversations:read is within conversations:write")
	}
}
