package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlstore"
)

// testAccounts covers store.Accounts: the first owner, credentials,
// sessions, member management and invitations listing.
func testAccounts(t *testing.T, open Opener) {
	s := open(t, store.Options{UserSealer: newUserSealer(t)})
	t.Run("CreateOwner", func(t *testing.T) {
		h := []byte("setup-token-hash-0123456789abcdef")
		if err := s.CreateOneTimeToken(ctx(t), store.CreateTokenParams{Purpose: palisade.TokenSetupOwner, Hash: h, Now: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		p := store.CreateOwnerParams{Email: "Owner@Example.com", Name: "O", PasswordHash: "$argon2id$x", WorkspaceName: "Acme", SetupTokenHash: h, Now: t0.Add(time.Minute)}
		u, w, err := s.CreateOwner(ctx(t), p)
		if err != nil || u.Email != "owner@example.com" || w.Name != "Acme" {
			t.Fatalf("CreateOwner = %+v %+v %v", u, w, err)
		}
		m, err := s.GetMembership(ctx(t), palisade.ScopeFor(w.ID), u.ID)
		if err != nil || m.Role != palisade.RoleOwner {
			t.Fatalf("owner membership = %+v, %v", m, err)
		}
		// The token is spent: a second owner cannot be created with it,
		// and the failed attempt creates nothing.
		p.Email = "second@example.com"
		_, _, err = s.CreateOwner(ctx(t), p)
		wantErr(t, err, store.ErrNotFound, "second CreateOwner with the same token")
		_, err = s.GetUserByEmail(ctx(t), "second@example.com")
		wantErr(t, err, store.ErrNotFound, "user of a refused CreateOwner")
		// Without a token (sign-up), a duplicate email is a conflict and
		// leaves no workspace behind.
		before, _ := s.ListWorkspaceIDs(ctx(t))
		_, _, err = s.CreateOwner(ctx(t), store.CreateOwnerParams{Email: "owner@example.com", WorkspaceName: "Dup", Now: t0})
		wantErr(t, err, store.ErrConflict, "duplicate owner email")
		after, _ := s.ListWorkspaceIDs(ctx(t))
		if len(after) != len(before) {
			t.Fatalf("refused CreateOwner left a workspace: %d -> %d", len(before), len(after))
		}
		v, _, err := s.CreateOwner(ctx(t), store.CreateOwnerParams{Email: "v@example.com", WorkspaceName: "V", EmailVerified: true, Now: t0})
		if err != nil || v.EmailVerifiedAt == nil {
			t.Fatalf("verified owner = %+v, %v", v, err)
		}
	})
	t.Run("Credentials", func(t *testing.T) {
		u := mustUser(t, s, "cred@example.com")
		c, err := s.GetCredentials(ctx(t), u.ID)
		if err != nil || c.TOTPSecret != nil || c.TOTPEnabled || len(c.RecoveryCodes) != 0 {
			t.Fatalf("fresh credentials = %+v, %v", c, err)
		}
		if err := s.SetPassword(ctx(t), u.ID, "$argon2id$new", t0); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetUser(ctx(t), u.ID); got.PasswordHash != "$argon2id$new" {
			t.Fatalf("password not set: %q", got.PasswordHash)
		}
		if err := s.MarkEmailVerified(ctx(t), u.ID, t0); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetUser(ctx(t), u.ID); got.EmailVerifiedAt == nil || !got.EmailVerifiedAt.Equal(t0) {
			t.Fatalf("email not verified: %+v", got)
		}
		codes := [][]byte{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}
		if err := s.SetTOTP(ctx(t), u.ID, store.SetTOTPParams{Secret: []byte("sekrit"), Enabled: true, RecoveryCodes: codes, Now: t0}); err != nil {
			t.Fatal(err)
		}
		c, err = s.GetCredentials(ctx(t), u.ID)
		if err != nil || !bytes.Equal(c.TOTPSecret, []byte("sekrit")) || !c.TOTPEnabled || len(c.RecoveryCodes) != 3 || !bytes.Equal(c.RecoveryCodes[1], codes[1]) {
			t.Fatalf("credentials = %+v, %v", c, err)
		}
		if got, _ := s.GetUser(ctx(t), u.ID); !got.TOTPEnabled {
			t.Fatal("user does not show TOTP enabled")
		}
		// The TOTP secret is sealed in the database, never in clear.
		var raw []byte
		if err := rawDriver(t, s).InTx(ctx(t), sqlstore.TxScope{User: u.ID}, func(tx sqlstore.Tx) error {
			return tx.QueryRow(ctx(t), `SELECT totp_secret FROM users WHERE id = $1`, string(u.ID)).Scan(&raw)
		}); err != nil || len(raw) == 0 || bytes.Contains(raw, []byte("sekrit")) {
			t.Fatalf("TOTP secret stored in clear: %q, %v", raw, err)
		}
		// Steps only move forward.
		if err := s.UseTOTPStep(ctx(t), u.ID, 100, t0); err != nil {
			t.Fatal(err)
		}
		wantErr(t, s.UseTOTPStep(ctx(t), u.ID, 100, t0), store.ErrConflict, "replayed step")
		wantErr(t, s.UseTOTPStep(ctx(t), u.ID, 99, t0), store.ErrConflict, "earlier step")
		if err := s.UseTOTPStep(ctx(t), u.ID, 101, t0); err != nil {
			t.Fatal(err)
		}
		// Recovery codes: compare-and-swap.
		if err := s.ReplaceRecoveryCodes(ctx(t), u.ID, codes, codes[1:], t0); err != nil {
			t.Fatal(err)
		}
		wantErr(t, s.ReplaceRecoveryCodes(ctx(t), u.ID, codes, codes[2:], t0), store.ErrConflict, "stale recovery codes")
		if c, _ := s.GetCredentials(ctx(t), u.ID); len(c.RecoveryCodes) != 2 || c.TOTPLastStep != 101 {
			t.Fatalf("after use: %+v", c)
		}
		// Clearing disables and forgets everything.
		if err := s.SetTOTP(ctx(t), u.ID, store.SetTOTPParams{Now: t0}); err != nil {
			t.Fatal(err)
		}
		if c, _ := s.GetCredentials(ctx(t), u.ID); c.TOTPSecret != nil || c.TOTPEnabled || len(c.RecoveryCodes) != 0 || c.TOTPLastStep != 0 {
			t.Fatalf("after clearing: %+v", c)
		}
		wantErr(t, s.SetPassword(ctx(t), palisade.NewUserID(), "x", t0), store.ErrNotFound, "SetPassword unknown user")
	})
	t.Run("Sessions", func(t *testing.T) {
		u := mustUser(t, s, "sess@example.com")
		other := mustUser(t, s, "other-sess@example.com")
		mk := func(user palisade.UserID, hash string, at time.Time) palisade.Session {
			x, err := s.CreateSession(ctx(t), store.CreateSessionParams{UserID: user, TokenHash: []byte(hash), MFAPending: hash == "pending",
				IP: "192.0.2.1", UserAgent: "test", Now: at, ExpiresAt: at.Add(12 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			return x
		}
		a := mk(u.ID, "pending", t0)
		b := mk(u.ID, "b", t0.Add(time.Second))
		c := mk(other.ID, "c", t0)
		_, err := s.CreateSession(ctx(t), store.CreateSessionParams{UserID: u.ID, TokenHash: []byte("b"), Now: t0, ExpiresAt: t0})
		wantErr(t, err, store.ErrConflict, "duplicate token hash")
		got, err := s.GetSessionByHash(ctx(t), []byte("pending"))
		if err != nil || got.ID != a.ID || !got.MFAPending || got.UserID != u.ID || got.IP != "192.0.2.1" || !got.ExpiresAt.Equal(t0.Add(12*time.Hour)) {
			t.Fatalf("GetSessionByHash = %+v, %v", got, err)
		}
		_, err = s.GetSessionByHash(ctx(t), []byte("nope"))
		wantErr(t, err, store.ErrNotFound, "unknown session")
		if err := s.TouchSession(ctx(t), u.ID, b.ID, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		// Another user's session is not touched.
		if err := s.TouchSession(ctx(t), other.ID, b.ID, t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetSessionByHash(ctx(t), []byte("b")); !got.LastSeenAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("touch not recorded: %+v", got)
		}
		list, err := s.ListSessions(ctx(t), u.ID, t0.Add(time.Minute))
		if err != nil || len(list) != 2 || list[0].ID != b.ID {
			t.Fatalf("ListSessions = %+v, %v", list, err)
		}
		if list, _ := s.ListSessions(ctx(t), u.ID, t0.Add(13*time.Hour)); len(list) != 0 {
			t.Fatalf("expired sessions listed: %+v", list)
		}
		// A user cannot revoke another's session.
		wantErr(t, s.RevokeSession(ctx(t), u.ID, c.ID, t0), store.ErrNotFound, "revoking another user's session")
		if err := s.RevokeSession(ctx(t), u.ID, a.ID, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		wantErr(t, s.RevokeSession(ctx(t), u.ID, a.ID, t0), store.ErrNotFound, "second revoke")
		if got, _ := s.GetSessionByHash(ctx(t), []byte("pending")); got.RevokedAt == nil {
			t.Fatal("revocation not recorded")
		}
		d := mk(u.ID, "d", t0)
		n, err := s.RevokeUserSessions(ctx(t), u.ID, d.ID, t0.Add(time.Minute))
		if err != nil || n != 1 {
			t.Fatalf("RevokeUserSessions = %d, %v", n, err)
		}
		if list, _ := s.ListSessions(ctx(t), u.ID, t0.Add(time.Minute)); len(list) != 1 || list[0].ID != d.ID {
			t.Fatalf("after revoking the others: %+v", list)
		}
		if got, _ := s.GetSessionByHash(ctx(t), []byte("c")); got.RevokedAt != nil {
			t.Fatal("another user's session was revoked")
		}
	})
	t.Run("KnownDevices", func(t *testing.T) {
		u := mustUser(t, s, "device@example.com")
		other := mustUser(t, s, "other-device@example.com")
		h := []byte("device-hash-0123456789abcdef0123")
		if err := s.CreateDevice(ctx(t), store.CreateDeviceParams{UserID: u.ID, Hash: h, Now: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		wantErr(t, s.CreateDevice(ctx(t), store.CreateDeviceParams{UserID: other.ID, Hash: h, Now: t0, ExpiresAt: t0.Add(time.Hour)}),
			store.ErrConflict, "duplicate device hash")
		d, err := s.GetDevice(ctx(t), h, t0.Add(time.Minute))
		if err != nil || d.UserID != u.ID || !d.CreatedAt.Equal(t0) || !d.ExpiresAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("GetDevice = %+v, %v", d, err)
		}
		_, err = s.GetDevice(ctx(t), h, t0.Add(time.Hour))
		wantErr(t, err, store.ErrNotFound, "device at its expiry")
		_, err = s.GetDevice(ctx(t), []byte("unknown"), t0)
		wantErr(t, err, store.ErrNotFound, "unknown device")
		wantErr(t, s.DeleteDevice(ctx(t), other.ID, h), store.ErrNotFound, "deleting another user's device")
		if _, err := s.GetDevice(ctx(t), h, t0); err != nil {
			t.Fatalf("another user's delete removed the device: %v", err)
		}
		if err := s.DeleteDevice(ctx(t), u.ID, h); err != nil {
			t.Fatal(err)
		}
		_, err = s.GetDevice(ctx(t), h, t0)
		wantErr(t, err, store.ErrNotFound, "deleted device")
		// The hash is stored as given: the store never sees a token.
		var n int
		if err := rawDriver(t, s).InTx(ctx(t), sqlstore.TxScope{}, func(tx sqlstore.Tx) error {
			return tx.QueryRow(ctx(t), `SELECT count(*) FROM known_devices WHERE user_id = $1`, string(u.ID)).Scan(&n)
		}); err != nil || n != 0 {
			t.Fatalf("rows left after delete: %d, %v", n, err)
		}
	})
	t.Run("Members", func(t *testing.T) {
		a, b := mustWS(t, s, "MA"), mustWS(t, s, "MB")
		u := mustUser(t, s, "mem@example.com")
		m, err := s.AddMember(ctx(t), a, u.ID, palisade.RoleViewer, t0)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetMember(ctx(t), a, m.ID); err != nil || got.UserID != u.ID {
			t.Fatalf("GetMember = %+v, %v", got, err)
		}
		_, err = s.GetMember(ctx(t), b, m.ID)
		wantErr(t, err, store.ErrNotFound, "GetMember from another workspace")
		_, err = s.UpdateMemberRole(ctx(t), b, m.ID, palisade.RoleViewer, palisade.RoleOwner)
		wantErr(t, err, store.ErrNotFound, "UpdateMemberRole from another workspace")
		_, err = s.RemoveMember(ctx(t), b, m.ID, palisade.RoleViewer, t0)
		wantErr(t, err, store.ErrNotFound, "RemoveMember from another workspace")
		got, err := s.UpdateMemberRole(ctx(t), a, m.ID, palisade.RoleViewer, palisade.RoleAdmin)
		if err != nil || got.Role != palisade.RoleAdmin || got.ID != m.ID {
			t.Fatalf("UpdateMemberRole = %+v, %v", got, err)
		}
		if _, err := s.RemoveMember(ctx(t), a, m.ID, palisade.RoleAdmin, t0); err != nil {
			t.Fatal(err)
		}
		_, err = s.GetMembership(ctx(t), a, u.ID)
		wantErr(t, err, store.ErrNotFound, "membership after removal")
	})
	t.Run("Invitations", func(t *testing.T) {
		a, b := mustWS(t, s, "IA"), mustWS(t, s, "IB")
		i1, err := s.CreateInvitation(ctx(t), a, store.CreateInvitationParams{Email: "i1@example.com", Role: palisade.RoleEditor, TokenHashHex: "aa01", Now: t0, ExpiresAt: t0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateInvitation(ctx(t), b, store.CreateInvitationParams{Email: "i2@example.com", Role: palisade.RoleViewer, TokenHashHex: "aa02", Now: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		list, err := s.ListInvitations(ctx(t), a)
		if err != nil || len(list) != 1 || list[0].ID != i1.ID {
			t.Fatalf("ListInvitations = %+v, %v", list, err)
		}
		wantErr(t, s.DeleteInvitation(ctx(t), b, i1.ID), store.ErrNotFound, "DeleteInvitation from another workspace")
		if err := s.DeleteInvitation(ctx(t), a, i1.ID); err != nil {
			t.Fatal(err)
		}
		_, err = s.LookupInvitation(ctx(t), "aa01")
		wantErr(t, err, store.ErrNotFound, "deleted invitation")
		if list, _ := s.ListInvitations(ctx(t), a); len(list) != 0 {
			t.Fatalf("after delete: %+v", list)
		}
	})
	t.Run("RequireMFA", func(t *testing.T) {
		a := mustWS(t, s, "R")
		if err := s.SetRequireMFA(ctx(t), a, true); err != nil {
			t.Fatal(err)
		}
		if w, _ := s.GetWorkspace(ctx(t), a); !w.RequireMFA {
			t.Fatal("RequireMFA not stored")
		}
		wantErr(t, s.SetRequireMFA(ctx(t), palisade.ScopeFor(palisade.NewWorkspaceID()), true), store.ErrNotFound, "unknown workspace")
	})
}

func newUserSealer(t *testing.T) store.UserSealer {
	t.Helper()
	mk, err := seal.NewMasterKey(bytes.Repeat([]byte{0x3c}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	u, err := seal.NewUserSealer(mk)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
