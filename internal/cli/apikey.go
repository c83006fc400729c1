package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/validate"
)

func runAPIKey(ctx context.Context, env *Env, args []string) error {
	const synopsis = "apikey create --workspace ID --name NAME --scopes a,b [--expires-in 720h]"
	if len(args) == 0 || args[0] != "create" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			fmt.Fprintln(env.Stdout, "Usage: palisade "+synopsis)
			return nil
		}
		fmt.Fprintln(env.Stderr, "Usage: palisade "+synopsis)
		return ErrUsage
	}
	fs := newFlags(env, "apikey create", synopsis+" [store flags]\n\n"+
		"Creates an API key and prints it once; only its hash is stored.")
	var wsFlag, name, scopes *string
	var expires *time.Duration
	cfg, help, err := loadConfig(env, fs, config.GroupStore, args[1:], func() {
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
	mk, err := loadMasterKey(cfg)
	if err != nil {
		return err
	}
	s, err := openStore(ctx, cfg, mk, store.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	scope := palisade.ScopeFor(ws)
	if _, err := s.GetWorkspace(ctx, scope); err != nil {
		if palisade.ErrorCode(err) == palisade.CodeNotFound {
			return fmt.Errorf("no workspace %s", ws)
		}
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
