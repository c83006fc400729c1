package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// ---- memberships ----

const memberCols = `id, workspace_id, user_id, role, created_at`

// joinedMemberCols is memberCols qualified for queries that join
// memberships (as m) to another table.
const joinedMemberCols = `m.id, m.workspace_id, m.user_id, m.role, m.created_at`

func scanMember(r Row) (palisade.Membership, error) {
	var m palisade.Membership
	err := scanMemberInto(r, &m)
	return m, err
}

// scanMemberInto scans memberCols into m, then any further columns into
// extra.
func scanMemberInto(r Row, m *palisade.Membership, extra ...any) error {
	var id, ws, uid, role string
	err := r.Scan(append([]any{&id, &ws, &uid, &role, timeScan{&m.CreatedAt}}, extra...)...)
	m.ID, m.WorkspaceID, m.UserID, m.Role = palisade.MembershipID(id), palisade.WorkspaceID(ws), palisade.UserID(uid), palisade.Role(role)
	return err
}

func addMember(ctx context.Context, tx Tx, scope palisade.Scope, user palisade.UserID, role palisade.Role, now time.Time) (palisade.Membership, error) {
	m := palisade.Membership{ID: palisade.NewMembershipID(), WorkspaceID: scope.Workspace(), UserID: user, Role: role, CreatedAt: dbTime(now)}
	_, err := tx.Exec(ctx, `INSERT INTO memberships (`+memberCols+`) VALUES ($1, $2, $3, $4, $5)`,
		string(m.ID), string(m.WorkspaceID), string(user), string(role), m.CreatedAt)
	return m, err
}

func (s *Store) AddMember(ctx context.Context, scope palisade.Scope, user palisade.UserID, role palisade.Role, now time.Time) (palisade.Membership, error) {
	var m palisade.Membership
	err := s.tenant(ctx, scope, func(tx Tx) (err error) {
		m, err = addMember(ctx, tx, scope, user, role, now)
		return err
	})
	return m, s.mapErr(err, "adding member")
}

func (s *Store) GetMembership(ctx context.Context, scope palisade.Scope, user palisade.UserID) (palisade.Membership, error) {
	var m palisade.Membership
	err := s.tenant(ctx, scope, func(tx Tx) (err error) {
		m, err = scanMember(tx.QueryRow(ctx, `SELECT `+memberCols+` FROM memberships WHERE workspace_id = $1 AND user_id = $2`,
			string(scope.Workspace()), string(user)))
		return err
	})
	return m, s.mapErr(err, "reading membership")
}

func queryMembers(ctx context.Context, tx Tx, q string, arg string) ([]palisade.Membership, error) {
	rows, err := tx.Query(ctx, q, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []palisade.Membership
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (s *Store) ListMembers(ctx context.Context, scope palisade.Scope) ([]palisade.Membership, error) {
	var out []palisade.Membership
	err := s.tenant(ctx, scope, func(tx Tx) (err error) {
		out, err = queryMembers(ctx, tx, `SELECT `+memberCols+` FROM memberships WHERE workspace_id = $1 ORDER BY created_at, id`, string(scope.Workspace()))
		return err
	})
	return out, s.mapErr(err, "listing members")
}

func (s *Store) ListUserMemberships(ctx context.Context, user palisade.UserID) ([]palisade.Membership, error) {
	var out []palisade.Membership
	err := s.account(ctx, user, func(tx Tx) (err error) {
		out, err = queryMembers(ctx, tx, `SELECT `+memberCols+` FROM memberships WHERE user_id = $1 ORDER BY created_at, id`, string(user))
		return err
	})
	return out, s.mapErr(err, "listing user memberships")
}

// ListMembersWithUsers joins each membership to its user; the users table
// is a platform table, readable in a tenant transaction, and the join is
// keyed on rows the scope already filtered.
func (s *Store) ListMembersWithUsers(ctx context.Context, scope palisade.Scope) ([]store.MemberWithUser, error) {
	var out []store.MemberWithUser
	err := s.tenant(ctx, scope, func(tx Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+joinedMemberCols+`, u.email, u.name
			FROM memberships m JOIN users u ON u.id = m.user_id
			WHERE m.workspace_id = $1 ORDER BY m.created_at, m.id`, string(scope.Workspace()))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var mu store.MemberWithUser
			if err := scanMemberInto(rows, &mu.Membership, &mu.Email, &mu.Name); err != nil {
				return err
			}
			out = append(out, mu)
		}
		return rows.Err()
	})
	return out, s.mapErr(err, "listing members with their users")
}

// ListUserWorkspaces joins each of the user's memberships to its
// workspace. The transaction is scoped to the user, so on PostgreSQL only
// the user's own memberships are visible to the join.
func (s *Store) ListUserWorkspaces(ctx context.Context, user palisade.UserID) ([]store.UserWorkspace, error) {
	var out []store.UserWorkspace
	err := s.d.InTx(ctx, TxScope{User: user}, func(tx Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+joinedMemberCols+`,
				w.name, w.require_mfa, w.retention_days, w.allowed_models, w.created_at, w.suspended_at, w.suspended_reason
			FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
			WHERE m.user_id = $1 ORDER BY m.created_at, m.id`, string(user))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var uw store.UserWorkspace
			w := &uw.Workspace
			if err := scanMemberInto(rows, &uw.Membership,
				&w.Name, &w.RequireMFA, &w.RetentionDays, listScan{&w.AllowedModels}, timeScan{&w.CreatedAt},
				nullTimeScan{&w.SuspendedAt}, &w.SuspendedReason); err != nil {
				return err
			}
			w.ID = uw.Membership.WorkspaceID
			out = append(out, uw)
		}
		return rows.Err()
	})
	return out, s.mapErr(err, "listing the user's workspaces")
}

// ---- invitations ----

const invitationCols = `id, workspace_id, email, role, invited_by, created_at, expires_at, accepted_at`

func scanInvitation(r Row) (palisade.Invitation, error) {
	var i palisade.Invitation
	var id, ws, role, by string
	err := r.Scan(&id, &ws, &i.Email, &role, &by, timeScan{&i.CreatedAt}, timeScan{&i.ExpiresAt}, nullTimeScan{&i.AcceptedAt})
	i.ID, i.WorkspaceID, i.Role, i.InvitedBy = palisade.InvitationID(id), palisade.WorkspaceID(ws), palisade.Role(role), palisade.UserID(by)
	return i, err
}

func (s *Store) CreateInvitation(ctx context.Context, scope palisade.Scope, p store.CreateInvitationParams) (palisade.Invitation, error) {
	i := palisade.Invitation{ID: palisade.NewInvitationID(), WorkspaceID: scope.Workspace(), Email: strings.ToLower(p.Email), Role: p.Role,
		InvitedBy: p.InvitedBy, CreatedAt: dbTime(p.Now), ExpiresAt: dbTime(p.ExpiresAt)}
	err := s.tenant(ctx, scope, func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO invitations (id, workspace_id, email, role, token_hash, invited_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			string(i.ID), string(i.WorkspaceID), i.Email, string(i.Role), p.TokenHashHex, string(i.InvitedBy), i.CreatedAt, i.ExpiresAt)
		return err
	})
	return i, s.mapErr(err, "creating invitation")
}

func (s *Store) LookupInvitation(ctx context.Context, tokenHashHex string) (palisade.Invitation, error) {
	var i palisade.Invitation
	err := s.lookup(ctx, lookupInvitation+tokenHashHex, func(tx Tx) (err error) {
		i, err = scanInvitation(tx.QueryRow(ctx, `SELECT `+invitationCols+` FROM invitations WHERE token_hash = $1 AND accepted_at IS NULL`, tokenHashHex))
		return err
	})
	return i, s.mapErr(err, "looking up invitation")
}

func (s *Store) AcceptInvitation(ctx context.Context, scope palisade.Scope, id palisade.InvitationID, user palisade.UserID, now time.Time) (palisade.Membership, error) {
	var m palisade.Membership
	err := s.tenant(ctx, scope, func(tx Tx) error {
		var role string
		err := tx.QueryRow(ctx, `UPDATE invitations SET accepted_at = $1 WHERE workspace_id = $2 AND id = $3 AND accepted_at IS NULL AND expires_at > $1 RETURNING role`,
			dbTime(now), string(scope.Workspace()), string(id)).Scan(&role)
		if err != nil {
			return err
		}
		m, err = addMember(ctx, tx, scope, user, palisade.Role(role), now)
		return err
	})
	return m, s.mapErr(err, "accepting invitation")
}
