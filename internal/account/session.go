package account

import (
	"context"
	"errors"
	"strings"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
)

// Issued is a freshly issued session: the token goes into the cookie once
// and is never stored.
type Issued struct {
	Token   secret.Secret
	Session palisade.Session
}

// Current is an authenticated request's session and user.
type Current struct {
	Session palisade.Session
	User    palisade.User
}

// ErrNoSession means the cookie names no usable session: missing, unknown,
// revoked, idle too long or past its absolute time-out.
var ErrNoSession = palisade.Errorf(palisade.CodeUnauthorized, "please sign in")

// issue creates a session for user. It is the only place a session token is
// made, so every log-in, second-factor completion, password change and
// privilege change gets a fresh id and token (rotation, SPEC R2).
func (s *Service) issue(ctx context.Context, user palisade.UserID, mfaPending bool, c Client) (Issued, error) {
	tok, hash := s.o.Tokens.NewSessionToken()
	now := s.o.Now()
	x, err := s.o.Store.CreateSession(ctx, store.CreateSessionParams{UserID: user, TokenHash: hash, MFAPending: mfaPending,
		IP: clip(c.IP, 64), UserAgent: clip(c.UserAgent, 256), Now: now, ExpiresAt: now.Add(s.o.AbsoluteTimeout)})
	if err != nil {
		return Issued{}, err
	}
	return Issued{Token: tok, Session: x}, nil
}

// rotate issues a new session replacing old (which is revoked), keeping
// the user signed in across a change of privilege.
func (s *Service) rotate(ctx context.Context, cur Current, c Client) (Issued, error) {
	is, err := s.issue(ctx, cur.User.ID, false, c)
	if err != nil {
		return Issued{}, err
	}
	if err := s.o.Store.RevokeSession(ctx, cur.User.ID, cur.Session.ID, s.o.Now()); err != nil && !errors.Is(err, store.ErrNotFound) {
		return Issued{}, err
	}
	return is, nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "")
	}
	return s
}

// Login checks an e-mail and password. On success it returns a new session:
// pending its second factor when the user has TOTP on. previous, when set,
// is the token of the browser's session before log-in, which is revoked, so
// the session id always changes at log-in.
//
// An unknown account runs the dummy verification and fails with exactly the
// error of a wrong password.
func (s *Service) Login(ctx context.Context, email, password string, previous secret.Secret, c Client) (Issued, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if _, err := s.limit(ctx, limitCheck{ratelimit.ClassLoginIP, c.IP}, limitCheck{ratelimit.ClassLoginAccount, email}); err != nil {
		s.recordAccount(ctx, c, audit.Entry{Actor: audit.ActorAnonymous, Action: audit.ActionLoginFailure, Outcome: audit.OutcomeDenied})
		return Issued{}, err
	}
	u, err := s.o.Store.GetUserByEmail(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.o.Hasher.VerifyDummy(password)
		s.recordAccount(ctx, c, audit.Entry{Actor: audit.ActorAnonymous, Action: audit.ActionLoginFailure, Outcome: audit.OutcomeFailure})
		return Issued{}, errBadCredentials
	case err != nil:
		return Issued{}, err
	}
	if u.PasswordHash == "" {
		// An invited user who never set a password: same cost, same answer.
		s.o.Hasher.VerifyDummy(password)
		s.recordAccount(ctx, c, audit.Entry{Actor: string(u.ID), Action: audit.ActionLoginFailure, Outcome: audit.OutcomeFailure})
		return Issued{}, errBadCredentials
	}
	ok, rehash, err := s.o.Hasher.Verify(password, u.PasswordHash)
	if err != nil {
		s.o.Logger.ErrorContext(ctx, "stored password hash is malformed", "user", u.ID, "err", err)
	}
	if !ok {
		s.recordAccount(ctx, c, audit.Entry{Actor: string(u.ID), Action: audit.ActionLoginFailure, Outcome: audit.OutcomeFailure})
		return Issued{}, errBadCredentials
	}
	if rehash {
		if h, err := s.o.Hasher.Hash(password); err == nil {
			_ = s.o.Store.SetPassword(ctx, u.ID, h, s.o.Now())
		}
	}
	s.revokeToken(ctx, previous)
	is, err := s.issue(ctx, u.ID, u.TOTPEnabled, c)
	if err != nil {
		return Issued{}, err
	}
	action := audit.ActionLoginSuccess
	if u.TOTPEnabled {
		action = audit.ActionLoginMFAPending
	}
	s.recordAccount(ctx, c, audit.Entry{Actor: string(u.ID), Action: action, Outcome: audit.OutcomeSuccess})
	return is, nil
}

// revokeToken revokes the session of token, if it names one.
func (s *Service) revokeToken(ctx context.Context, token secret.Secret) {
	if token.IsZero() {
		return
	}
	x, err := s.o.Store.GetSessionByHash(ctx, s.o.Tokens.HashSessionToken(token))
	if err != nil {
		return
	}
	_ = s.o.Store.RevokeSession(ctx, x.UserID, x.ID, s.o.Now())
}

// Authenticate resolves a session cookie's token. A pending session
// (password checked, second factor not yet) is returned with
// Session.MFAPending set; callers must not treat it as signed in.
func (s *Service) Authenticate(ctx context.Context, token secret.Secret) (Current, error) {
	if token.IsZero() {
		return Current{}, ErrNoSession
	}
	x, err := s.o.Store.GetSessionByHash(ctx, s.o.Tokens.HashSessionToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return Current{}, ErrNoSession
	}
	if err != nil {
		return Current{}, err
	}
	now := s.o.Now()
	switch {
	case x.RevokedAt != nil:
		return Current{}, ErrNoSession
	case !now.Before(x.ExpiresAt):
		return Current{}, ErrNoSession
	case now.Sub(x.LastSeenAt) >= s.o.IdleTimeout:
		_ = s.o.Store.RevokeSession(ctx, x.UserID, x.ID, now)
		return Current{}, ErrNoSession
	}
	u, err := s.o.Store.GetUser(ctx, x.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return Current{}, ErrNoSession
	}
	if err != nil {
		return Current{}, err
	}
	if now.Sub(x.LastSeenAt) >= touchEvery {
		if err := s.o.Store.TouchSession(ctx, x.UserID, x.ID, now); err != nil {
			return Current{}, err
		}
		x.LastSeenAt = now
	}
	return Current{Session: x, User: u}, nil
}

// CompleteMFA finishes a pending log-in with a TOTP code or a recovery
// code, and replaces the pending session with a full one.
func (s *Service) CompleteMFA(ctx context.Context, pending Current, code string, c Client) (Issued, error) {
	if !pending.Session.MFAPending {
		return Issued{}, ErrNoSession
	}
	if _, err := s.limit(ctx, limitCheck{ratelimit.ClassLoginIP, c.IP}, limitCheck{ratelimit.ClassLoginAccount, pending.User.Email}); err != nil {
		return Issued{}, err
	}
	err := s.checkSecondFactor(ctx, pending.User.ID, code)
	s.recordAccount(ctx, c, audit.Entry{Actor: string(pending.User.ID), Action: audit.ActionLoginMFA, Outcome: outcome(err)})
	if err != nil {
		return Issued{}, err
	}
	return s.rotate(ctx, pending, c)
}

// checkSecondFactor accepts a current TOTP code (once: its step is
// recorded and a replay refused) or an unused recovery code (once: it is
// removed by compare-and-swap before the code is accepted).
func (s *Service) checkSecondFactor(ctx context.Context, user palisade.UserID, code string) error {
	cred, err := s.o.Store.GetCredentials(ctx, user)
	if err != nil {
		return err
	}
	if !cred.TOTPEnabled || cred.TOTPSecret == nil {
		return errBadCode
	}
	now := s.o.Now()
	step, ok, err := auth.ValidateTOTP(secret.New(string(cred.TOTPSecret)), code, now, cred.TOTPLastStep)
	if err != nil {
		return err
	}
	if ok {
		if err := s.o.Store.UseTOTPStep(ctx, user, step, now); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return errBadCode
			}
			return err
		}
		return nil
	}
	i, ok := auth.MatchRecoveryCode(code, cred.RecoveryCodes)
	if !ok {
		return errBadCode
	}
	rest := make([][]byte, 0, len(cred.RecoveryCodes)-1)
	rest = append(rest, cred.RecoveryCodes[:i]...)
	rest = append(rest, cred.RecoveryCodes[i+1:]...)
	if err := s.o.Store.ReplaceRecoveryCodes(ctx, user, cred.RecoveryCodes, rest, now); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errBadCode
		}
		return err
	}
	return nil
}

// Logout revokes the session of cur.
func (s *Service) Logout(ctx context.Context, cur Current, c Client) error {
	err := s.o.Store.RevokeSession(ctx, cur.User.ID, cur.Session.ID, s.o.Now())
	if errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	s.recordAccount(ctx, c, audit.Entry{Actor: string(cur.User.ID), Action: audit.ActionLogout, Outcome: outcome(err)})
	return err
}

// Sessions lists the user's live sessions.
func (s *Service) Sessions(ctx context.Context, cur Current) ([]palisade.Session, error) {
	return s.o.Store.ListSessions(ctx, cur.User.ID, s.o.Now())
}

// RevokeSession revokes one of the user's own sessions.
func (s *Service) RevokeSession(ctx context.Context, cur Current, id palisade.SessionID, c Client) error {
	err := s.o.Store.RevokeSession(ctx, cur.User.ID, id, s.o.Now())
	s.recordAccount(ctx, c, audit.Entry{Actor: string(cur.User.ID), Action: audit.ActionSessionRevoked, Target: string(id), Outcome: outcome(err)})
	return err
}
