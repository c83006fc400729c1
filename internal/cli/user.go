package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/validate"
)

// OperatorResetTTL is how long a reset link the operator makes stays
// valid: longer than an e-mailed one's hour, since the operator hands it
// over by some other way, yet short enough not to lie around.
const OperatorResetTTL = 24 * time.Hour

const userUsage = `Usage: palisade user <reset-password|reset-mfa> [flags]

  reset-password   print a one-time link for a user to choose a new password
  reset-mfa        remove a user's two-factor authentication so they can set it up again

Both are for an owner locked out of their account, and are audited.
Run 'palisade user <subcommand> --help' for its flags.`

func runUser(ctx context.Context, env *Env, args []string) error {
	return runSubcommand(ctx, env, "user", userUsage, args, map[string]commandFunc{
		"reset-password": runUserResetPassword,
		"reset-mfa":      runUserResetMFA,
	})
}

// userByEmail reads --email's user (checked by the command before it
// opened the store), or says there is none.
func userByEmail(ctx context.Context, s store.Store, email string) (palisade.User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	u, err := s.GetUserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return palisade.User{}, fmt.Errorf("no user has the address %s", email)
	}
	return u, err
}

// recordUserAction records an operator action on a user's account in the
// platform chain, where account events go, and in the chain of every
// workspace the user is a member of, so its owners see it in their own
// audit log.
func recordUserAction(ctx context.Context, env *Env, cfg config.Config, s store.Store, u palisade.User, e audit.Entry) error {
	al := newAuditLogger(env, cfg, s)
	if err := al.RecordPlatform(ctx, e); err != nil {
		return err
	}
	ws, err := s.ListUserWorkspaces(ctx, u.ID)
	if err != nil {
		return fmt.Errorf("listing the user's workspaces: %w", err)
	}
	for _, w := range ws {
		if err := al.Record(ctx, palisade.ScopeFor(w.Workspace.ID), e); err != nil {
			return err
		}
	}
	return nil
}

func runUserResetPassword(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "user reset-password", "user reset-password --email EMAIL [--public-url URL] [store flags]\n\n"+
		"Prints a one-time link for the user to choose a new password (valid "+OperatorResetTTL.String()+"); hand it\n"+
		"over yourself, by a way you trust. Nothing changes until the link is used: then the new\n"+
		"password is set and every session of the user is signed out. Two-factor authentication\n"+
		"stays as it is (see 'palisade user reset-mfa'). The current password is never shown.\n"+
		"The link starts with --public-url; without it, with the address serve derives from the\n"+
		"--addr, TLS and ACME settings of the same configuration file and environment.")
	var email *string
	cfg, help, err := loadConfig(env, fs, config.GroupStore|config.GroupLink, args, func() {
		email = fs.String("email", "", "the user's e-mail address (required)")
	})
	if help || err != nil {
		return err
	}
	if err := validate.Email("email", strings.ToLower(strings.TrimSpace(*email))); err != nil {
		return fmt.Errorf("%w: --email: %s", ErrUsage, palisade.ErrorMessage(err))
	}
	s, mk, closeData, err := openSealedData(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeData()
	tokens, err := tokenKey(mk)
	if err != nil {
		return err
	}
	u, err := userByEmail(ctx, s, *email)
	if err != nil {
		return err
	}
	token, hash, err := tokens.NewOneTimeToken(auth.PurposePasswordReset)
	if err != nil {
		return err
	}
	now := env.Now()
	if err := s.CreateOneTimeToken(ctx, store.CreateTokenParams{Purpose: palisade.TokenResetPassword, Hash: hash, Email: u.Email,
		UserID: u.ID, Now: now, ExpiresAt: now.Add(OperatorResetTTL)}); err != nil {
		return err
	}
	// Recorded before the link is shown: a link is never handed out
	// unaudited.
	if err := recordUserAction(ctx, env, cfg, s, u, audit.Entry{Actor: audit.ActorCLI, Action: audit.ActionPasswordResetIssued,
		Target: string(u.ID), Outcome: audit.OutcomeSuccess, Detail: map[string]string{"email": u.Email, "valid_for": OperatorResetTTL.String()}}); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "password reset link for %s (valid %s, works once):\n%s/reset/%s\n", u.Email, OperatorResetTTL, cfg.BaseURL(), token.Reveal())
	return nil
}

func runUserResetMFA(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "user reset-mfa", "user reset-mfa --email EMAIL [store flags]\n\n"+
		"Removes the user's two-factor authentication (the authenticator app's secret and every\n"+
		"recovery code) and signs out every session of the user. They sign in with their password\n"+
		"alone and can set two-factor up again; a workspace that requires it asks them to at once.")
	var email *string
	cfg, help, err := loadConfig(env, fs, config.GroupStore, args, func() {
		email = fs.String("email", "", "the user's e-mail address (required)")
	})
	if help || err != nil {
		return err
	}
	if err := validate.Email("email", strings.ToLower(strings.TrimSpace(*email))); err != nil {
		return fmt.Errorf("%w: --email: %s", ErrUsage, palisade.ErrorMessage(err))
	}
	s, _, closeData, err := openSealedData(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeData()
	u, err := userByEmail(ctx, s, *email)
	if err != nil {
		return err
	}
	if !u.TOTPEnabled {
		fmt.Fprintf(env.Stdout, "%s has no two-factor authentication; nothing changed\n", u.Email)
		return nil
	}
	now := env.Now()
	if err := s.SetTOTP(ctx, u.ID, store.SetTOTPParams{Now: now}); err != nil {
		return err
	}
	revoked, err := s.RevokeUserSessions(ctx, u.ID, "", now)
	if err != nil {
		return fmt.Errorf("two-factor removed, but signing the user out failed: %w", err)
	}
	if err := recordUserAction(ctx, env, cfg, s, u, audit.Entry{Actor: audit.ActorCLI, Action: audit.ActionMFAReset,
		Target: string(u.ID), Outcome: audit.OutcomeSuccess,
		Detail: map[string]string{"email": u.Email, "sessions_revoked": fmt.Sprint(revoked)}}); err != nil {
		return fmt.Errorf("two-factor removed, but recording it in the audit log failed: %w", err)
	}
	fmt.Fprintf(env.Stdout, "two-factor authentication removed for %s; %d sessions signed out\n", u.Email, revoked)
	return nil
}
