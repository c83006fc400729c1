package cli

import (
	"context"
	"fmt"

	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/job"
)

// runPrune does at once what the hourly prune job does: it deletes the
// expired short-lived records and the messages and conversations past
// their retention, and prints how many rows of each kind went.
func runPrune(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "prune", "prune [store flags]\n\n"+
		"Deletes now what the hourly prune job would: expired set-up, reset and e-mail tokens,\n"+
		"invitations, sessions, known devices, idempotency records, gateway nonces and usage\n"+
		"reservations; webhook dedupe and reply records older than their retry window; and\n"+
		"messages and conversations older than their bot's retention (or else their\n"+
		"workspace's). Prints the number of rows removed of each kind.")
	cfg, help, err := loadConfig(env, fs, config.GroupStore, args, nil)
	if help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: prune takes no arguments", ErrUsage)
	}
	s, _, closeData, err := openData(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeData()
	r, err := s.PruneAll(ctx, env.Now(), job.DedupeTTL)
	if err != nil {
		return err
	}
	for _, c := range r {
		fmt.Fprintf(env.Stdout, "%-20s %d\n", c.Kind, c.Rows)
	}
	fmt.Fprintf(env.Stdout, "%-20s %d\n", "total", r.Total())
	return nil
}
