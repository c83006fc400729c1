package account_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

func testTokenKey(t *testing.T) *auth.TokenKey {
	t.Helper()
	k, err := auth.NewTokenKey(bytes.Repeat([]byte{0x42}, auth.TokenKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// unkeyedHash is how a token's stored form was computed before it was
// keyed: SHA-256 over a public label and the token, which anyone can
// compute.
func unkeyedHash(label string, tok secret.Secret) []byte {
	h := sha256.Sum256([]byte("palisade token v1 " + label + "\x00" + tok.Reveal()))
	return h[:]
}

// TestPlantedTokensDoNotAuthenticate: someone who can write rows (SQL
// injection, a stolen database credential) but does not hold the master key
// plants a session, a password-reset token and an invitation for tokens of
// their own choosing, hashed the only way they can: none of them works,
// because the stored form is keyed with a master-derived key.
func TestPlantedTokensDoNotAuthenticate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	svc, err := account.New(account.Options{Store: s, Hasher: auth.NewInsecureTestHasher(), Tokens: testTokenKey(t), Mailer: discardMail{},
		Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{}), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	owner, w, err := s.CreateOwner(ctx, store.CreateOwnerParams{Email: "owner@example.com", Name: "O", PasswordHash: "$argon2id$x",
		EmailVerified: true, WorkspaceName: "W", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()

	session := auth.NewToken()
	if _, err := s.CreateSession(ctx, store.CreateSessionParams{UserID: owner.ID, TokenHash: unkeyedHash("session", session),
		Now: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, session); !errors.Is(err, account.ErrNoSession) {
		t.Fatalf("a planted session authenticated: %v", err)
	}

	reset := auth.NewToken()
	if err := s.CreateOneTimeToken(ctx, store.CreateTokenParams{Purpose: palisade.TokenResetPassword, Hash: unkeyedHash("one-time/password-reset", reset),
		Email: owner.Email, UserID: owner.ID, Now: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := svc.ResetPassword(ctx, reset, "a brand new passphrase 42", account.Client{IP: "192.0.2.1"}); palisade.ErrorCode(err) != palisade.CodeNotFound {
		t.Fatalf("a planted reset token reset the owner's password: %v", err)
	}

	invite := auth.NewToken()
	if _, err := s.CreateInvitation(ctx, palisade.ScopeFor(w.ID), store.CreateInvitationParams{Email: "mallory@example.com", Role: palisade.RoleOwner,
		TokenHashHex: hex.EncodeToString(unkeyedHash("one-time/invitation", invite)), Now: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Invitation(ctx, invite); palisade.ErrorCode(err) != palisade.CodeNotFound {
		t.Fatalf("a planted invitation was found: %v", err)
	}
}
