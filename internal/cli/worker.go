package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/sandbox"
	"github.com/palisadehq/palisade/internal/server"
)

// runWorker is the hidden command serve starts for each bot, on the socket
// it inherits: it confines itself before it reads a byte, then runs the
// bot's tasks. It is not for operators, and holds nothing but what each
// task brings.
func runWorker(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "worker", "worker [flags]\n\n"+
		"Started by serve, one per bot, on the socket it inherits; not for running by hand.")
	c := sandbox.WorkerFlags(fs)
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	return sandbox.WorkerMain(ctx, *c, workerTasks())
}

// workerTasks are the task kinds a worker serves.
func workerTasks() map[string]sandbox.Handler {
	return map[string]sandbox.Handler{
		conversation.TurnKind: conversation.TurnHandler,
		knowledge.ExtractKind: knowledge.ExtractHandler,
	}
}

// workerKinds lists the task kinds, for the metrics' labels.
func workerKinds() []string {
	kinds := make([]string, 0, len(workerTasks()))
	for k := range workerTasks() {
		kinds = append(kinds, k)
	}
	return kinds
}

// newWorkers starts the pool of bot workers as --sandbox says, serving
// their gateway calls with answering (nil: no model answers, so no
// turn runs in a worker). With off there is no pool: bot work runs in the
// server process. It returns the readiness check that tells /readyz how
// workers run.
func newWorkers(ctx context.Context, cfg config.Config, env *Env, logger *slog.Logger, reg *prometheus.Registry,
	answering gateway.Service) (*sandbox.Pool, server.Check, error) {
	m := sandbox.NewMetrics(workerKinds())
	if err := registerAll(reg, "sandbox", m.Collectors()...); err != nil {
		return nil, server.Check{}, err
	}
	if cfg.Sandbox == string(sandbox.ModeAuto) && !sandbox.Supported() {
		m.Confined.Set(0)
		logger.Error("BOT WORK RUNS IN THE SERVER PROCESS: this system cannot run bot workers; documents are parsed and bots' turns run unconfined")
		return nil, server.Check{Name: "sandbox", Check: func(context.Context) (string, error) {
			return "unconfined: this system cannot run bot workers (see the log)", nil
		}}, nil
	}
	if cfg.Sandbox == string(sandbox.ModeOff) {
		m.Confined.Set(0)
		logger.Warn("--sandbox=off: documents are parsed and bots' turns run in the server process, unconfined; this is for debugging only")
		return nil, server.Check{Name: "sandbox", Check: func(context.Context) (string, error) {
			return "off: bot work runs in the server process (debugging only)", nil
		}}, nil
	}
	// A document at --document-max-bytes fits in one frame, and its
	// parsing in the worker's memory.
	docMax := documentMaxBytes(cfg)
	o := sandbox.Options{Mode: sandbox.Mode(cfg.Sandbox), Kinds: workerKinds(), Metrics: m, Logger: logger, Start: env.sandboxStart,
		MaxFrame: int(max(sandbox.DefaultMaxFrame, docMax+1<<20)),
		Limits:   sandbox.Limits{Memory: max(512<<20, 256<<20+16*docMax)}}
	if answering != nil {
		o.Calls = conversation.GatewayCalls(answering)
	}
	pool, err := sandbox.New(ctx, o)
	if err != nil {
		return nil, server.Check{}, fmt.Errorf("%w (check what the kernel allows: `unshare -Urnp --fork true` must succeed; see the README's section on bot workers)", err)
	}
	st := pool.Status()
	detail := "confined"
	if !st.Confined {
		detail = "unconfined: bot workers run without confinement (see the log)"
		logger.Error("BOT WORKERS RUN UNCONFINED: documents are parsed and bots' turns run in worker processes that are not sandboxed; "+
			"fix the kernel's settings, or start with --sandbox=require to refuse to run like this", "reason", st.Reason)
	} else {
		logger.Info("bot workers run confined", "seccomp", st.Layers.Seccomp, "landlock_abi", st.Layers.Landlock)
	}
	return pool, server.Check{Name: "sandbox", Check: func(context.Context) (string, error) { return detail, nil }}, nil
}

// startWorker is how the pool starts a worker process; tests replace it
// through Env to simulate a kernel that refuses namespaces.
type startWorker = func(*exec.Cmd) error
