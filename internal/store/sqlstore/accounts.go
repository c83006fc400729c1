package sqlstore

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// ---- first owner ----

func (s *Store) CreateOwner(ctx context.Context, p store.CreateOwnerParams) (palisade.User, palisade.Workspace, error) {
	now := dbTime(p.Now)
	u := palisade.User{ID: palisade.NewUserID(), Email: strings.ToLower(p.Email), Name: p.Name, PasswordHash: p.PasswordHash, CreatedAt: now}
	if p.EmailVerified {
		u.EmailVerifiedAt = &now
	}
	w := palisade.Workspace{ID: palisade.NewWorkspaceID(), Name: p.WorkspaceName, RetentionDays: store.DefaultRetentionDays, CreatedAt: now}
	// The transaction is scoped to the new workspace and user, and to the
	// set-up token when there is one, so that on PostgreSQL each row it
	// writes passes its policy.
	scope := TxScope{Workspace: w.ID, User: u.ID}
	if p.SetupTokenHash != nil {
		scope.Lookup = tokenLookup(p.SetupTokenHash)
	}
	err := s.d.InTx(ctx, scope, func(tx Tx) error {
		if p.SetupTokenHash != nil {
			n, err := tx.Exec(ctx, `UPDATE one_time_tokens SET used_at = $1 WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1`,
				now, p.SetupTokenHash, palisade.TokenSetupOwner)
			if err != nil {
				return err
			}
			if n != 1 {
				return store.ErrNotFound
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO users (id, email, name, password_hash, email_verified_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)`,
			string(u.ID), u.Email, u.Name, u.PasswordHash, dbNullTime(u.EmailVerifiedAt), now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO workspaces (id, name, require_mfa, retention_days, created_at) VALUES ($1, $2, $3, $4, $5)`,
			string(w.ID), w.Name, false, w.RetentionDays, now); err != nil {
			return err
		}
		_, err := addMember(ctx, tx, palisade.ScopeFor(w.ID), u.ID, palisade.RoleOwner, now)
		return err
	})
	if err != nil {
		return palisade.User{}, palisade.Workspace{}, s.mapErr(err, "creating owner")
	}
	return u, w, nil
}

// ---- credentials ----

// Recovery code hashes are stored hex-encoded, one per line, in
// users.recovery_codes.
func encodeCodes(codes [][]byte) string {
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = hex.EncodeToString(c)
	}
	return strings.Join(parts, "\n")
}

func decodeCodes(s string) ([][]byte, error) {
	if s == "" {
		return nil, nil
	}
	var out [][]byte
	for part := range strings.SplitSeq(s, "\n") {
		b, err := hex.DecodeString(part)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func (s *Store) GetCredentials(ctx context.Context, user palisade.UserID) (store.Credentials, error) {
	var c store.Credentials
	err := s.account(ctx, user, func(tx Tx) error {
		var codes string
		if err := tx.QueryRow(ctx, `SELECT totp_secret, totp_enabled, totp_last_step, recovery_codes FROM users WHERE id = $1`, string(user)).
			Scan(&c.TOTPSecret, &c.TOTPEnabled, &c.TOTPLastStep, &codes); err != nil {
			return err
		}
		var err error
		c.RecoveryCodes, err = decodeCodes(codes)
		return err
	})
	if err != nil || c.TOTPSecret == nil {
		return c, s.mapErr(err, "reading credentials")
	}
	if s.userSealer == nil {
		return c, store.ErrNoSealer
	}
	if c.TOTPSecret, err = s.userSealer.OpenUser(ctx, user, "totp_secret", c.TOTPSecret); err != nil {
		return c, fmt.Errorf("opening the TOTP secret: %w", err)
	}
	return c, nil
}

// userUpdate runs one UPDATE of the user's row and maps "no row" to not
// found.
func (s *Store) userUpdate(ctx context.Context, user palisade.UserID, what, query string, args ...any) error {
	err := s.account(ctx, user, func(tx Tx) error {
		n, err := tx.Exec(ctx, query, args...)
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return s.mapErr(err, what)
}

func (s *Store) SetPassword(ctx context.Context, user palisade.UserID, hash string, now time.Time) error {
	return s.userUpdate(ctx, user, "setting password", `UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3`, hash, dbTime(now), string(user))
}

func (s *Store) MarkEmailVerified(ctx context.Context, user palisade.UserID, now time.Time) error {
	return s.userUpdate(ctx, user, "marking email verified",
		`UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1), updated_at = $1 WHERE id = $2`, dbTime(now), string(user))
}

func (s *Store) SetTOTP(ctx context.Context, user palisade.UserID, p store.SetTOTPParams) error {
	var secret any
	if p.Secret != nil {
		if s.userSealer == nil {
			return store.ErrNoSealer
		}
		sealed, err := s.userSealer.SealUser(ctx, user, "totp_secret", p.Secret)
		if err != nil {
			return fmt.Errorf("sealing the TOTP secret: %w", err)
		}
		secret = sealed
	}
	enabled := p.Enabled && p.Secret != nil
	codes := ""
	if p.Secret != nil {
		codes = encodeCodes(p.RecoveryCodes)
	}
	// A new secret restarts the replay guard: steps are per secret.
	return s.userUpdate(ctx, user, "setting TOTP",
		`UPDATE users SET totp_secret = $1, totp_enabled = $2, recovery_codes = $3, totp_last_step = 0, updated_at = $4 WHERE id = $5`,
		secret, enabled, codes, dbTime(p.Now), string(user))
}

func (s *Store) UseTOTPStep(ctx context.Context, user palisade.UserID, step int64, now time.Time) error {
	err := s.account(ctx, user, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE users SET totp_last_step = $1, updated_at = $2 WHERE id = $3 AND totp_last_step < $1`, step, dbTime(now), string(user))
		if err == nil && n == 0 {
			return store.ErrConflict
		}
		return err
	})
	return s.mapErr(err, "recording TOTP step")
}

func (s *Store) ReplaceRecoveryCodes(ctx context.Context, user palisade.UserID, old, new [][]byte, now time.Time) error {
	err := s.account(ctx, user, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE users SET recovery_codes = $1, updated_at = $2 WHERE id = $3 AND recovery_codes = $4`,
			encodeCodes(new), dbTime(now), string(user), encodeCodes(old))
		if err == nil && n == 0 {
			return store.ErrConflict
		}
		return err
	})
	return s.mapErr(err, "replacing recovery codes")
}

// ---- sessions ----

const sessionCols = `id, user_id, mfa_pending, ip, user_agent, created_at, last_seen_at, expires_at, revoked_at`

func scanSession(r Row) (palisade.Session, error) {
	var x palisade.Session
	var id, uid string
	err := r.Scan(&id, &uid, &x.MFAPending, &x.IP, &x.UserAgent, timeScan{&x.CreatedAt}, timeScan{&x.LastSeenAt}, timeScan{&x.ExpiresAt}, nullTimeScan{&x.RevokedAt})
	x.ID, x.UserID = palisade.SessionID(id), palisade.UserID(uid)
	return x, err
}

func (s *Store) DeleteUser(ctx context.Context, user palisade.UserID) error {
	err := s.account(ctx, user, func(tx Tx) error {
		n, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, string(user))
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return s.mapErr(err, "deleting user")
}

func (s *Store) CreateSession(ctx context.Context, p store.CreateSessionParams) (palisade.Session, error) {
	x := palisade.Session{ID: palisade.NewSessionID(), UserID: p.UserID, MFAPending: p.MFAPending, IP: p.IP, UserAgent: p.UserAgent,
		CreatedAt: dbTime(p.Now), LastSeenAt: dbTime(p.Now), ExpiresAt: dbTime(p.ExpiresAt)}
	err := s.account(ctx, p.UserID, func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO sessions (id, user_id, token_hash, mfa_pending, ip, user_agent, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)`,
			string(x.ID), string(x.UserID), p.TokenHash, x.MFAPending, x.IP, x.UserAgent, x.CreatedAt, x.ExpiresAt)
		return err
	})
	return x, s.mapErr(err, "creating session")
}

func (s *Store) GetSessionByHash(ctx context.Context, hash []byte) (palisade.Session, error) {
	var x palisade.Session
	err := s.lookup(ctx, lookupSession+hex.EncodeToString(hash), func(tx Tx) (err error) {
		x, err = scanSession(tx.QueryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE token_hash = $1`, hash))
		return err
	})
	return x, s.mapErr(err, "reading session")
}

func (s *Store) TouchSession(ctx context.Context, user palisade.UserID, id palisade.SessionID, now time.Time) error {
	err := s.account(ctx, user, func(tx Tx) error {
		_, err := tx.Exec(ctx, `UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND user_id = $3 AND last_seen_at < $1`, dbTime(now), string(id), string(user))
		return err
	})
	return s.mapErr(err, "touching session")
}

func (s *Store) ListSessions(ctx context.Context, user palisade.UserID, now time.Time) ([]palisade.Session, error) {
	var out []palisade.Session
	err := s.account(ctx, user, func(tx Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+sessionCols+` FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC, id`,
			string(user), dbTime(now))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			x, err := scanSession(rows)
			if err != nil {
				return err
			}
			out = append(out, x)
		}
		return rows.Err()
	})
	return out, s.mapErr(err, "listing sessions")
}

func (s *Store) RevokeSession(ctx context.Context, user palisade.UserID, id palisade.SessionID, now time.Time) error {
	err := s.account(ctx, user, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL`, dbTime(now), string(id), string(user))
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return s.mapErr(err, "revoking session")
}

func (s *Store) RevokeUserSessions(ctx context.Context, user palisade.UserID, except palisade.SessionID, now time.Time) (int64, error) {
	var n int64
	err := s.account(ctx, user, func(tx Tx) (err error) {
		n, err = tx.Exec(ctx, `UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL`, dbTime(now), string(user), string(except))
		return err
	})
	return n, s.mapErr(err, "revoking sessions")
}

// ---- known devices ----

func (s *Store) CreateDevice(ctx context.Context, p store.CreateDeviceParams) error {
	err := s.account(ctx, p.UserID, func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO known_devices (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
			p.Hash, string(p.UserID), dbTime(p.Now), dbTime(p.ExpiresAt))
		return err
	})
	return s.mapErr(err, "creating known device")
}

func (s *Store) GetDevice(ctx context.Context, hash []byte, now time.Time) (store.Device, error) {
	var d store.Device
	err := s.lookup(ctx, lookupDevice+hex.EncodeToString(hash), func(tx Tx) error {
		var uid string
		err := tx.QueryRow(ctx, `SELECT user_id, created_at, expires_at FROM known_devices WHERE token_hash = $1 AND expires_at > $2`,
			hash, dbTime(now)).Scan(&uid, timeScan{&d.CreatedAt}, timeScan{&d.ExpiresAt})
		d.UserID = palisade.UserID(uid)
		return err
	})
	return d, s.mapErr(err, "reading known device")
}

func (s *Store) DeleteDevice(ctx context.Context, user palisade.UserID, hash []byte) error {
	err := s.account(ctx, user, func(tx Tx) error {
		n, err := tx.Exec(ctx, `DELETE FROM known_devices WHERE token_hash = $1 AND user_id = $2`, hash, string(user))
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return s.mapErr(err, "deleting known device")
}

// ---- members ----

func (s *Store) GetMember(ctx context.Context, scope palisade.Scope, id palisade.MembershipID) (palisade.Membership, error) {
	var m palisade.Membership
	err := s.tenant(ctx, scope, func(tx Tx) (err error) {
		m, err = scanMember(tx.QueryRow(ctx, `SELECT `+memberCols+` FROM memberships WHERE workspace_id = $1 AND id = $2`,
			string(scope.Workspace()), string(id)))
		return err
	})
	return m, s.mapErr(err, "reading member")
}

// guardMemberChange runs first in the transaction of a member change. On
// PostgreSQL it locks the workspace row, so the changes of one
// workspace's members queue up and each sees the ones before it; on
// SQLite every transaction begins IMMEDIATE and already holds the
// database's write lock. Then, in one query, it reads the member's role
// and the workspace's owner count: the role must still be from, and when
// the change takes the owner role away another owner must remain.
func (s *Store) guardMemberChange(ctx context.Context, tx Tx, ws string, id palisade.MembershipID, from palisade.Role, keepsOwner bool) error {
	if s.d.Dialect() == store.DialectPostgres {
		var locked string
		if err := tx.QueryRow(ctx, `SELECT id FROM workspaces WHERE id = $1 FOR UPDATE`, ws).Scan(&locked); err != nil {
			return err
		}
	}
	var role string
	var owners int
	err := tx.QueryRow(ctx, `SELECT m.role, (SELECT COUNT(*) FROM memberships o WHERE o.workspace_id = m.workspace_id AND o.role = $3)
		FROM memberships m WHERE m.workspace_id = $1 AND m.id = $2`, ws, string(id), string(palisade.RoleOwner)).Scan(&role, &owners)
	switch {
	case err != nil:
		return err
	case palisade.Role(role) != from:
		return store.ErrRoleChanged
	case from == palisade.RoleOwner && !keepsOwner && owners <= 1:
		return store.ErrLastOwner
	}
	return nil
}

func (s *Store) UpdateMemberRole(ctx context.Context, scope palisade.Scope, id palisade.MembershipID, from, to palisade.Role) (palisade.Membership, error) {
	var m palisade.Membership
	err := s.tenant(ctx, scope, func(tx Tx) (err error) {
		ws := string(scope.Workspace())
		if err := s.guardMemberChange(ctx, tx, ws, id, from, to == palisade.RoleOwner); err != nil {
			return err
		}
		m, err = scanMember(tx.QueryRow(ctx, `UPDATE memberships SET role = $1 WHERE workspace_id = $2 AND id = $3 RETURNING `+memberCols,
			string(to), ws, string(id)))
		return err
	})
	return m, s.mapErr(err, "changing member role")
}

func (s *Store) RemoveMember(ctx context.Context, scope palisade.Scope, id palisade.MembershipID, role palisade.Role, now time.Time) (int64, error) {
	var revoked int64
	err := s.tenant(ctx, scope, func(tx Tx) error {
		ws := string(scope.Workspace())
		if err := s.guardMemberChange(ctx, tx, ws, id, role, false); err != nil {
			return err
		}
		var user string
		if err := tx.QueryRow(ctx, `DELETE FROM memberships WHERE workspace_id = $1 AND id = $2 RETURNING user_id`, ws, string(id)).Scan(&user); err != nil {
			return err
		}
		var err error
		revoked, err = tx.Exec(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE workspace_id = $2 AND created_by = $3 AND revoked_at IS NULL`,
			dbTime(now), ws, user)
		return err
	})
	return revoked, s.mapErr(err, "removing member")
}

// ---- invitations ----

func (s *Store) ListInvitations(ctx context.Context, scope palisade.Scope) ([]palisade.Invitation, error) {
	var out []palisade.Invitation
	err := s.tenant(ctx, scope, func(tx Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+invitationCols+` FROM invitations WHERE workspace_id = $1 AND accepted_at IS NULL ORDER BY created_at, id`,
			string(scope.Workspace()))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			i, err := scanInvitation(rows)
			if err != nil {
				return err
			}
			out = append(out, i)
		}
		return rows.Err()
	})
	return out, s.mapErr(err, "listing invitations")
}

func (s *Store) DeleteInvitation(ctx context.Context, scope palisade.Scope, id palisade.InvitationID) error {
	err := s.tenant(ctx, scope, func(tx Tx) error {
		n, err := tx.Exec(ctx, `DELETE FROM invitations WHERE workspace_id = $1 AND id = $2 AND accepted_at IS NULL`, string(scope.Workspace()), string(id))
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return s.mapErr(err, "deleting invitation")
}

// ---- workspace settings ----

func (s *Store) SetRequireMFA(ctx context.Context, scope palisade.Scope, require bool) error {
	err := s.tenant(ctx, scope, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE workspaces SET require_mfa = $1 WHERE id = $2`, require, string(scope.Workspace()))
		if err == nil && n == 0 {
			return store.ErrNotFound
		}
		return err
	})
	return s.mapErr(err, "setting require MFA")
}
