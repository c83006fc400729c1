package cli

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/store"
)

// ErrAuditTampered is returned by `audit verify` when a chain is broken; the
// wrapped text names the first bad entry of each broken chain.
var ErrAuditTampered = errors.New("the audit log has been tampered with")

func runAudit(ctx context.Context, env *Env, args []string) error {
	const synopsis = "audit verify [store flags]"
	if len(args) == 0 || args[0] != "verify" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			fmt.Fprintln(env.Stdout, "Usage: palisade "+synopsis)
			return nil
		}
		fmt.Fprintln(env.Stderr, "Usage: palisade "+synopsis)
		return ErrUsage
	}
	fs := newFlags(env, "audit verify", synopsis+"\n\n"+
		"Walks the platform audit chain and every workspace's chain, recomputing each entry's\n"+
		"hash and its link to the one before, and names the first edited, deleted or reordered\n"+
		"entry of each chain. Exits non-zero when any chain is broken.")
	cfg, help, err := loadConfig(env, fs, config.GroupStore, args[1:], nil)
	if help || err != nil {
		return err
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
	var entries int64
	var problems []error
	results, err := audit.VerifyAll(ctx, s, func(r audit.Result) {
		entries += r.Entries
		if r.OK() {
			head := "-"
			if r.Entries > 0 {
				head = hex.EncodeToString(r.Head)[:16]
			}
			fmt.Fprintf(env.Stdout, "ok    %s: %d entries, head %s\n", r.Chain, r.Entries, head)
			return
		}
		problems = append(problems, r.Problem)
		fmt.Fprintf(env.Stdout, "FAIL  %s\n", r.Problem)
	})
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		fmt.Fprintf(env.Stdout, "%d of %d chains broken\n", len(problems), len(results))
		return fmt.Errorf("%w: %w", ErrAuditTampered, errors.Join(problems...))
	}
	fmt.Fprintf(env.Stdout, "all %d chains intact (%d entries)\n", len(results), entries)
	return nil
}

// newAuditLogger is the audit logger of a CLI command, with the process's
// redactor so configured secrets are known to it too.
func newAuditLogger(env *Env, cfg config.Config, s store.Store) *audit.Logger {
	return audit.New(s, audit.Options{Now: env.Now, Redactor: env.Redactor})
}
