package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"filippo.io/age"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/backup"
	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/dirlock"
	"github.com/palisadehq/palisade/internal/invalidate"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

func runRestore(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "restore", "restore --in FILE --keys FILE.keys --identity AGE_IDENTITY_FILE [--revive-deleted] [store flags]\n\n"+
		"Replaces the data and the data keys with a backup's, after decrypting and verifying both archives\n"+
		"whole (a flipped byte or a cut-short file is refused before anything is replaced). The server must\n"+
		"be stopped. On PostgreSQL give the admin role's --database-url, on a database migrated to the\n"+
		"backup's version (palisade migrate). Workspaces deleted after the backup was made are listed and deleted again, keys first,\n"+
		"unless --revive-deleted is given. The master key must be the one the backup was made under.")
	var in, keys, identity *string
	var revive *bool
	cfg, help, err := loadConfig(env, fs, config.GroupStore, args, func() {
		in = fs.String("in", "", "the data archive (required)")
		keys = fs.String("keys", "", "the key archive (default: the data archive's name with .keys)")
		identity = fs.String("identity", "", "age identity file (AGE-SECRET-KEY-1…) the archives were encrypted for (required)")
		revive = fs.Bool("revive-deleted", false, "keep workspaces that were deleted after the backup was made instead of deleting them again")
	})
	if help || err != nil {
		return err
	}
	if *in == "" || *identity == "" {
		return fmt.Errorf("%w: --in and --identity are required", ErrUsage)
	}
	if *keys == "" {
		*keys = *in + KeysSuffix
	}
	ids, err := backup.ReadIdentities(*identity)
	if err != nil {
		return err
	}
	if cfg.Postgres() {
		return restorePostgres(ctx, env, cfg, *in, *keys, ids, *revive)
	}
	// No server may run on the data while it is replaced.
	for _, part := range []string{"web", "worker", "gateway"} {
		l, err := dirlock.Acquire(cfg.DataDir, "serve-"+part)
		if err != nil {
			return fmt.Errorf("a palisade serve is running on %s: stop it before restoring (%w)", cfg.DataDir, err)
		}
		defer l.Release()
	}
	return restoreFrom(ctx, env, cfg, *in, *keys, ids, *revive)
}

// extractArchive decrypts and verifies one archive into dir.
func extractArchive(env *Env, path string, ids []age.Identity, dir, kind string, dialect store.Dialect) (backup.Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return backup.Manifest{}, fmt.Errorf("opening the %s archive: %w", kind, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return backup.Manifest{}, fmt.Errorf("opening the %s archive: %w", kind, err)
	}
	p := progressTo(env.Stderr)
	m, err := backup.Extract(f, ids, dir, func(done int64) { p("verifying "+kind, min(done, fi.Size()), fi.Size()) })
	if err != nil {
		return m, fmt.Errorf("%s: %w", path, err)
	}
	if m.Kind != kind || m.Dialect != string(dialect) {
		return m, fmt.Errorf("%s: %w: it is a %s archive of %s, not a %s archive of %s", path, backup.ErrInvalid, m.Kind, m.Dialect, kind, dialect)
	}
	return m, nil
}

func restoreFrom(ctx context.Context, env *Env, cfg config.Config, in, keys string, ids []age.Identity, revive bool) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating the data directory: %w", err)
	}
	// Extracted inside the data directory, so that putting the files in
	// place is a rename on one file system.
	tmp, err := os.MkdirTemp(cfg.DataDir, ".restore-*")
	if err != nil {
		return fmt.Errorf("creating a work directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	dm, err := extractArchive(env, in, ids, tmp, backup.KindData, store.DialectSQLite)
	if err != nil {
		return err
	}
	km, err := extractArchive(env, keys, ids, tmp, backup.KindKeys, store.DialectSQLite)
	if err != nil {
		return err
	}
	if dm.ID != km.ID {
		return fmt.Errorf("%w: the data archive is of backup %s and the key archive of backup %s", backup.ErrInvalid, dm.ID, km.ID)
	}
	dataFile, keyFile := filepath.Join(tmp, "palisade.db"), filepath.Join(tmp, sqlite.KeyFileName)
	for _, p := range []string{dataFile, keyFile} {
		if err := sqlite.CheckFile(ctx, p); err != nil {
			return fmt.Errorf("%w: %v", backup.ErrInvalid, err)
		}
	}
	mk, err := loadMasterKey(cfg)
	if err != nil {
		return err
	}
	// Which workspaces were deleted since the backup: the current data's
	// platform chain says, when there is current data.
	dataPath, keyPath := filepath.Join(cfg.DataDir, "palisade.db"), filepath.Join(cfg.DataDir, sqlite.KeyFileName)
	deleted, err := deletedSince(ctx, dataPath, dm)
	if err != nil {
		return err
	}
	// Everything verified: replace. The key file first: a crash between
	// the two renames leaves old data with newer keys, which still opens.
	for _, side := range []string{"-wal", "-shm"} {
		for _, p := range []string{dataPath, keyPath} {
			if err := os.Remove(p + side); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("removing %s: %w", p+side, err)
			}
		}
	}
	if err := os.Rename(keyFile, keyPath); err != nil {
		return fmt.Errorf("putting the keys in place: %w", err)
	}
	if err := os.Rename(dataFile, dataPath); err != nil {
		return fmt.Errorf("putting the data in place: %w", err)
	}
	fmt.Fprintf(env.Stderr, "restored backup %s made at %s\n", dm.ID, dm.CreatedAt.Format("2006-01-02T15:04:05Z"))

	return afterRestore(ctx, env, cfg, mk, dm, deleted, revive)
}

// afterRestore records the restore in the platform chain, deletes again
// (keys first) the workspaces deleted since the backup unless revive, and
// starts the audit checkpoints afresh from the restored chains' heads.
func afterRestore(ctx context.Context, env *Env, cfg config.Config, mk seal.MasterKey, dm backup.Manifest, deleted []palisade.WorkspaceID, revive bool) error {
	s, _, closeAll, err := openSealedStore(ctx, cfg, mk, store.Options{})
	if err != nil {
		return err
	}
	defer closeAll()
	akeys, err := audit.NewKeys(mk)
	if err != nil {
		return err
	}
	// No checkpointer here: the file's heads are ahead of the restored
	// chains by design, and are replaced below.
	al := audit.New(s, audit.Options{Redactor: env.Redactor, Keys: akeys})
	if err := al.RecordPlatform(ctx, audit.Entry{Actor: audit.ActorCLI, Action: audit.ActionBackupRestored, Target: dm.ID, Outcome: audit.OutcomeSuccess,
		Detail: map[string]string{audit.DetailBackupTime: dm.CreatedAt.Format("2006-01-02T15:04:05Z")}}); err != nil {
		return err
	}
	var back []palisade.WorkspaceID
	for _, ws := range deleted {
		if _, err := s.GetWorkspace(ctx, palisade.ScopeFor(ws)); err == nil {
			back = append(back, ws)
		}
	}
	for _, ws := range back {
		if revive {
			fmt.Fprintf(env.Stderr, "workspace %s was deleted after this backup was made; revived (--revive-deleted)\n", ws)
			continue
		}
		fmt.Fprintf(env.Stderr, "workspace %s was deleted after this backup was made; deleting it again (--revive-deleted keeps it)\n", ws)
		if err := al.DeleteWorkspace(ctx, s, palisade.ScopeFor(ws), audit.Entry{Actor: audit.ActorCLI,
			Detail: map[string]string{"reason": "deleted after the restored backup was made"}}); err != nil {
			return err
		}
	}
	heads, err := chainHeads(ctx, s)
	if err != nil {
		return err
	}
	if err := audit.ResetCheckpoints(auditCheckpointPath(cfg), akeys, heads, env.Now()); err != nil {
		return err
	}
	// Every key, member and bot may differ from what a running server
	// cached.
	if err := announceChange(ctx, s, invalidate.All); err != nil {
		return fmt.Errorf("restored, but running servers may act on the old data for up to a minute: %w", err)
	}
	return nil
}

// deletedSince lists the workspaces the platform chain of the database at
// path records as deleted after the backup was made.
func deletedSince(ctx context.Context, path string, m backup.Manifest) ([]palisade.WorkspaceID, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	s, err := sqlite.Open(ctx, path, store.Options{})
	if err != nil {
		return nil, fmt.Errorf("reading the current data for workspaces deleted since the backup: %w", err)
	}
	defer s.Close()
	var out []palisade.WorkspaceID
	var before int64
	for {
		page, err := s.ListPlatformAudit(ctx, store.ListAuditParams{BeforeSeq: before, Limit: store.MaxAuditPage})
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			before = e.Seq
			if e.Action == string(audit.ActionWorkspaceDeleted) && !e.CreatedAt.Before(m.CreatedAt) &&
				palisade.ValidID(palisade.PrefixWorkspace, e.Target) && !slices.Contains(out, palisade.WorkspaceID(e.Target)) {
				out = append(out, palisade.WorkspaceID(e.Target))
			}
		}
		if len(page) < store.MaxAuditPage || before <= 1 {
			return out, nil
		}
	}
}

// chainHeads reads the head of the platform chain and of every
// workspace's chain.
func chainHeads(ctx context.Context, s store.Store) ([]audit.Head, error) {
	var heads []audit.Head
	p, err := s.ListPlatformAudit(ctx, store.ListAuditParams{Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(p) == 1 {
		heads = append(heads, audit.Head{Chain: audit.PlatformChain(), Seq: p[0].Seq, Hash: p[0].Hash, Time: p[0].CreatedAt})
	}
	ids, err := s.ListWorkspaceIDs(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		e, err := s.ListAudit(ctx, palisade.ScopeFor(id), store.ListAuditParams{Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(e) == 1 {
			heads = append(heads, audit.Head{Chain: audit.WorkspaceChain(id), Seq: e[0].Seq, Hash: e[0].Hash, Time: e[0].CreatedAt})
		}
	}
	return heads, nil
}

// restorePostgres verifies both archives, then replaces the rows of every
// table of the data and key schemas in one transaction as the role of
// --database-url (the admin role); the database must be migrated to the
// backup's version first (palisade migrate).
func restorePostgres(ctx context.Context, env *Env, cfg config.Config, in, keys string, ids []age.Identity, revive bool) error {
	tmp, err := os.MkdirTemp("", "palisade-restore-*")
	if err != nil {
		return fmt.Errorf("creating a work directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	dataDir, keysDir := filepath.Join(tmp, "data"), filepath.Join(tmp, "keys")
	for _, d := range []string{dataDir, keysDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	dm, err := extractArchive(env, in, ids, dataDir, backup.KindData, store.DialectPostgres)
	if err != nil {
		return err
	}
	km, err := extractArchive(env, keys, ids, keysDir, backup.KindKeys, store.DialectPostgres)
	if err != nil {
		return err
	}
	if dm.ID != km.ID {
		return fmt.Errorf("%w: the data archive is of backup %s and the key archive of backup %s", backup.ErrInvalid, dm.ID, km.ID)
	}
	for _, d := range []string{dataDir, keysDir} {
		m, err := postgres.ReadDumpManifest(d)
		if err != nil {
			return fmt.Errorf("%w: %v", backup.ErrInvalid, err)
		}
		for _, t := range m.Tables {
			if _, err := os.Stat(filepath.Join(d, t.File)); err != nil {
				return fmt.Errorf("%w: table %s has no rows file", backup.ErrInvalid, t.Name)
			}
		}
	}
	mk, err := loadMasterKey(cfg)
	if err != nil {
		return err
	}
	url := cfg.DatabaseURL.Reveal()
	del, err := postgres.DeletedWorkspacesSince(ctx, url, dm.CreatedAt.Format(time.RFC3339))
	if err != nil {
		return err
	}
	var deleted []palisade.WorkspaceID
	for _, d := range del {
		if palisade.ValidID(palisade.PrefixWorkspace, d) {
			deleted = append(deleted, palisade.WorkspaceID(d))
		}
	}
	if err := postgres.Load(ctx, url, dataDir, keysDir, nil); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "restored backup %s made at %s\n", dm.ID, dm.CreatedAt.Format("2006-01-02T15:04:05Z"))
	admin := cfg
	admin.UnsafeAllowPrivilegedDBRole = true
	return afterRestore(ctx, env, admin, mk, dm, deleted, revive)
}
