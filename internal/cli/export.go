package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/export"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// runWorkspaceExport writes one workspace's export for the operator. The
// file appears only once the export is whole: it is written beside the
// destination under a temporary name and renamed at the end, so a failed
// run never leaves something that looks like an export.
func runWorkspaceExport(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "workspace export", "workspace export ID --out FILE [store flags]\n\n"+
		"Writes all of a workspace's data (members, bots, channels with their secrets redacted, documents,\n"+
		"conversations and messages, the audit log and every other table holding its rows) to FILE as JSON,\n"+
		"readable by its owner only. --out - writes to standard output.")
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	var out *string
	cfg, help, err := loadConfig(env, fs, config.GroupStore, args, func() {
		out = fs.String("out", "", "file to write the export to (required; - for standard output)")
	})
	if help || err != nil {
		return err
	}
	if !palisade.ValidID(palisade.PrefixWorkspace, id) {
		return fmt.Errorf("%w: workspace export needs a workspace id (ws_…) before its flags", ErrUsage)
	}
	if *out == "" {
		return fmt.Errorf("%w: --out is required", ErrUsage)
	}
	s, _, closeData, err := openSealedData(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeData()
	svc := export.New(export.Options{Store: s, Audit: newAuditLogger(env, cfg, s), Now: env.Now})
	c := palisade.Caller{Scope: palisade.ScopeFor(palisade.WorkspaceID(id)), Actor: audit.ActorCLI}
	if err := svc.Start(ctx, c); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("workspace %s does not exist", id)
		}
		return err
	}
	if *out == "-" {
		return svc.Workspace(ctx, c, env.Stdout)
	}
	if err := writeFileAtomically(*out, func(w io.Writer) error { return svc.Workspace(ctx, c, w) }); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "workspace %s exported to %s\n", id, *out)
	return nil
}

// writeFileAtomically writes path, mode 0600, through a temporary file in
// the same directory that is renamed over it only when write succeeded.
func writeFileAtomically(path string, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	if err = write(f); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
