package cli_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palisadehq/palisade/internal/invalidate"
)

// The workspace commands run beside a server on PostgreSQL tell it through
// NOTIFY that the workspace changed, so the server's caches drop it: a
// listener on the database hears `workspace suspend` and `workspace
// resume` name the workspace.
func TestWorkspaceCommandsAnnounceTheChange(t *testing.T) {
	t.Parallel()
	env := keyBackends(t)["postgres"](t)
	ws := createWorkspace(t, env, "Watched")
	pool, err := pgxpool.New(t.Context(), env[adminURLKey])
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	events := make(chan invalidate.Event, 16)
	hub := invalidate.NewHub(invalidate.NewPostgres(pool, "palisade_invalidate"), func(e invalidate.Event) { events <- e })
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { hub.Run(ctx); close(done) }()
	defer func() { stop(); <-done }()
	for !hub.Subscribed() {
		time.Sleep(time.Millisecond)
	}
	for _, cmd := range []string{"suspend", "resume"} {
		args := []string{"workspace", cmd, string(ws.Workspace())}
		if cmd == "suspend" {
			args = append(args, "--reason", "testing")
		}
		mustCLI(t, env, args...)
		deadline := time.After(10 * time.Second)
		for heard := false; !heard; {
			select {
			case e := <-events:
				heard = e.Scope == string(ws.Workspace())
			case <-deadline:
				t.Fatalf("workspace %s announced nothing", cmd)
			}
		}
	}
}
