package account

import (
	"context"
	"errors"
	"strings"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/mail"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/validate"
)

// NewAccount is what a person types to create an account.
type NewAccount struct {
	Email         string
	Name          string
	Password      string
	WorkspaceName string
}

func (n *NewAccount) check(needWorkspace bool) error {
	n.Email = strings.ToLower(strings.TrimSpace(n.Email))
	if err := validate.Email("email", n.Email); err != nil {
		return err
	}
	n.Name = strings.TrimSpace(n.Name)
	if err := validate.Name("name", n.Name, 100); err != nil {
		return err
	}
	if needWorkspace {
		n.WorkspaceName = strings.TrimSpace(n.WorkspaceName)
		if err := validate.Name("workspace", n.WorkspaceName, 100); err != nil {
			return err
		}
	}
	return auth.CheckPassword(n.Password, n.Email, n.Name)
}

// SetupOwner creates the first owner and their workspace with the one-time
// set-up token printed by serve, and signs them in. Inputs are checked
// before the token is spent, so a typo does not burn the link.
func (s *Service) SetupOwner(ctx context.Context, token secret.Secret, n NewAccount, c Client) (Issued, error) {
	if err := n.check(true); err != nil {
		return Issued{}, err
	}
	th, err := s.o.Tokens.HashOneTimeToken(auth.PurposeSetup, token)
	if err != nil {
		return Issued{}, err
	}
	// A link left from an earlier start stays unused in the store; it
	// must not make a second owner once the first exists (the set-up page
	// says such a link is spent).
	if pending, err := s.SetupPending(ctx); err != nil {
		return Issued{}, err
	} else if !pending {
		return Issued{}, errBadLink
	}
	hash, err := s.o.Hasher.Hash(n.Password)
	if err != nil {
		return Issued{}, err
	}
	u, w, err := s.o.Store.CreateOwner(ctx, store.CreateOwnerParams{Email: n.Email, Name: n.Name, PasswordHash: hash,
		WorkspaceName: n.WorkspaceName, SetupTokenHash: th, Now: s.o.Now()})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Issued{}, errBadLink
	case errors.Is(err, store.ErrConflict):
		return Issued{}, palisade.FieldError("email", "an account with this email already exists")
	case err != nil:
		return Issued{}, err
	}
	s.record(ctx, c, palisade.ScopeFor(w.ID), audit.Entry{Actor: string(u.ID), Action: audit.ActionSetupOwner, Target: string(w.ID), Outcome: audit.OutcomeSuccess})
	s.queueMailOrLog(ctx, MailVerifyEmail, u.Email, c)
	return s.issue(ctx, u.ID, false, c)
}

// Signup creates an account with its own workspace when sign-up is open.
// Whether the address was already taken is not revealed: both cases answer
// alike (and pay one hash), each queues one e-mail (a verification link,
// or for the owner of an existing address a notice), and neither waits on
// SMTP.
func (s *Service) Signup(ctx context.Context, n NewAccount, c Client) error {
	if !s.o.AllowSignup {
		return errSignupClosed
	}
	if err := n.check(true); err != nil {
		return err
	}
	if _, err := s.limit(ctx, limitCheck{ratelimit.ClassResetIP, c.IP}); err != nil {
		return err
	}
	hash, err := s.o.Hasher.Hash(n.Password)
	if err != nil {
		return err
	}
	u, w, err := s.o.Store.CreateOwner(ctx, store.CreateOwnerParams{Email: n.Email, Name: n.Name, PasswordHash: hash,
		WorkspaceName: n.WorkspaceName, Now: s.o.Now()})
	if errors.Is(err, store.ErrConflict) {
		s.queueMailOrLog(ctx, MailSignupTaken, n.Email, c)
		return nil
	}
	if err != nil {
		return err
	}
	s.record(ctx, c, palisade.ScopeFor(w.ID), audit.Entry{Actor: string(u.ID), Action: audit.ActionSignup, Target: string(w.ID), Outcome: audit.OutcomeSuccess})
	s.queueMailOrLog(ctx, MailVerifyEmail, u.Email, c)
	return nil
}

// queueMailOrLog queues an e-mail after the action it follows has
// happened: a failure is logged rather than undoing the action.
func (s *Service) queueMailOrLog(ctx context.Context, p MailPurpose, to string, c Client) {
	if err := s.queueMail(ctx, p, to, c); err != nil {
		s.o.Logger.ErrorContext(ctx, "queueing an account e-mail failed", "purpose", string(p), "err", err)
	}
}

func (s *Service) send(ctx context.Context, m mail.Message) {
	if err := s.o.Mailer.Send(ctx, m); err != nil {
		s.o.Logger.ErrorContext(ctx, "sending e-mail failed", "subject", m.Subject, "err", err)
	}
}

// sendVerification mails u a fresh verification link, unless the address
// is verified already.
func (s *Service) sendVerification(ctx context.Context, u palisade.User) error {
	if u.EmailVerifiedAt != nil {
		return nil
	}
	tok, hash, err := s.o.Tokens.NewOneTimeToken(auth.PurposeEmailVerification)
	if err != nil {
		return err
	}
	now := s.o.Now()
	if err := s.o.Store.CreateOneTimeToken(ctx, store.CreateTokenParams{Purpose: palisade.TokenVerifyEmail, Hash: hash, Email: u.Email,
		UserID: u.ID, Now: now, ExpiresAt: now.Add(VerificationTTL)}); err != nil {
		return err
	}
	return s.o.Mailer.Send(ctx, mail.Message{To: u.Email, Subject: "Verify your email for Palisade",
		Body: "Confirm this address by opening:\n\n" + s.link("/verify/"+tok.Reveal()) + "\n\nThe link works once and expires in 48 hours."})
}

// ResendVerification queues a new verification link for the signed-in
// user.
func (s *Service) ResendVerification(ctx context.Context, cur Current, c Client) error {
	if _, err := s.limit(ctx, limitCheck{ratelimit.ClassResetAccount, cur.User.Email}); err != nil {
		return err
	}
	if cur.User.EmailVerifiedAt != nil {
		return nil
	}
	return s.queueMail(ctx, MailVerifyEmail, cur.User.Email, c)
}

// VerifyEmail consumes a verification token.
func (s *Service) VerifyEmail(ctx context.Context, token secret.Secret, c Client) error {
	h, err := s.o.Tokens.HashOneTimeToken(auth.PurposeEmailVerification, token)
	if err != nil {
		return err
	}
	t, err := s.o.Store.ConsumeOneTimeToken(ctx, palisade.TokenVerifyEmail, h, s.o.Now())
	if errors.Is(err, store.ErrNotFound) {
		return errBadLink
	}
	if err != nil {
		return err
	}
	err = s.o.Store.MarkEmailVerified(ctx, t.UserID, s.o.Now())
	s.recordAccount(ctx, c, audit.Entry{Actor: string(t.UserID), Action: audit.ActionEmailVerified, Outcome: outcome(err)})
	return err
}

// ChangePassword checks the current password, stores the new one, revokes
// every other session and rotates the current one. A wrong current
// password spends the account's re-check budget (ClassReauth).
func (s *Service) ChangePassword(ctx context.Context, cur Current, current, next string, c Client) (Issued, error) {
	held, err := s.reserve(ctx, reauthBudget(cur.User.ID))
	if err != nil {
		s.recordDenial(ctx, c, err, audit.Entry{Actor: string(cur.User.ID), Action: audit.ActionPasswordChanged})
		return Issued{}, err
	}
	ok, _, _ := s.o.Hasher.Verify(current, cur.User.PasswordHash)
	if !ok {
		s.recordAccount(ctx, c, audit.Entry{Actor: string(cur.User.ID), Action: audit.ActionPasswordChanged, Outcome: audit.OutcomeFailure})
		return Issued{}, palisade.FieldError("current", "the current password is not correct")
	}
	s.refund(ctx, held)
	if err := auth.CheckPassword(next, cur.User.Email, cur.User.Name); err != nil {
		return Issued{}, err
	}
	if err := s.setPassword(ctx, cur.User.ID, next, cur.Session.ID); err != nil {
		return Issued{}, err
	}
	s.recordAccount(ctx, c, audit.Entry{Actor: string(cur.User.ID), Action: audit.ActionPasswordChanged, Outcome: audit.OutcomeSuccess})
	return s.rotate(ctx, cur, c)
}

func (s *Service) setPassword(ctx context.Context, user palisade.UserID, pw string, keep palisade.SessionID) error {
	hash, err := s.o.Hasher.Hash(pw)
	if err != nil {
		return err
	}
	now := s.o.Now()
	if err := s.o.Store.SetPassword(ctx, user, hash, now); err != nil {
		return err
	}
	_, err = s.o.Store.RevokeUserSessions(ctx, user, keep, now)
	return err
}

// RequestReset queues a reset link for the address. It answers the same,
// and does the same work, whether an account uses the address or not: the
// account is looked up, the token made and the mail sent by the job worker
// (DeliverMail), never in the request.
func (s *Service) RequestReset(ctx context.Context, email string, c Client) error {
	email = strings.ToLower(strings.TrimSpace(email))
	if err := validate.Email("email", email); err != nil {
		return err
	}
	if _, err := s.limit(ctx, limitCheck{ratelimit.ClassResetIP, c.IP}, limitCheck{ratelimit.ClassResetAccount, email}); err != nil {
		return err
	}
	return s.queueMail(ctx, MailPasswordReset, email, c)
}

// ResetPassword sets a new password with a reset token and signs every
// session out. Following the link proves the address, so it also counts as
// verification.
func (s *Service) ResetPassword(ctx context.Context, token secret.Secret, pw string, c Client) error {
	if _, err := s.limit(ctx, limitCheck{ratelimit.ClassResetIP, c.IP}); err != nil {
		return err
	}
	h, err := s.o.Tokens.HashOneTimeToken(auth.PurposePasswordReset, token)
	if err != nil {
		return err
	}
	// The policy is checked before the token is spent; the user's own
	// details are checked after, when they are known.
	if err := auth.CheckPassword(pw); err != nil {
		return err
	}
	t, err := s.o.Store.ConsumeOneTimeToken(ctx, palisade.TokenResetPassword, h, s.o.Now())
	if errors.Is(err, store.ErrNotFound) {
		return errBadLink
	}
	if err != nil {
		return err
	}
	if err := s.setPassword(ctx, t.UserID, pw, ""); err != nil {
		return err
	}
	_ = s.o.Store.MarkEmailVerified(ctx, t.UserID, s.o.Now())
	s.recordAccount(ctx, c, audit.Entry{Actor: string(t.UserID), Action: audit.ActionPasswordReset, Outcome: audit.OutcomeSuccess})
	return nil
}

// Enrolment is a TOTP secret waiting for its first code.
type Enrolment struct {
	Secret secret.Secret // base32, for typing into an app
	URI    secret.Secret // otpauth:// URI
}

// BeginTOTP stores a fresh, not yet enabled TOTP secret. It refuses when
// TOTP is already on: turning it off first needs the password and a code.
func (s *Service) BeginTOTP(ctx context.Context, cur Current) (Enrolment, error) {
	if cur.User.TOTPEnabled {
		return Enrolment{}, palisade.Errorf(palisade.CodeConflict, "two-factor authentication is already on")
	}
	sec := auth.NewTOTPSecret()
	if err := s.o.Store.SetTOTP(ctx, cur.User.ID, store.SetTOTPParams{Secret: []byte(sec.Reveal()), Now: s.o.Now()}); err != nil {
		return Enrolment{}, err
	}
	return Enrolment{Secret: sec, URI: auth.TOTPProvisioningURI(sec, cur.User.Email)}, nil
}

// PendingTOTP returns the enrolment in progress, if any.
func (s *Service) PendingTOTP(ctx context.Context, cur Current) (Enrolment, bool, error) {
	cred, err := s.o.Store.GetCredentials(ctx, cur.User.ID)
	if err != nil || cred.TOTPEnabled || cred.TOTPSecret == nil {
		return Enrolment{}, false, err
	}
	sec := secret.New(string(cred.TOTPSecret))
	return Enrolment{Secret: sec, URI: auth.TOTPProvisioningURI(sec, cur.User.Email)}, true, nil
}

// ConfirmTOTP turns TOTP on with the first code from the app, returns the
// recovery codes to show once, and rotates the session (a privilege
// change). A wrong code spends the account's second-factor budget.
func (s *Service) ConfirmTOTP(ctx context.Context, cur Current, code string, c Client) ([]secret.Secret, Issued, error) {
	cred, err := s.o.Store.GetCredentials(ctx, cur.User.ID)
	if err != nil {
		return nil, Issued{}, err
	}
	if cred.TOTPEnabled || cred.TOTPSecret == nil {
		return nil, Issued{}, palisade.Errorf(palisade.CodeConflict, "no two-factor enrolment is in progress")
	}
	held, err := s.reserve(ctx, secondFactorBudget(cur.User.ID))
	if err != nil {
		s.recordDenial(ctx, c, err, audit.Entry{Actor: string(cur.User.ID), Action: audit.ActionMFAEnabled})
		return nil, Issued{}, err
	}
	now := s.o.Now()
	step, ok, err := auth.ValidateTOTP(secret.New(string(cred.TOTPSecret)), code, now, 0)
	if err != nil {
		return nil, Issued{}, err
	}
	if !ok {
		s.recordAccount(ctx, c, audit.Entry{Actor: string(cur.User.ID), Action: audit.ActionMFAEnabled, Outcome: audit.OutcomeFailure})
		return nil, Issued{}, errBadCode
	}
	s.refund(ctx, held)
	codes, hashes, err := auth.NewRecoveryCodes(auth.DefaultRecoveryCodes)
	if err != nil {
		return nil, Issued{}, err
	}
	if err := s.o.Store.SetTOTP(ctx, cur.User.ID, store.SetTOTPParams{Secret: cred.TOTPSecret, Enabled: true, RecoveryCodes: hashes, Now: now}); err != nil {
		return nil, Issued{}, err
	}
	// The confirming code is spent.
	if err := s.o.Store.UseTOTPStep(ctx, cur.User.ID, step, now); err != nil {
		return nil, Issued{}, err
	}
	s.recordAccount(ctx, c, audit.Entry{Actor: string(cur.User.ID), Action: audit.ActionMFAEnabled, Outcome: audit.OutcomeSuccess})
	is, err := s.rotate(ctx, cur, c)
	return codes, is, err
}

// errBadReauth is the one answer to a wrong password, a wrong code or
// both when turning two-factor off: which one was wrong is not said.
var errBadReauth = palisade.FieldError("password", "the password or the code is not correct")

// DisableTOTP turns TOTP off after checking the password and a current
// TOTP code (or an unused recovery code): a stolen session, or a password
// alone, is not enough to remove the second factor. It refuses when a
// workspace of the user requires two-factor, before checking anything. A
// failed attempt spends both the password re-check budget and the
// second-factor budget of the account; the code is only checked (and
// spent) when the password is right.
func (s *Service) DisableTOTP(ctx context.Context, cur Current, password, code string, c Client) error {
	ws, err := s.o.Store.ListUserWorkspaces(ctx, cur.User.ID)
	if err != nil {
		return err
	}
	for _, w := range ws {
		if w.Workspace.RequireMFA {
			return palisade.Errorf(palisade.CodeForbidden, "workspace %q requires two-factor authentication", w.Workspace.Name)
		}
	}
	held, err := s.reserve(ctx, reauthBudget(cur.User.ID), secondFactorBudget(cur.User.ID))
	if err != nil {
		s.recordDenial(ctx, c, err, audit.Entry{Actor: string(cur.User.ID), Action: audit.ActionMFADisabled})
		return err
	}
	ok, _, _ := s.o.Hasher.Verify(password, cur.User.PasswordHash)
	if ok {
		switch err := s.checkSecondFactor(ctx, cur.User.ID, code); {
		case errors.Is(err, errBadCode):
			ok = false
		case err != nil:
			return err
		}
	}
	if !ok {
		s.recordAccount(ctx, c, audit.Entry{Actor: string(cur.User.ID), Action: audit.ActionMFADisabled, Outcome: audit.OutcomeFailure})
		return errBadReauth
	}
	s.refund(ctx, held)
	err = s.o.Store.SetTOTP(ctx, cur.User.ID, store.SetTOTPParams{Now: s.o.Now()})
	s.recordAccount(ctx, c, audit.Entry{Actor: string(cur.User.ID), Action: audit.ActionMFADisabled, Outcome: outcome(err)})
	return err
}

// RegenerateRecoveryCodes replaces every recovery code after checking a
// current TOTP code (or an unused recovery code). A wrong code spends the
// account's second-factor budget.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, cur Current, code string, c Client) ([]secret.Secret, error) {
	held, err := s.reserve(ctx, secondFactorBudget(cur.User.ID))
	if err != nil {
		s.recordDenial(ctx, c, err, audit.Entry{Actor: string(cur.User.ID), Action: audit.ActionRecoveryCodesReset})
		return nil, err
	}
	if err := s.checkSecondFactor(ctx, cur.User.ID, code); err != nil {
		if errors.Is(err, errBadCode) {
			s.recordAccount(ctx, c, audit.Entry{Actor: string(cur.User.ID), Action: audit.ActionRecoveryCodesReset, Outcome: audit.OutcomeFailure})
		}
		return nil, err
	}
	s.refund(ctx, held)
	cred, err := s.o.Store.GetCredentials(ctx, cur.User.ID)
	if err != nil {
		return nil, err
	}
	codes, hashes, err := auth.NewRecoveryCodes(auth.DefaultRecoveryCodes)
	if err != nil {
		return nil, err
	}
	if err := s.o.Store.ReplaceRecoveryCodes(ctx, cur.User.ID, cred.RecoveryCodes, hashes, s.o.Now()); err != nil {
		return nil, err
	}
	s.recordAccount(ctx, c, audit.Entry{Actor: string(cur.User.ID), Action: audit.ActionRecoveryCodesReset, Outcome: audit.OutcomeSuccess})
	return codes, nil
}
