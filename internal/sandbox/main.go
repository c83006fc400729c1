package sandbox

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// parentFD is the worker's end of its socket: the first of the command's
// ExtraFiles.
const parentFD = 3

// WorkerMain is the whole life of a worker process: it reads the limits
// the parent put on its command line, puts itself under them (and, when
// told, under confinement) before it reads a byte from the parent, then
// serves tasks with handlers until the parent hangs up.
func WorkerMain(ctx context.Context, args []string, handlers map[string]Handler, stderr io.Writer) error {
	fs := flag.NewFlagSet("palisade worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	confine := fs.Bool("confine", false, "confine the worker (namespaces are made by the parent)")
	var l Limits
	fs.Int64Var(&l.Memory, "memory", 0, "memory limit in bytes")
	fs.DurationVar(&l.CPU, "cpu", 0, "CPU time limit")
	fs.IntVar(&l.Files, "files", 0, "open files limit")
	fs.IntVar(&l.Threads, "threads", 0, "threads limit")
	maxFrame := fs.Int("max-frame", DefaultMaxFrame, "largest frame")
	if err := fs.Parse(args); err != nil {
		return err
	}
	l = l.withDefaults()
	layers, err := applyConfinement(*confine, l)
	if err != nil {
		return fmt.Errorf("confining the worker: %w", err)
	}
	hs := make(map[string]Handler, len(handlers)+1)
	for k, h := range handlers {
		hs[k] = h
	}
	hs[statusKind] = func(context.Context, *Task) ([]byte, error) { return json.Marshal(layers) }
	conn := os.NewFile(parentFD, "parent")
	if conn == nil {
		return fmt.Errorf("the worker has no socket to its parent")
	}
	return Serve(ctx, conn, hs, *maxFrame)
}

// cpuSeconds rounds a CPU limit up to whole seconds, at least one.
func cpuSeconds(d time.Duration) uint64 {
	s := uint64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
