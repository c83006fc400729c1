package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"filippo.io/age"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/backup"
	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// KeysSuffix names the key archive beside a data archive.
const KeysSuffix = ".keys"

func runBackup(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "backup", "backup --out FILE --recipient AGE_PUBLIC_KEY [store flags]\n\n"+
		"Writes a consistent snapshot of the data to FILE and of the data keys to FILE.keys, each encrypted\n"+
		"and authenticated for the age recipient (age-keygen makes a key pair; keep the identity off this\n"+
		"machine). The server may keep running. Progress goes to standard error. On PostgreSQL, give the admin\n"+
		"role's --database-url: both schemas are read in one REPEATABLE READ transaction.")
	var out, recipient *string
	cfg, help, err := loadConfig(env, fs, config.GroupStore, args, func() {
		out = fs.String("out", "", "file to write the data archive to (required); the key archive goes to FILE.keys")
		recipient = fs.String("recipient", "", "age public key (age1…) the archives are encrypted for (required)")
	})
	if help || err != nil {
		return err
	}
	if *out == "" || *recipient == "" {
		return fmt.Errorf("%w: --out and --recipient are required", ErrUsage)
	}
	r, err := backup.ParseRecipient(*recipient)
	if err != nil {
		return fmt.Errorf("%w: --recipient: %v", ErrUsage, err)
	}
	m, err := backupTo(ctx, env, cfg, *out, r, progressTo(env.Stderr))
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "backup %s written: %s and %s\n", m.ID, *out, *out+KeysSuffix)
	return nil
}

// progressTo prints a progress line to w, at most once per percent.
func progressTo(w io.Writer) func(what string, done, total int64) {
	last := -1
	return func(what string, done, total int64) {
		pct := 100
		if total > 0 {
			pct = int(done * 100 / total)
		}
		if pct == last && done != total {
			return
		}
		last = pct
		fmt.Fprintf(w, "\r%s: %3d%% (%.1f of %.1f MB)", what, pct, float64(done)/1e6, float64(total)/1e6)
		if done == total {
			fmt.Fprintln(w)
			last = -1
		}
	}
}

// backupTo writes the data archive to out and the key archive beside it.
// The data is snapshotted first and the keys after: every key a sealed
// value of the data snapshot needs existed before it, so the later key
// snapshot holds it.
func backupTo(ctx context.Context, env *Env, cfg config.Config, out string, r age.Recipient, progress func(string, int64, int64)) (backup.Manifest, error) {
	idb := make([]byte, 8)
	_, _ = rand.Read(idb)
	dialect := store.DialectSQLite
	if cfg.Postgres() {
		dialect = store.DialectPostgres
	}
	m := backup.Manifest{ID: hex.EncodeToString(idb), Dialect: string(dialect), CreatedAt: env.Now().UTC().Truncate(time.Second),
		Version: buildVersion()}
	tmp, err := os.MkdirTemp(filepath.Dir(out), ".palisade-backup-*")
	if err != nil {
		return m, fmt.Errorf("creating a work directory beside %s: %w", out, err)
	}
	defer os.RemoveAll(tmp)
	write := func(path, kind string, srcs []backup.Source) error {
		mm := m
		mm.Kind = kind
		return writeFileAtomically(path, func(w io.Writer) error {
			return backup.Write(w, r, mm, srcs, func(done, total int64) { progress(kind, done, total) })
		})
	}
	if cfg.Postgres() {
		return m, backupPostgres(ctx, env, cfg, m, tmp, out, write)
	}

	s, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "palisade.db"), store.Options{})
	if err != nil {
		return m, err
	}
	defer s.Close()
	// Recorded first, so the backup holds its own record.
	if err := newAuditLogger(env, cfg, s).RecordPlatform(ctx, audit.Entry{Actor: audit.ActorCLI, Action: audit.ActionBackupCreated, Target: m.ID,
		Outcome: audit.OutcomeSuccess}); err != nil {
		return m, err
	}
	dataSnap := filepath.Join(tmp, "palisade.db")
	if err := s.Snapshot(ctx, dataSnap); err != nil {
		return m, err
	}
	ks, err := sqlite.OpenKeyStore(ctx, filepath.Join(cfg.DataDir, sqlite.KeyFileName))
	if err != nil {
		return m, err
	}
	defer ks.Close()
	keySnap := filepath.Join(tmp, sqlite.KeyFileName)
	if err := ks.Snapshot(ctx, keySnap); err != nil {
		return m, err
	}
	if err := write(out, backup.KindData, []backup.Source{{Name: "palisade.db", Path: dataSnap}}); err != nil {
		return m, err
	}
	if err := write(out+KeysSuffix, backup.KindKeys, []backup.Source{{Name: sqlite.KeyFileName, Path: keySnap}}); err != nil {
		return m, err
	}
	return m, nil
}

// backupPostgres dumps the data schema and the key schema in one
// REPEATABLE READ transaction as the role of --database-url (the admin
// role, which sees every row), then archives each half.
func backupPostgres(ctx context.Context, env *Env, cfg config.Config, m backup.Manifest, tmp, out string,
	write func(path, kind string, srcs []backup.Source) error) error {
	mk, err := loadMasterKey(cfg)
	if err != nil {
		return err
	}
	admin := cfg
	admin.UnsafeAllowPrivilegedDBRole = true
	s, err := openStore(ctx, admin, mk, store.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := newAuditLogger(env, cfg, s).RecordPlatform(ctx, audit.Entry{Actor: audit.ActorCLI, Action: audit.ActionBackupCreated, Target: m.ID,
		Outcome: audit.OutcomeSuccess}); err != nil {
		return err
	}
	dataDir, keysDir := filepath.Join(tmp, "data"), filepath.Join(tmp, "keys")
	for _, d := range []string{dataDir, keysDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	if err := postgres.Dump(ctx, cfg.DatabaseURL.Reveal(), dataDir, keysDir, nil); err != nil {
		return err
	}
	sources := func(dir string) ([]backup.Source, error) {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		var out []backup.Source
		for _, e := range ents {
			out = append(out, backup.Source{Name: e.Name(), Path: filepath.Join(dir, e.Name())})
		}
		return out, nil
	}
	ds, err := sources(dataDir)
	if err != nil {
		return err
	}
	ks, err := sources(keysDir)
	if err != nil {
		return err
	}
	if err := write(out, backup.KindData, ds); err != nil {
		return err
	}
	return write(out+KeysSuffix, backup.KindKeys, ks)
}

func buildVersion() string {
	bi, _ := debug.ReadBuildInfo()
	return VersionLine(bi)
}
