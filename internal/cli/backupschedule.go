package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/palisadehq/palisade/internal/backup"
	"github.com/palisadehq/palisade/internal/config"
)

// scheduledBackups writes a backup every cfg.BackupEvery into the backup
// directory and keeps the newest cfg.BackupKeep of them.
type scheduledBackups struct {
	env    *Env
	cfg    config.Config
	dir    string
	logger *slog.Logger

	stopOnce sync.Once
	cancel   context.CancelFunc
	done     chan struct{}
}

func newScheduledBackups(env *Env, cfg config.Config, logger *slog.Logger) *scheduledBackups {
	dir := cfg.BackupDir
	if dir == "" {
		dir = filepath.Join(cfg.DataDir, "backups")
	}
	return &scheduledBackups{env: env, cfg: cfg, dir: dir, logger: logger, done: make(chan struct{})}
}

// Start checks the recipient and the directory, then runs the schedule
// until Stop or ctx ends. The first backup is one interval after start.
func (b *scheduledBackups) Start(ctx context.Context) error {
	r, err := backup.ParseRecipient(b.cfg.BackupRecipient)
	if err != nil {
		return fmt.Errorf("--backup-recipient: %w", err)
	}
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		return fmt.Errorf("creating the backup directory: %w", err)
	}
	ctx, b.cancel = context.WithCancel(ctx)
	go func() {
		defer close(b.done)
		t := time.NewTicker(b.cfg.BackupEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			name := "palisade-" + b.env.Now().UTC().Format("20060102T150405Z") + ".age"
			m, err := backupTo(ctx, b.env, b.cfg, filepath.Join(b.dir, name), r, func(string, int64, int64) {})
			if err != nil {
				b.logger.Error("scheduled backup failed", "err", err)
				continue
			}
			b.logger.Info("scheduled backup written", "backup_id", m.ID, "file", name)
			if err := pruneBackups(b.dir, b.cfg.BackupKeep); err != nil {
				b.logger.Error("removing old backups failed", "err", err)
			}
		}
	}()
	return nil
}

// Stop ends the schedule and waits for a backup under way; calling it
// again does nothing.
func (b *scheduledBackups) Stop() {
	b.stopOnce.Do(func() {
		if b.cancel != nil {
			b.cancel()
			<-b.done
		}
	})
}

// pruneBackups keeps the newest keep scheduled backups in dir (their
// names sort by time) with their key archives.
func pruneBackups(dir string, keep int) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if !e.IsDir() && strings.HasPrefix(n, "palisade-") && strings.HasSuffix(n, ".age") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var errs []error
	for len(names) > keep {
		for _, p := range []string{names[0], names[0] + KeysSuffix} {
			if err := os.Remove(filepath.Join(dir, p)); err != nil && !os.IsNotExist(err) {
				errs = append(errs, err)
			}
		}
		names = names[1:]
	}
	if len(errs) > 0 {
		return fmt.Errorf("removing old backups: %v", errs)
	}
	return nil
}
