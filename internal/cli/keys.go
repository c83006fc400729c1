package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// openKeyring loads the master key, opens the key store apart from the data
// (keys.db in the data directory, or the palisade_keys schema), and the
// keyring over them: built once per process and handed to the store as its
// Sealer. The returned function closes the key store.
func openKeyring(ctx context.Context, cfg config.Config) (*seal.Keyring, func() error, error) {
	mk, err := loadMasterKey(cfg)
	if err != nil {
		return nil, nil, err
	}
	return openKeyringWith(ctx, cfg, mk, seal.Options{})
}

// keyStore is either dialect's key store.
type keyStore interface {
	seal.KeyStore
	Close() error
}

// openKeyStore opens the key store of the configured dialect.
func openKeyStore(ctx context.Context, cfg config.Config, master seal.MasterKey) (keyStore, error) {
	if cfg.Postgres() {
		key, err := postgres.DeriveScopeKey(master)
		if err != nil {
			return nil, err
		}
		defer clear(key)
		return postgres.OpenKeyStore(ctx, cfg.DatabaseURL.Reveal(), key)
	}
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	return sqlite.OpenKeyStore(ctx, filepath.Join(cfg.DataDir, sqlite.KeyFileName))
}

// openKeyringWith is openKeyring for a caller that holds the master key
// already (serve also derives the gateway-token key from it).
func openKeyringWith(ctx context.Context, cfg config.Config, mk seal.MasterKey, opts seal.Options) (*seal.Keyring, func() error, error) {
	ks, err := openKeyStore(ctx, cfg, mk)
	if err != nil {
		return nil, nil, err
	}
	return keyringOver(ctx, ks, mk, opts)
}

// keyringOver opens the keyring over an open key store, which it closes on
// error.
func keyringOver(ctx context.Context, ks keyStore, mk seal.MasterKey, opts seal.Options) (*seal.Keyring, func() error, error) {
	k, err := seal.NewKeyring(ctx, mk, ks, opts)
	if err != nil {
		ks.Close()
		return nil, nil, fmt.Errorf("opening the keyring: %w", err)
	}
	return k, ks.Close, nil
}

// openSealedStore opens the store with the keyring as its Sealer.
// openData is how a CLI command opens the data: the master key, then the
// store; the closer closes the store.
func openData(ctx context.Context, cfg config.Config) (store.Store, seal.MasterKey, func(), error) {
	mk, err := loadMasterKey(cfg)
	if err != nil {
		return nil, seal.MasterKey{}, nil, err
	}
	s, err := openStore(ctx, cfg, mk, store.Options{})
	if err != nil {
		return nil, seal.MasterKey{}, nil, err
	}
	return s, mk, func() { _ = s.Close() }, nil
}

// openSealedData is openData for a command that reads or writes sealed
// fields: the store seals through the keyring, closed with it.
func openSealedData(ctx context.Context, cfg config.Config) (store.Store, seal.MasterKey, func(), error) {
	mk, err := loadMasterKey(cfg)
	if err != nil {
		return nil, seal.MasterKey{}, nil, err
	}
	s, _, closeAll, err := openSealedStore(ctx, cfg, mk, store.Options{})
	if err != nil {
		return nil, seal.MasterKey{}, nil, err
	}
	return s, mk, closeAll, nil
}

func openSealedStore(ctx context.Context, cfg config.Config, mk seal.MasterKey, opts store.Options) (store.Store, *seal.Keyring, func(), error) {
	k, closeKeys, err := openKeyringWith(ctx, cfg, mk, seal.Options{})
	if err != nil {
		return nil, nil, nil, err
	}
	opts.Sealer = k
	s, err := openStore(ctx, cfg, mk, opts)
	if err != nil {
		closeKeys()
		return nil, nil, nil, err
	}
	return s, k, func() { s.Close(); closeKeys() }, nil
}

const keysUsage = `Usage: palisade keys <rotate|reencrypt|status> [flags]

  rotate      add a key-encryption key (KEK), rewrap every data key under it,
              and retire the KEKs that no longer wrap anything; on PostgreSQL
              as the admin role (the --database-url of ` + "`palisade migrate`" + `)
  reencrypt   per workspace: a new data key, every sealed field resealed under
              it (in batches; resumable), then the old data keys retired
  status      the KEKs and how many data keys each wraps

All three work on SQLite and PostgreSQL while the server runs.`

func runKeys(ctx context.Context, env *Env, args []string) error {
	return runSubcommand(ctx, env, "keys", keysUsage, args, map[string]commandFunc{
		"rotate":    runKeysRotate,
		"reencrypt": runKeysReencrypt,
		"status":    runKeysStatus,
	})
}

func runKeysStatus(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "keys status", "keys status [store flags]\n\nLists the key-encryption keys and how many data keys each wraps.")
	cfg, help, err := loadConfig(env, fs, config.GroupStore, args, nil)
	if help || err != nil {
		return err
	}
	k, closeKeys, err := openKeyring(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeKeys()
	return printKEKs(ctx, env.Stdout, k)
}

func printKEKs(ctx context.Context, w io.Writer, k *seal.Keyring) error {
	list, err := k.KEKs(ctx)
	if err != nil {
		return err
	}
	for _, i := range list {
		cur := ""
		if i.Current {
			cur = " (current)"
		}
		fmt.Fprintf(w, "KEK v%d%s created %s, wraps %d data key(s)\n", i.Version, cur, i.CreatedAt.Format("2006-01-02 15:04:05Z07:00"), i.DataKeys)
	}
	return nil
}

// retireUnusedKEKs retires every KEK that is not current and wraps no data
// key; it reports the versions retired.
func retireUnusedKEKs(ctx context.Context, k *seal.Keyring) ([]uint32, error) {
	list, err := k.KEKs(ctx)
	if err != nil {
		return nil, err
	}
	var out []uint32
	for _, i := range list {
		if i.Current || i.DataKeys > 0 {
			continue
		}
		switch err := k.RetireKEK(ctx, i.Version); {
		case errors.Is(err, seal.ErrKeyInUse), errors.Is(err, seal.ErrKeyNotFound):
			// Another process wrapped a key with it meanwhile, or
			// retired it first: leave it to the next run.
		case errors.Is(err, postgres.ErrKEKsReadOnly):
			// reencrypt as the runtime role: the next `keys rotate`, as
			// the admin role, retires it.
			return out, nil
		case err != nil:
			return out, err
		default:
			out = append(out, i.Version)
		}
	}
	return out, nil
}

func runKeysRotate(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "keys rotate", "keys rotate [store flags]\n\n"+
		"Adds a key-encryption key, makes it current, rewraps every data key under it and\n"+
		"retires the old KEKs once nothing uses them. Sealed fields are not touched.")
	cfg, help, err := loadConfig(env, fs, config.GroupStore, args, nil)
	if help || err != nil {
		return err
	}
	mk, err := loadMasterKey(cfg)
	if err != nil {
		return err
	}
	ks, err := openKeyStore(ctx, cfg, mk)
	if err != nil {
		return err
	}
	if pg, ok := ks.(*postgres.KeyStore); ok {
		// The runtime role may only read the KEKs, so that nothing it is
		// made to run can delete or replace them: rotating is the admin
		// role's, like migrating.
		manages, err := pg.ManagesKEKs(ctx)
		if err != nil {
			ks.Close()
			return err
		}
		if !manages {
			ks.Close()
			return fmt.Errorf("%w: keys rotate changes the key-encryption keys, which only the admin role may: "+
				"run it with the --database-url that `palisade migrate` uses", ErrUsage)
		}
		// The data store is opened only to record the rotation in the
		// platform audit log, as that same admin role.
		cfg.UnsafeAllowPrivilegedDBRole = true
	}
	k, closeKeys, err := keyringOver(ctx, ks, mk, seal.Options{})
	if err != nil {
		return err
	}
	defer closeKeys()
	s, err := openStore(ctx, cfg, mk, store.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	v, err := k.RotateKEK(ctx)
	if err != nil {
		return err
	}
	// A second pass catches a data key another process made under the old
	// KEK while the first ran, before that KEK is retired.
	if _, err := k.RewrapDataKeys(ctx); err != nil {
		return fmt.Errorf("KEK v%d is current, but rewrapping stopped (run it again): %w", v, err)
	}
	n := 0
	if list, err := k.KEKs(ctx); err == nil {
		for _, i := range list {
			if i.Version == v {
				n = i.DataKeys
			}
		}
	}
	fmt.Fprintf(env.Stdout, "KEK v%d is current and wraps %d data key(s)\n", v, n)
	retired, err := retireUnusedKEKs(ctx, k)
	for _, r := range retired {
		fmt.Fprintf(env.Stdout, "retired KEK v%d\n", r)
	}
	if err != nil {
		return err
	}
	return newAuditLogger(env, cfg, s).RecordPlatform(ctx, audit.Entry{Actor: audit.ActorCLI, Action: audit.ActionKeyRotated,
		Target: "kek", Outcome: audit.OutcomeSuccess,
		Detail: map[string]string{"kek_version": strconv.FormatUint(uint64(v), 10), "retired": joinVersions(retired)}})
}

func joinVersions(vs []uint32) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = "v" + strconv.FormatUint(uint64(v), 10)
	}
	return strings.Join(s, ",")
}

func runKeysReencrypt(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "keys reencrypt", "keys reencrypt [--workspace ID] [--batch N] [store flags]\n\n"+
		"For each workspace: makes a new data key (unless a previous run was interrupted, which\n"+
		"it then resumes), reseals every sealed field under it in batches, and retires the old\n"+
		"data keys; finally rewraps data keys under the current KEK and retires unused KEKs.")
	var wsFlag *string
	var batch *int
	var settle *time.Duration
	cfg, help, err := loadConfig(env, fs, config.GroupStore, args, func() {
		wsFlag = fs.String("workspace", "", "only this workspace (default: all)")
		batch = fs.Int("batch", 200, "fields per batch (each batch is a short transaction)")
		settle = fs.Duration("settle", time.Minute+5*time.Second, "wait after making new data keys, for running servers to stop sealing under the old ones (their key cache lifetime); 0 when no server runs")
	})
	if help || err != nil {
		return err
	}
	if *batch < 1 || *batch > 10000 {
		return fmt.Errorf("%w: --batch must be between 1 and 10000", ErrUsage)
	}
	mk, err := loadMasterKey(cfg)
	if err != nil {
		return err
	}
	s, k, closeAll, err := openSealedStore(ctx, cfg, mk, store.Options{})
	if err != nil {
		return err
	}
	defer closeAll()
	var ids []palisade.WorkspaceID
	if *wsFlag != "" {
		ws, err := palisade.ParseWorkspaceID(*wsFlag)
		if err != nil {
			return fmt.Errorf("%w: --workspace must be a workspace id (ws_…)", ErrUsage)
		}
		ids = []palisade.WorkspaceID{ws}
	} else if ids, err = s.ListWorkspaceIDs(ctx); err != nil {
		return err
	}
	total := 0
	counts := make([]int, len(ids))
	for i, ws := range ids {
		if counts[i], err = s.CountSealedFields(ctx, palisade.ScopeFor(ws)); err != nil {
			return fmt.Errorf("counting sealed fields of %s: %w", ws, err)
		}
		total += counts[i]
	}
	// Phase 1: a new data key for every workspace that has sealed
	// anything, unless an interrupted run left one pending.
	var todo []int
	for i, ws := range ids {
		need, err := rotateForReencrypt(ctx, k, ws, counts[i])
		if err != nil {
			return fmt.Errorf("rotating the data key of %s: %w", ws, err)
		}
		if need {
			todo = append(todo, i)
		}
	}
	// Phase 2: a running server keeps sealing under the previous data key
	// until its cached notion of the current one expires; a field it
	// sealed after the pass went by would be lost with the old key.
	if len(todo) > 0 && *settle > 0 {
		fmt.Fprintf(env.Stderr, "waiting %s for running servers to pick up the new data keys (--settle)\n", *settle)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(*settle):
		}
	}
	// Phase 3: reseal and retire, workspace by workspace.
	bar := &progress{w: env.Stderr, total: total}
	bar.draw()
	var resealed, retired int
	for _, i := range todo {
		n, r, err := resealWorkspace(ctx, s, k, ids[i], *batch, bar)
		resealed += n
		retired += r
		if err != nil {
			bar.finish()
			return fmt.Errorf("reencrypting %s (run it again to resume): %w", ids[i], err)
		}
	}
	bar.finish()
	if _, err := k.RewrapDataKeys(ctx); err != nil {
		return err
	}
	keks, err := retireUnusedKEKs(ctx, k)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "resealed %d of %d field(s) in %d workspace(s); retired %d old data key(s)\n", resealed, total, len(ids), retired)
	for _, v := range keks {
		fmt.Fprintf(env.Stdout, "retired KEK v%d\n", v)
	}
	return newAuditLogger(env, cfg, s).RecordPlatform(ctx, audit.Entry{Actor: audit.ActorCLI, Action: audit.ActionKeyRotated,
		Target: "data_keys", Outcome: audit.OutcomeSuccess,
		Detail: map[string]string{"resealed": strconv.Itoa(resealed), "workspaces": strconv.Itoa(len(ids)), "retired_keks": joinVersions(keks)}})
}

// rotateForReencrypt gives the workspace a new data key unless a rotation
// is pending (more than one version: an earlier run stopped half-way, and
// resealing everything under the current version finishes it). It reports
// whether the workspace has anything to reseal.
func rotateForReencrypt(ctx context.Context, k *seal.Keyring, ws palisade.WorkspaceID, fields int) (bool, error) {
	versions, err := k.DataKeyVersions(ctx, ws)
	if errors.Is(err, seal.ErrKeyDestroyed) {
		return false, nil // being deleted: nothing of it opens any more
	}
	if err != nil {
		return false, err
	}
	if len(versions) == 0 && fields == 0 {
		return false, nil // never sealed anything
	}
	if len(versions) <= 1 {
		if _, err := k.RotateDataKey(ctx, ws); err != nil {
			return false, err
		}
	}
	return true, nil
}

// resealWorkspace reseals every sealed field of the workspace under its
// current data key, batch by batch, then retires the older versions.
func resealWorkspace(ctx context.Context, s store.Store, k *seal.Keyring, ws palisade.WorkspaceID, batch int, bar *progress) (resealed, retired int, err error) {
	scope := palisade.ScopeFor(ws)
	cur := store.ResealCursor{}
	for {
		res, err := s.ResealFields(ctx, scope, cur, batch)
		resealed += res.Changed
		bar.add(res.Seen)
		if err != nil {
			return resealed, 0, err
		}
		if res.Done {
			break
		}
		cur = res.Next
	}
	retired, err = k.RetireDataKeys(ctx, ws)
	return resealed, retired, err
}

// progress draws `[#####.....] 512/1024 fields` on one line of stderr.
type progress struct {
	w           io.Writer
	done, total int
}

func (p *progress) add(n int) {
	p.done += n
	// Fields written while the pass runs are counted too.
	p.total = max(p.total, p.done)
	p.draw()
}

func (p *progress) draw() {
	const width = 30
	filled := width
	if p.total > 0 {
		filled = min(width, p.done*width/p.total)
	}
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d fields", strings.Repeat("#", filled), strings.Repeat(".", width-filled), p.done, p.total)
}

func (p *progress) finish() { fmt.Fprintln(p.w) }
