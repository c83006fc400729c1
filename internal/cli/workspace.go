package cli

import (
	"context"
	"encoding/hex"
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

// InvitationTTL is how long an invitation (and a new workspace's owner
// set-up link) stays valid.
const InvitationTTL = 72 * time.Hour

const workspaceUsage = "Usage: palisade workspace create --name NAME --owner-email EMAIL\n" +
	"       palisade workspace export ID --out FILE"

func runWorkspace(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "create":
			return runWorkspaceCreate(ctx, env, args[1:])
		case "export":
			return runWorkspaceExport(ctx, env, args[1:])
		case "--help", "-h":
			fmt.Fprintln(env.Stdout, workspaceUsage)
			return nil
		}
	}
	fmt.Fprintln(env.Stderr, workspaceUsage)
	return ErrUsage
}

func runWorkspaceCreate(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "workspace create", "workspace create --name NAME --owner-email EMAIL [store flags]\n\n"+
		"Creates a workspace and prints its id and a one-time link for its owner to set up their account.")
	var name, email, baseURL *string
	cfg, help, err := loadConfig(env, fs, config.GroupStore, args, func() {
		name = fs.String("name", "", "workspace name (required)")
		email = fs.String("owner-email", "", "e-mail address of the owner (required)")
		baseURL = fs.String("public-url", "", "external base URL for the link (env PALISADE_PUBLIC_URL)")
	})
	if help || err != nil {
		return err
	}
	if err := validate.Name("name", *name, 100); err != nil {
		return fmt.Errorf("%w: --name: %s", ErrUsage, palisade.ErrorMessage(err))
	}
	if err := validate.Email("owner-email", *email); err != nil {
		return fmt.Errorf("%w: --owner-email: %s", ErrUsage, palisade.ErrorMessage(err))
	}
	mk, err := loadMasterKey(cfg)
	if err != nil {
		return err
	}
	tokens, err := tokenKey(mk)
	if err != nil {
		return err
	}
	s, _, closeAll, err := openSealedStore(ctx, cfg, mk, store.Options{})
	if err != nil {
		return err
	}
	defer closeAll()
	now := env.Now()
	ws, err := s.CreateWorkspace(ctx, store.CreateWorkspaceParams{Name: *name, Now: now})
	if err != nil {
		return err
	}
	token, hash, err := tokens.NewOneTimeToken(auth.PurposeInvitation)
	if err != nil {
		return err
	}
	inv, err := s.CreateInvitation(ctx, palisade.ScopeFor(ws.ID), store.CreateInvitationParams{
		Email: *email, Role: palisade.RoleOwner, TokenHashHex: hex.EncodeToString(hash), Now: now, ExpiresAt: now.Add(InvitationTTL),
	})
	if err != nil {
		return err
	}
	al := newAuditLogger(env, cfg, s)
	created := audit.Entry{Actor: audit.ActorCLI, Action: audit.ActionWorkspaceCreated, Target: string(ws.ID),
		Outcome: audit.OutcomeSuccess, Detail: map[string]string{"name": ws.Name}}
	if err := al.RecordPlatform(ctx, created); err != nil {
		return err
	}
	if err := al.Record(ctx, palisade.ScopeFor(ws.ID), created); err != nil {
		return err
	}
	if err := al.Record(ctx, palisade.ScopeFor(ws.ID), audit.Entry{Actor: audit.ActorCLI, Action: audit.ActionInvitationCreated,
		Target: string(inv.ID), Outcome: audit.OutcomeSuccess,
		Detail: map[string]string{"email": inv.Email, "role": string(inv.Role)}}); err != nil {
		return err
	}
	base := *baseURL
	if base == "" {
		base = env.Getenv("PALISADE_PUBLIC_URL")
	}
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	fmt.Fprintf(env.Stdout, "workspace %s created\n", ws.ID)
	fmt.Fprintf(env.Stdout, "owner set-up link for %s (valid %s, works once):\n%s/invite/%s\n",
		strings.ToLower(*email), InvitationTTL, strings.TrimRight(base, "/"), token.Reveal())
	return nil
}
