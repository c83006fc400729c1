package cli

import (
	"context"
	"encoding/json"
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

const apikeyUsage = `Usage: palisade apikey <create|list> [flags]

  create    create an API key for a workspace and print it once
  list      list a workspace's API keys (never their secret)

Run 'palisade apikey <subcommand> --help' for its flags.`

func runAPIKey(ctx context.Context, env *Env, args []string) error {
	return runSubcommand(ctx, env, "apikey", apikeyUsage, args, map[string]commandFunc{
		"create": runAPIKeyCreate,
		"list":   runAPIKeyList,
	})
}

func runAPIKeyCreate(ctx context.Context, env *Env, args []string) error {
	const synopsis = "apikey create --workspace ID --name NAME --scopes a,b [--expires-in 720h]"
	fs := newFlags(env, "apikey create", synopsis+" [store flags]\n\n"+
		"Creates an API key and prints it once; only its hash is stored.")
	var wsFlag, name, scopes *string
	var expires *time.Duration
	cfg, help, err := loadConfig(env, fs, config.GroupStore, args, func() {
		wsFlag = fs.String("workspace", "", "workspace id (required)")
		name = fs.String("name", "", "a name to recognise the key by (required)")
		scopes = fs.String("scopes", "", "comma-separated scopes, e.g. bots:read,messages:send (required)")
		expires = fs.Duration("expires-in", 0, "expire the key after this long (default: never)")
	})
	if help || err != nil {
		return err
	}
	ws, err := palisade.ParseWorkspaceID(*wsFlag)
	if err != nil {
		return fmt.Errorf("%w: --workspace must be a workspace id (ws_…)", ErrUsage)
	}
	if err := validate.Name("name", *name, 100); err != nil {
		return fmt.Errorf("%w: --name: %s", ErrUsage, palisade.ErrorMessage(err))
	}
	sc, err := auth.ParseScopes(*scopes)
	if err != nil {
		return fmt.Errorf("%w: --scopes: %s", ErrUsage, palisade.ErrorMessage(err))
	}
	if *expires < 0 {
		return fmt.Errorf("%w: --expires-in must be positive", ErrUsage)
	}
	s, _, closeData, err := openData(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeData()
	scope := palisade.ScopeFor(ws)
	if _, err := workspaceOf(ctx, s, ws); err != nil {
		return err
	}
	now := env.Now()
	var exp *time.Time
	if *expires > 0 {
		t := now.Add(*expires)
		exp = &t
	}
	plaintext, prefix, hash := auth.NewAPIKey()
	k, err := s.CreateAPIKey(ctx, scope, store.CreateAPIKeyParams{Name: *name, Prefix: prefix, Hash: hash,
		Scopes: scopeStrings(sc), Now: now, ExpiresAt: exp})
	if err != nil {
		return err
	}
	// Recorded before the key is shown: a key is never handed out unaudited.
	detail := map[string]string{"name": k.Name, "scopes": auth.FormatScopes(sc), "prefix": k.Prefix}
	if exp != nil {
		detail["expires_at"] = exp.UTC().Format(time.RFC3339)
	}
	if err := newAuditLogger(env, cfg, s).Record(ctx, scope, audit.Entry{Actor: audit.ActorCLI, Action: audit.ActionAPIKeyCreated,
		Target: string(k.ID), Outcome: audit.OutcomeSuccess, Detail: detail}); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "API key %s created with scopes %s; it is shown once, store it now:\n", k.ID, auth.FormatScopes(sc))
	fmt.Fprintln(env.Stdout, plaintext.Reveal())
	return nil
}

func scopeStrings(sc []auth.Scope) []string {
	out := make([]string, len(sc))
	for i, s := range sc {
		out[i] = string(s)
	}
	return out
}

// apiKeyRow is one key as `apikey list` shows it: what identifies and
// describes it, never the key or its hash, nor its lookup prefix, which is
// the start of the key.
type apiKeyRow struct {
	ID         palisade.APIKeyID `json:"id"`
	Name       string            `json:"name"`
	Scopes     []string          `json:"scopes"`
	Status     string            `json:"status"`
	CreatedBy  string            `json:"created_by"`
	CreatedAt  time.Time         `json:"created_at"`
	ExpiresAt  *time.Time        `json:"expires_at,omitempty"`
	LastUsedAt *time.Time        `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time        `json:"revoked_at,omitempty"`
}

func runAPIKeyList(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "apikey list", "apikey list --workspace ID [--json] [store flags]\n\n"+
		"Lists the workspace's API keys, oldest first: id, name, scopes, status (active, expired or\n"+
		"revoked), who made it, and when it was made, last used, expires and was revoked. A key\n"+
		"itself is shown once, when it is made, and stored only as a hash: neither is listed.")
	var wsFlag *string
	var asJSON *bool
	cfg, help, err := loadConfig(env, fs, config.GroupStore, args, func() {
		wsFlag = fs.String("workspace", "", "workspace id (required)")
		asJSON = fs.Bool("json", false, "print a JSON array instead of a table")
	})
	if help || err != nil {
		return err
	}
	ws, err := palisade.ParseWorkspaceID(*wsFlag)
	if err != nil {
		return fmt.Errorf("%w: --workspace must be a workspace id (ws_…)", ErrUsage)
	}
	s, _, closeData, err := openData(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeData()
	scope := palisade.ScopeFor(ws)
	if _, err := workspaceOf(ctx, s, ws); err != nil {
		return err
	}
	keys, err := s.ListAPIKeys(ctx, scope)
	if err != nil {
		return err
	}
	now := env.Now()
	rows := make([]apiKeyRow, 0, len(keys))
	for _, k := range keys {
		r := apiKeyRow{ID: k.ID, Name: k.Name, Scopes: k.Scopes, Status: "active", CreatedBy: "operator (cli)", CreatedAt: k.CreatedAt,
			ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
		if r.Scopes == nil {
			r.Scopes = []string{}
		}
		switch {
		case k.RevokedAt != nil:
			r.Status = "revoked"
		case !k.Usable(now):
			r.Status = "expired"
		}
		switch {
		case k.CreatorEmail != "":
			r.CreatedBy = k.CreatorEmail
		case k.CreatedBy != "":
			r.CreatedBy = string(k.CreatedBy) + " (no longer a user)"
		}
		rows = append(rows, r)
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tSTATUS\tCREATED BY\tCREATED\tLAST USED\tEXPIRES\tREVOKED")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Name, strings.Join(r.Scopes, ","), r.Status, r.CreatedBy,
			r.CreatedAt.UTC().Format(time.RFC3339), timeOrDash(r.LastUsedAt), timeOrDash(r.ExpiresAt), timeOrDash(r.RevokedAt))
	}
	return tw.Flush()
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
