package cli

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

func runMigrate(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "migrate", "migrate [--data-dir DIR | --database-url ADMIN_URL] [--app-role NAME]\n\n"+
		"On PostgreSQL, connect as the admin role that owns the schema, with the master key the\n"+
		"servers use; migrate creates or updates the runtime role (--app-role) that `serve` then\n"+
		"uses, installs the key the row security policies verify scopes with, and makes the\n"+
		"first key-encryption key.")
	cfg, help, err := loadConfig(env, fs, config.GroupStore|config.GroupMigrate, args, nil)
	if help || err != nil {
		return err
	}
	if cfg.Postgres() {
		// The master key, loaded as serve loads it: migrate installs the
		// scope key derived from it, which the policies verify, and makes
		// the first KEK, which the runtime role may not.
		mk, err := loadMasterKey(cfg)
		if err != nil {
			return err
		}
		res, err := postgres.Migrate(ctx, cfg.DatabaseURL.Reveal(), postgres.MigrateOptions{AppRole: cfg.AppRole, AppPassword: cfg.AppRolePassword, Master: mk})
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "applied %d migration(s)\n", res.Applied)
		if res.RoleCreated {
			fmt.Fprintf(env.Stdout, "created runtime role %s: serve with a --database-url that connects as it\n", cfg.AppRole)
		} else {
			fmt.Fprintf(env.Stdout, "runtime role %s is up to date\n", cfg.AppRole)
		}
		return nil
	}
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return err
	}
	s, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "palisade.db"), store.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintln(env.Stdout, "database is up to date")
	return nil
}
