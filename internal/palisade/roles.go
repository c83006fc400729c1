package palisade

// Role is a member's role in one workspace. Roles are ordered: each one can do
// everything the roles below it can.
type Role string

const (
	RoleViewer Role = "viewer"
	RoleEditor Role = "editor"
	RoleAdmin  Role = "admin"
	RoleOwner  Role = "owner"
)

// Roles lists every role from least to most privileged.
var Roles = []Role{RoleViewer, RoleEditor, RoleAdmin, RoleOwner}

func (r Role) rank() int {
	for i, x := range Roles {
		if x == r {
			return i + 1
		}
	}
	return 0
}

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// AtLeast reports whether r grants at least the privileges of min. An unknown
// role grants nothing.
func (r Role) AtLeast(min Role) bool { return r.rank() > 0 && r.rank() >= min.rank() }

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		return "", FieldError("role", "role must be one of owner, admin, editor, viewer")
	}
	return r, nil
}
