package palisade

// Scope is the tenant a call acts for. It is created only by code that has
// established the caller's right to the workspace (authentication, a verified
// webhook route, an operator command), through ScopeFor, and it is what
// PostgreSQL Row Level Security keys on underneath.
type Scope struct {
	ws WorkspaceID
}

// ScopeFor returns the scope of a workspace. Call it only after the caller's
// right to act in that workspace is established.
func ScopeFor(ws WorkspaceID) Scope { return Scope{ws: ws} }

// Workspace returns the workspace the scope stands for.
func (s Scope) Workspace() WorkspaceID { return s.ws }

// Valid reports whether the scope names a well-formed workspace.
func (s Scope) Valid() bool { return ValidID(PrefixWorkspace, string(s.ws)) }
