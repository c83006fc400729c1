package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
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

// MaxSuspendReason bounds the reason a workspace's members are shown.
const MaxSuspendReason = 200

const workspaceUsage = `Usage: palisade workspace <create|list|suspend|resume|export|delete> [flags]

  create    create a workspace and print a one-time set-up link for its owner
  list      list the workspaces: id, name, plan, status, members, creation time
  suspend   suspend a workspace: its bots stop answering, its API refuses changes
  resume    resume a suspended workspace
  export    write the whole workspace as a JSON archive (secrets masked) to a file
  delete    delete a workspace at once and for good (data keys first)

Run 'palisade workspace <subcommand> --help' for its flags.`

func runWorkspace(ctx context.Context, env *Env, args []string) error {
	return runSubcommand(ctx, env, "workspace", workspaceUsage, args, map[string]commandFunc{
		"create": runWorkspaceCreate,
		"list":   runWorkspaceList,
		"suspend": func(ctx context.Context, env *Env, args []string) error {
			return runWorkspaceSuspend(ctx, env, args, true)
		},
		"resume": func(ctx context.Context, env *Env, args []string) error {
			return runWorkspaceSuspend(ctx, env, args, false)
		},
		"export": runWorkspaceExport,
		"delete": runWorkspaceDelete,
	})
}

// workspaceOf reads the workspace a command names, with a message for an
// operator when there is none.
func workspaceOf(ctx context.Context, s store.Store, id palisade.WorkspaceID) (palisade.Workspace, error) {
	w, err := s.GetWorkspace(ctx, palisade.ScopeFor(id))
	if errors.Is(err, store.ErrNotFound) {
		return palisade.Workspace{}, fmt.Errorf("no workspace %s", id)
	}
	return w, err
}

func runWorkspaceCreate(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "workspace create", "workspace create --name NAME --owner-email EMAIL [--public-url URL] [store flags]\n\n"+
		"Creates a workspace and prints its id and a one-time link for its owner to set up their account.\n"+
		"The link starts with --public-url; without it, with the address serve derives from the\n"+
		"--addr, TLS and ACME settings of the same configuration file and environment.")
	var name, email *string
	cfg, help, err := loadConfig(env, fs, config.GroupStore|config.GroupLink, args, func() {
		name = fs.String("name", "", "workspace name (required)")
		email = fs.String("owner-email", "", "e-mail address of the owner (required)")
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
	s, mk, closeData, err := openSealedData(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeData()
	tokens, err := tokenKey(mk)
	if err != nil {
		return err
	}
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
	fmt.Fprintf(env.Stdout, "workspace %s created\n", ws.ID)
	fmt.Fprintf(env.Stdout, "owner set-up link for %s (valid %s, works once):\n%s/invite/%s\n",
		strings.ToLower(*email), InvitationTTL, cfg.BaseURL(), token.Reveal())
	return nil
}

// workspaceRow is one workspace as `workspace list` shows it.
type workspaceRow struct {
	ID   palisade.WorkspaceID `json:"id"`
	Name string               `json:"name"`
	// Status is active or suspended.
	Status          string     `json:"status"`
	SuspendedAt     *time.Time `json:"suspended_at,omitempty"`
	SuspendedReason string     `json:"suspended_reason,omitempty"`
	// Plan is the billing plan and PlanStatus its subscription's state;
	// both empty for a workspace that never subscribed.
	Plan       string    `json:"plan"`
	PlanStatus string    `json:"plan_status"`
	Members    int       `json:"members"`
	CreatedAt  time.Time `json:"created_at"`
}

func runWorkspaceList(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "workspace list", "workspace list [--json] [store flags]\n\n"+
		"Lists every workspace, oldest first: id, name, status (active or suspended), billing plan\n"+
		"and its subscription status, member count and creation time.")
	var asJSON *bool
	cfg, help, err := loadConfig(env, fs, config.GroupStore, args, func() {
		asJSON = fs.Bool("json", false, "print a JSON array instead of a table")
	})
	if help || err != nil {
		return err
	}
	s, _, closeData, err := openData(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeData()
	ids, err := s.ListWorkspaceIDs(ctx)
	if err != nil {
		return err
	}
	rows := make([]workspaceRow, 0, len(ids))
	for _, id := range ids {
		scope := palisade.ScopeFor(id)
		w, err := s.GetWorkspace(ctx, scope)
		if err != nil {
			return fmt.Errorf("reading workspace %s: %w", id, err)
		}
		members, err := s.ListMembers(ctx, scope)
		if err != nil {
			return fmt.Errorf("counting the members of %s: %w", id, err)
		}
		row := workspaceRow{ID: w.ID, Name: w.Name, Status: "active", Members: len(members), CreatedAt: w.CreatedAt}
		if w.Suspended() {
			row.Status, row.SuspendedAt, row.SuspendedReason = "suspended", w.SuspendedAt, w.SuspendedReason
		}
		switch plan, err := s.GetWorkspacePlan(ctx, scope); {
		case err == nil:
			row.Plan, row.PlanStatus = plan.Plan, plan.Status
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("reading the plan of %s: %w", id, err)
		}
		rows = append(rows, row)
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tPLAN\tMEMBERS\tCREATED")
	for _, r := range rows {
		status := r.Status
		if r.SuspendedAt != nil {
			status += " since " + r.SuspendedAt.UTC().Format(time.RFC3339) + ": " + r.SuspendedReason
		}
		plan := "-"
		if r.Plan != "" {
			plan = r.Plan + " (" + r.PlanStatus + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", r.ID, r.Name, status, plan, r.Members, r.CreatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

const suspendHelp = `Suspends a workspace, for abuse or an unpaid bill, until 'palisade workspace resume':

  - its bots stop answering everywhere. The API's message routes, the OpenAI-compatible
    endpoint and the widget answer 403 with code workspace_suspended (the reason is not
    given to them). Channel webhooks (Telegram, Slack, WhatsApp, Discord) are acknowledged
    as usual, so the platforms do not retry, and their messages are dropped: neither kept
    nor answered, and not answered later either. Messages queued before the suspension
    are dropped too.
  - its management API refuses every change (403 workspace_suspended); reads still work.
  - its members can still sign in to the admin UI, where every page of the workspace shows
    that it is suspended, and the reason given here.

Both the platform audit chain and the workspace's own record it, with the reason.
Suspending a suspended workspace again replaces the reason.`

func runWorkspaceSuspend(ctx context.Context, env *Env, args []string, suspend bool) error {
	name, synopsis, about := "workspace resume", "workspace resume ID [store flags]",
		"Resumes a suspended workspace: its bots answer again and its API accepts changes. Messages\n"+
			"sent to it while it was suspended stay unanswered. Both audit chains record it."
	if suspend {
		name, synopsis, about = "workspace suspend", "workspace suspend ID --reason TEXT [store flags]", suspendHelp
	}
	fs := newFlags(env, name, synopsis+"\n\n"+about)
	// The id comes first, before the flags (the flag package stops at the
	// first argument that is not one).
	var rawID string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		rawID, args = args[0], args[1:]
	}
	var reason *string
	cfg, help, err := loadConfig(env, fs, config.GroupStore, args, func() {
		if suspend {
			reason = fs.String("reason", "", fmt.Sprintf("why, in one line of at most %d characters; the workspace's members are shown it (required)", MaxSuspendReason))
		}
	})
	if help || err != nil {
		return err
	}
	if rawID == "" {
		return fmt.Errorf("%w: the workspace id comes first: palisade %s", ErrUsage, synopsis)
	}
	id, err := palisade.ParseWorkspaceID(rawID)
	if err != nil {
		return fmt.Errorf("%w: %q is not a workspace id (ws_…)", ErrUsage, rawID)
	}
	if suspend {
		if err := validate.Name("reason", *reason, MaxSuspendReason); err != nil {
			return fmt.Errorf("%w: --reason: %s", ErrUsage, palisade.ErrorMessage(err))
		}
	}
	s, _, closeData, err := openData(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeData()
	scope := palisade.ScopeFor(id)
	w, err := workspaceOf(ctx, s, id)
	if err != nil {
		return err
	}
	if !suspend && !w.Suspended() {
		fmt.Fprintf(env.Stdout, "workspace %s is not suspended; nothing changed\n", id)
		return nil
	}
	p := store.SuspensionParams{Suspend: suspend, Now: env.Now()}
	e := audit.Entry{Actor: audit.ActorCLI, Action: audit.ActionWorkspaceResumed, Target: string(id), Outcome: audit.OutcomeSuccess,
		Detail: map[string]string{"name": w.Name}}
	if suspend {
		p.Reason = *reason
		e.Action = audit.ActionWorkspaceSuspended
		e.Detail["reason"] = *reason
	}
	if _, err := s.SetWorkspaceSuspension(ctx, scope, p); err != nil {
		return err
	}
	if err := announceChange(ctx, s, string(scope.Workspace())); err != nil {
		return fmt.Errorf("workspace %s changed, but running servers may act on the old state for up to a minute: %w", id, err)
	}
	al := newAuditLogger(env, cfg, s)
	if err := al.RecordPlatform(ctx, e); err != nil {
		return fmt.Errorf("workspace %s changed, but recording it in the audit log failed: %w", id, err)
	}
	if err := al.Record(ctx, scope, e); err != nil {
		return fmt.Errorf("workspace %s changed, but recording it in its audit log failed: %w", id, err)
	}
	if suspend {
		fmt.Fprintf(env.Stdout, "workspace %s (%s) suspended: its bots no longer answer and its API refuses changes\n", id, w.Name)
	} else {
		fmt.Fprintf(env.Stdout, "workspace %s (%s) resumed\n", id, w.Name)
	}
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
	s, _, closeData, err := openSealedData(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeData()
	scope := palisade.ScopeFor(palisade.WorkspaceID(id))
	w, err := workspaceOf(ctx, s, palisade.WorkspaceID(id))
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
	if err := announceChange(ctx, s, string(scope.Workspace())); err != nil {
		return fmt.Errorf("workspace %s deleted, but running servers may act on the old state for up to a minute: %w", id, err)
	}
	al.checkpoint()
	fmt.Fprintf(env.Stdout, "workspace %s deleted\n", id)
	return nil
}
