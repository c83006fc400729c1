package cli

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// ErrAuditTampered is returned by `audit verify` when a chain is broken; the
// wrapped text names the first bad entry of each broken chain.
var ErrAuditTampered = errors.New("the audit log has been tampered with")

func runAudit(ctx context.Context, env *Env, args []string) error {
	const synopsis = "audit verify [store flags] [--audit-checkpoint-file FILE]"
	if len(args) == 0 || args[0] != "verify" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			fmt.Fprintln(env.Stdout, "Usage: palisade "+synopsis)
			return nil
		}
		fmt.Fprintln(env.Stderr, "Usage: palisade "+synopsis)
		return ErrUsage
	}
	fs := newFlags(env, "audit verify", synopsis+"\n\n"+
		"Walks the platform audit chain and every workspace's chain, checking each entry's keyed\n"+
		"hash (HMAC under a key derived from the master key), its link to the one before and its\n"+
		"time, and each chain's head against the signed checkpoints in the checkpoint file. Names\n"+
		"the first edited, deleted, reordered, rewritten, forged or backdated entry of each chain,\n"+
		"a tail cut off below its checkpoint, a checkpoint that does not verify, and a deleted\n"+
		"workspace's chain that vanished without a record in the platform chain. Entries written\n"+
		"before chains were keyed are verified as legacy and labelled. Then it checkpoints the\n"+
		"chains that verified. Exits non-zero when anything is wrong.")
	cfg, help, err := loadConfig(env, fs, config.GroupStore, args[1:], nil)
	if help || err != nil {
		return err
	}
	master, err := loadMasterKey(cfg)
	if err != nil {
		return err
	}
	keys, err := audit.NewKeys(master)
	if err != nil {
		return err
	}
	s, err := openStore(ctx, cfg, master, store.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	path := auditCheckpointPath(cfg)
	set, err := audit.ReadCheckpoints(path, keys)
	if err != nil {
		return err
	}
	var entries int64
	var problems []error
	results, err := audit.VerifyAll(ctx, s, audit.VerifyOptions{Keys: keys, Checkpoints: set}, func(r audit.Result) {
		entries += r.Entries
		if r.Problem == nil {
			fmt.Fprintf(env.Stdout, "ok    %s\n", describeChain(r))
		}
		for _, p := range r.Problems() {
			problems = append(problems, p)
			fmt.Fprintf(env.Stdout, "FAIL  %s\n", p)
		}
	})
	if err != nil {
		return err
	}
	// Anchor what verified, so that the next run (and a server's next
	// checkpoint, which never moves one back) starts from here.
	cp := audit.NewCheckpointer(path, keys, audit.CheckpointerOptions{Now: env.Now})
	for _, r := range results {
		if r.Problem == nil && r.Deleted == nil && r.Entries > 0 {
			cp.Note(audit.Head{Chain: r.Chain, Seq: r.Entries, Hash: r.Head, Time: r.HeadTime})
		}
	}
	if err := cp.Flush(); err != nil {
		fmt.Fprintf(env.Stderr, "checkpoints not all written to %s: %v\n", path, err)
	}
	broken := 0
	for _, r := range results {
		if !r.OK() {
			broken++
		}
	}
	if broken > 0 {
		fmt.Fprintf(env.Stdout, "%d of %d chains broken\n", broken, len(results))
		return fmt.Errorf("%w: %w", ErrAuditTampered, errors.Join(problems...))
	}
	fmt.Fprintf(env.Stdout, "all %d chains intact (%d entries)\n", len(results), entries)
	return nil
}

// describeChain is the line of a chain that verified (its checkpoint may
// still be reported on a line of its own).
func describeChain(r audit.Result) string {
	if d := r.Deleted; d != nil {
		head := "-"
		if d.FinalSeq > 0 {
			head = hex.EncodeToString(d.FinalHash)[:16]
		}
		return fmt.Sprintf("%s: deleted, recorded at platform seq %d; its chain ended at seq %d, head %s", r.Chain, d.PlatformSeq, d.FinalSeq, head)
	}
	line := fmt.Sprintf("%s: %d entries", r.Chain, r.Entries)
	if r.Legacy > 0 {
		line += fmt.Sprintf(" (seq 1-%d legacy: unkeyed SHA-256, written before chains were keyed)", r.Legacy)
	}
	head := "-"
	if r.Entries > 0 {
		head = hex.EncodeToString(r.Head)[:16]
	}
	line += ", head " + head
	if r.Checkpoint != nil {
		line += fmt.Sprintf(", checkpoint seq %d", r.Checkpoint.Seq)
	}
	for _, x := range r.Restores {
		line += fmt.Sprintf("; restored from a backup made at %s (recorded at platform seq %d, %s): entries written after that backup are gone by design",
			x.BackupTime, x.PlatformSeq, x.At.UTC().Format(time.RFC3339))
	}
	return line
}

// auditCheckpointPath is where the signed heads of the audit chains are
// kept: --audit-checkpoint-file, else the data directory.
func auditCheckpointPath(cfg config.Config) string {
	if cfg.AuditCheckpointFile != "" {
		return cfg.AuditCheckpointFile
	}
	return filepath.Join(cfg.DataDir, audit.CheckpointFileName)
}

// cliAudit is the audit logger of a CLI command, with the process's
// redactor so configured secrets are known to it too, and the chain keys of
// the master key. A command's process ends soon after it records, so every
// entry is checkpointed at once rather than batched.
type cliAudit struct {
	l   *audit.Logger
	cp  *audit.Checkpointer
	env *Env
	err error
}

func newAuditLogger(env *Env, cfg config.Config, s store.Store) cliAudit {
	master, err := loadMasterKey(cfg)
	if err != nil {
		return cliAudit{err: err}
	}
	keys, err := audit.NewKeys(master)
	if err != nil {
		return cliAudit{err: err}
	}
	cp := audit.NewCheckpointer(auditCheckpointPath(cfg), keys, audit.CheckpointerOptions{Now: env.Now})
	return cliAudit{l: audit.New(s, audit.Options{Redactor: env.Redactor, Keys: keys, Checkpoints: cp}), cp: cp, env: env}
}

func (a cliAudit) Record(ctx context.Context, scope palisade.Scope, e audit.Entry) error {
	if a.err != nil {
		return a.err
	}
	if err := a.l.Record(ctx, scope, e); err != nil {
		return err
	}
	a.checkpoint()
	return nil
}

func (a cliAudit) RecordPlatform(ctx context.Context, e audit.Entry) error {
	if a.err != nil {
		return a.err
	}
	if err := a.l.RecordPlatform(ctx, e); err != nil {
		return err
	}
	a.checkpoint()
	return nil
}

// checkpoint writes the new head. A failure does not undo the entry, which
// is recorded and verifiable by its keyed hash; it is said, and the next
// command or `audit verify` writes the head.
func (a cliAudit) checkpoint() {
	if err := a.cp.Flush(); err != nil {
		fmt.Fprintf(a.env.Stderr, "warning: the audit checkpoint was not written: %v\n", err)
	}
}
