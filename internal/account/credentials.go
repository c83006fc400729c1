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
	s.sendVerification(ctx, u)
	return s.issue(ctx, u.ID, false, c)
}

// Signup creates an account with its own workspace when sign-up is open.
// Whether the address was already taken is not revealed: both cases answer
// alike (and pay one hash), and the owner of an existing address gets an
// e-mail instead.
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
		s.send(ctx, mail.Message{To: n.Email, Subject: "Sign-up attempt on Palisade",
			Body: "Someone tried to create a Palisade account with this address, which already has one.\n" +
				"If it was you, sign in at " + s.link("/login") + " or reset your password at " + s.link("/forgot") + "."})
		return nil
	}
	if err != nil {
		return err
	}
	s.record(ctx, c, palisade.ScopeFor(w.ID), audit.Entry{Actor: string(u.ID), Action: audit.ActionSignup, Target: string(w.ID), Outcome: audit.OutcomeSuccess})
	s.sendVerification(ctx, u)
	return nil
}

func (s *Service) send(ctx context.Context, m mail.Message) {
	if err := s.o.Mailer.Send(ctx, m); err != nil {
		s.o.Logger.ErrorContext(ctx, "sending e-mail failed", "subject", m.Subject, "err", err)
	}
}

func (s *Service) sendVerification(ctx context.Context, u palisade.User) {
	if u.EmailVerifiedAt != nil {
		return
	}
	tok, hash, err := s.o.Tokens.NewOneTimeToken(auth.PurposeEmailVerification)
	if err != nil {
		s.o.Logger.ErrorContext(ctx, "making verification token failed", "err", err)
		return
	}
	now := s.o.Now()
	if err := s.o.Store.CreateOneTimeToken(ctx, store.CreateTokenParams{Purpose: palisade.TokenVerifyEmail, Hash: hash, Email: u.Email,
		UserID: u.ID, Now: now, ExpiresAt: now.Add(VerificationTTL)}); err != nil {
		s.o.Logger.ErrorContext(ctx, "storing verification token failed", "err", err)
		return
	}
	s.send(ctx, mail.Message{To: u.Email, Subject: "Verify your email for Palisade",
		Body: "Confirm this address by opening:\n\n" + s.link("/verify/"+tok.Reveal()) + "\n\nThe link works once and expires in 48 hours."})
}

// ResendVerification sends a new verification link to the signed-in user.
func (s *Service) ResendVerification(ctx context.Context, cur Current, c Client) error {
	if _, err := s.limit(ctx, limitCheck{ratelimit.ClassResetAccount, cur.User.Email}); err != nil {
		return err
	}
	s.sendVerification(ctx, cur.User)
	return nil
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
// every other session and rotates the current one.
func (s *Service) ChangePassword(ctx context.Context, cur Current, current, next string, c Client) (Issued, error) {
	if _, err := s.limit(ctx, limitCheck{ratelimit.ClassLoginAccount, cur.User.Email}); err != nil {
		return Issued{}, err
	}
	ok, _, _ := s.o.Hasher.Verify(current, cur.User.PasswordHash)
	if !ok {
		s.recordAccount(ctx, c, audit.Entry{Actor: string(cur.User.ID), Action: audit.ActionPasswordChanged, Outcome: audit.OutcomeFailure})
		return Issued{}, palisade.FieldError("current", "the current password is not correct")
	}
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

// RequestReset mails a reset link when the account exists. It answers the
// same whether it exists or not.
func (s *Service) RequestReset(ctx context.Context, email string, c Client) error {
	email = strings.ToLower(strings.TrimSpace(email))
	if err := validate.Email("email", email); err != nil {
		return err
	}
	if _, err := s.limit(ctx, limitCheck{ratelimit.ClassResetIP, c.IP}, limitCheck{ratelimit.ClassResetAccount, email}); err != nil {
		return err
	}
	u, err := s.o.Store.GetUserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	tok, hash, err := s.o.Tokens.NewOneTimeToken(auth.PurposePasswordReset)
	if err != nil {
		return err
	}
	now := s.o.Now()
	if err := s.o.Store.CreateOneTimeToken(ctx, store.CreateTokenParams{Purpose: palisade.TokenResetPassword, Hash: hash, Email: u.Email,
		UserID: u.ID, Now: now, ExpiresAt: now.Add(ResetTTL)}); err != nil {
		return err
	}
	s.send(ctx, mail.Message{To: u.Email, Subject: "Reset your Palisade password",
		Body: "Choose a new password by opening:\n\n" + s.link("/reset/"+tok.Reveal()) + "\n\nThe link works once and expires in one hour. " +
			"If you did not ask for it, ignore this message."})
	s.recordAccount(ctx, c, audit.Entry{Actor: string(u.ID), Action: audit.ActionPasswordResetAsked, Outcome: audit.OutcomeSuccess})
	return nil
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
// TOTP is already on: turning it off first needs the password.
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
// change).
func (s *Service) ConfirmTOTP(ctx context.Context, cur Current, code string, c Client) ([]secret.Secret, Issued, error) {
	cred, err := s.o.Store.GetCredentials(ctx, cur.User.ID)
	if err != nil {
		return nil, Issued{}, err
	}
	if cred.TOTPEnabled || cred.TOTPSecret == nil {
		return nil, Issued{}, palisade.Errorf(palisade.CodeConflict, "no two-factor enrolment is in progress")
	}
	now := s.o.Now()
	step, ok, err := auth.ValidateTOTP(secret.New(string(cred.TOTPSecret)), code, now, 0)
	if err != nil {
		return nil, Issued{}, err
	}
	if !ok {
		return nil, Issued{}, errBadCode
	}
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

// DisableTOTP turns TOTP off after checking the password; it refuses when
// a workspace of the user requires it.
func (s *Service) DisableTOTP(ctx context.Context, cur Current, password string, c Client) error {
	if ok, _, _ := s.o.Hasher.Verify(password, cur.User.PasswordHash); !ok {
		s.recordAccount(ctx, c, audit.Entry{Actor: string(cur.User.ID), Action: audit.ActionMFADisabled, Outcome: audit.OutcomeFailure})
		return palisade.FieldError("password", "the password is not correct")
	}
	ms, err := s.o.Store.ListUserMemberships(ctx, cur.User.ID)
	if err != nil {
		return err
	}
	for _, m := range ms {
		w, err := s.o.Store.GetWorkspace(ctx, palisade.ScopeFor(m.WorkspaceID))
		if err != nil {
			return err
		}
		if w.RequireMFA {
			return palisade.Errorf(palisade.CodeForbidden, "workspace %q requires two-factor authentication", w.Name)
		}
	}
	err = s.o.Store.SetTOTP(ctx, cur.User.ID, store.SetTOTPParams{Now: s.o.Now()})
	s.recordAccount(ctx, c, audit.Entry{Actor: string(cur.User.ID), Action: audit.ActionMFADisabled, Outcome: outcome(err)})
	return err
}

// RegenerateRecoveryCodes replaces every recovery code after checking a
// current TOTP code.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, cur Current, code string, c Client) ([]secret.Secret, error) {
	if err := s.checkSecondFactor(ctx, cur.User.ID, code); err != nil {
		return nil, err
	}
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
