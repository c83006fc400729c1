package cli

import (
	"context"
	"encoding/hex"
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

// InvitationTTL is how long an invitation (and a new workspace's owner
// set-up link) stays valid.
const InvitationTTL = 72 * time.Hour

const workspaceUsage = "Usage: palisade workspace create --name NAME --owner-email EMAIL\n" +
	"       palisade workspace delete ID --confirm NAME"

func runWorkspace(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 && args[0] == "delete" {
		return runWorkspaceDelete(ctx, env, args[1:])
	}
	if len(args) == 0 || args[0] != "create" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			fmt.Fprintln(env.Stdout, workspaceUsage)
			return nil
		}
		fmt.Fprintln(env.Stderr, workspaceUsage)
		return ErrUsage
	}
	fs := newFlags(env, "workspace create", "workspace create --name NAME --owner-email EMAIL [store flags]\n\n"+
		"Creates a workspace and prints its id and a one-time link for its owner to set up their account.")
	var name, email, baseURL *string
	cfg, help, err := loadConfig(env, fs, config.GroupStore, args[1:], func() {
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
	// The platform chain outlives the workspace: it gets the id alone,
	// never the name, which could be personal data.
	platform := created
	platform.Detail = nil
	if err := al.RecordPlatform(ctx, platform); err != nil {
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

// runWorkspaceDelete deletes a workspace for the operator: its data keys
// first (crypto-shredding), then every row of it, recorded in the
// platform audit chain. --confirm must repeat the workspace's name.
func runWorkspaceDelete(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "workspace delete", "workspace delete ID --confirm NAME [store flags]\n\n"+
		"Deletes the workspace ID at once and for good: its data keys are destroyed first, so its\n"+
		"sealed fields in any backup become unreadable, then every row of it in the database. Only a\n"+
		"workspace.deleted entry in the platform audit log remains. --confirm must be the workspace's\n"+
		"exact name.")
	// The id comes first; flags follow it.
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	var confirm *string
	cfg, help, err := loadConfig(env, fs, config.GroupStore, args, func() {
		confirm = fs.String("confirm", "", "the workspace's exact name, to confirm (required)")
	})
	if help || err != nil {
		return err
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	}
	if !palisade.ValidID(palisade.PrefixWorkspace, id) {
		return fmt.Errorf("%w: workspace delete needs the id of the workspace (ws_…)", ErrUsage)
	}
	if *confirm == "" {
		return fmt.Errorf("%w: --confirm NAME is required: the workspace's exact name", ErrUsage)
	}
	mk, err := loadMasterKey(cfg)
	if err != nil {
		return err
	}
	s, _, closeAll, err := openSealedStore(ctx, cfg, mk, store.Options{})
	if err != nil {
		return err
	}
	defer closeAll()
	scope := palisade.ScopeFor(palisade.WorkspaceID(id))
	w, err := s.GetWorkspace(ctx, scope)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no workspace %s", id)
	}
	if err != nil {
		return err
	}
	if *confirm != w.Name {
		return fmt.Errorf("%w: --confirm does not match the name of workspace %s", ErrUsage, id)
	}
	al := newAuditLogger(env, cfg, s)
	if al.err != nil {
		return al.err
	}
	if err := al.l.DeleteWorkspace(ctx, s, scope, audit.Entry{Actor: audit.ActorCLI}); err != nil {
		return err
	}
	al.checkpoint()
	fmt.Fprintf(env.Stdout, "workspace %s deleted\n", id)
	return nil
}
