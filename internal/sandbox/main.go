package sandbox

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"time"
)

// parentFD is the worker's end of its socket: the first of the command's
// ExtraFiles.
const parentFD = 3

// WorkerConfig is what the parent tells a worker on its command line.
type WorkerConfig struct {
	Confine  bool
	Limits   Limits
	MaxFrame int
}

// WorkerFlags defines on fs the flags the pool starts a worker with.
func WorkerFlags(fs *flag.FlagSet) *WorkerConfig {
	c := &WorkerConfig{}
	fs.BoolVar(&c.Confine, "confine", false, "confine the worker (the parent makes its namespaces)")
	fs.Int64Var(&c.Limits.Memory, "memory", 0, "memory limit in bytes")
	fs.DurationVar(&c.Limits.CPU, "cpu", 0, "CPU time limit")
	fs.IntVar(&c.Limits.Files, "files", 0, "open files limit")
	fs.IntVar(&c.Limits.Threads, "threads", 0, "threads limit")
	fs.IntVar(&c.MaxFrame, "max-frame", DefaultMaxFrame, "largest frame in bytes")
	return c
}

// WorkerMain is the whole life of a worker process: it puts itself under
// its limits (and, when told, under confinement) before it reads a byte
// from the parent, then serves tasks with handlers until the parent hangs
// up.
func WorkerMain(ctx context.Context, c WorkerConfig, handlers map[string]Handler) error {
	layers, err := applyConfinement(c.Confine, c.Limits.withDefaults())
	if err != nil {
		return fmt.Errorf("confining the worker: %w", err)
	}
	// What the program's start-up left behind goes back to the kernel:
	// an idle worker holds little more than the runtime.
	debug.FreeOSMemory()
	hs := make(map[string]Handler, len(handlers)+1)
	for k, h := range handlers {
		hs[k] = h
	}
	hs[statusKind] = func(context.Context, *Task) ([]byte, error) { return json.Marshal(layers) }
	conn := os.NewFile(parentFD, "parent")
	if conn == nil {
		return fmt.Errorf("the worker has no socket to its parent")
	}
	return Serve(ctx, conn, hs, c.MaxFrame)
}

// cpuSeconds rounds a CPU limit up to whole seconds, at least one.
func cpuSeconds(d time.Duration) uint64 {
	s := uint64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
