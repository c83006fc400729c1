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
	// Device, when set, is a fresh device token for the browser's device
	// cookie: a full log-in happened (see DeviceTTL).
	Device secret.Secret
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
// Every attempt counts against the client's address (ClassLoginIP). Only
// failures count against the account, and a correct password spends
// nothing: one unit of failure budget is taken before the check and given
// back on success. The budget is the device's own (ClassLoginDevice) when
// the browser holds a device token of this account, so that failures from
// anywhere else never lock the owner out of a browser they signed in from
// before; otherwise it is the account's (ClassLoginAccount). While that is
// spent, an unknown device is refused even with the right password: the
// refusal comes before the check, so it says nothing about the password.
//
// An unknown account runs the dummy verification, has its failures counted
// under the address typed like any other, and fails with exactly the error
// of a wrong password; the device cookie is looked up whatever the address.
func (s *Service) Login(ctx context.Context, email, password string, previous secret.Secret, c Client) (Issued, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if _, err := s.limit(ctx, limitCheck{ratelimit.ClassLoginIP, c.IP}); err != nil {
		s.recordDenial(ctx, c, err, audit.Entry{Actor: audit.ActorAnonymous, Action: audit.ActionLoginFailure})
		return Issued{}, err
	}
	dev := s.device(ctx, c)
	u, err := s.o.Store.GetUserByEmail(ctx, email)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Issued{}, err
	}
	budget := limitCheck{ratelimit.ClassLoginAccount, email}
	if found && dev.of(u.ID) {
		budget = deviceBudget(dev)
	}
	held, err := s.reserve(ctx, budget)
	if err != nil {
		actor := audit.ActorAnonymous
		if found {
			actor = string(u.ID)
		}
		s.recordDenial(ctx, c, err, audit.Entry{Actor: actor, Action: audit.ActionLoginFailure})
		return Issued{}, err
	}
	if !found || u.PasswordHash == "" {
		// No account, or an invited user who never set a password: same
		// cost, same answer.
		s.o.Hasher.VerifyDummy(password)
		actor := audit.ActorAnonymous
		if found {
			actor = string(u.ID)
		}
		s.recordAccount(ctx, c, audit.Entry{Actor: actor, Action: audit.ActionLoginFailure, Outcome: audit.OutcomeFailure})
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
	s.refund(ctx, held)
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
	} else {
		is.Device = s.rememberDevice(ctx, u.ID, dev)
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
// code, and replaces the pending session with a full one. Failed codes
// spend the account's second-factor budget; a correct one spends nothing.
func (s *Service) CompleteMFA(ctx context.Context, pending Current, code string, c Client) (Issued, error) {
	if !pending.Session.MFAPending {
		return Issued{}, ErrNoSession
	}
	held, err := s.reserve(ctx, secondFactorBudget(pending.User.ID))
	if err != nil {
		s.recordDenial(ctx, c, err, audit.Entry{Actor: string(pending.User.ID), Action: audit.ActionLoginMFA})
		return Issued{}, err
	}
	err = s.checkSecondFactor(ctx, pending.User.ID, code)
	s.recordAccount(ctx, c, audit.Entry{Actor: string(pending.User.ID), Action: audit.ActionLoginMFA, Outcome: outcome(err)})
	if err != nil {
		return Issued{}, err
	}
	s.refund(ctx, held)
	is, err := s.rotate(ctx, pending, c)
	if err != nil {
		return Issued{}, err
	}
	is.Device = s.rememberDevice(ctx, pending.User.ID, s.device(ctx, c))
	return is, nil
}

// secondFactorBudget is the account's budget of failed second-factor
// codes, its own and apart from the password's: the log-in's second step
// counts there, not against ClassLoginIP or ClassLoginAccount, and so does
// every re-check of a code by a signed-in user (confirming enrolment,
// replacing recovery codes, turning two-factor off), so that a session
// gives no second way to guess codes.
func secondFactorBudget(user palisade.UserID) limitCheck {
	return limitCheck{ratelimit.ClassSecondFactor, string(user)}
}

// reauthBudget is the account's budget of failed password re-checks by a
// signed-in user (changing the password, turning two-factor off). It is
// apart from the log-in's, which anyone can spend.
func reauthBudget(user palisade.UserID) limitCheck {
	return limitCheck{ratelimit.ClassReauth, string(user)}
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
