package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// Mode is the operator's choice of confinement (--sandbox).
type Mode string

const (
	// ModeAuto confines workers where the kernel allows and otherwise runs
	// them unconfined, saying so loudly.
	ModeAuto Mode = "auto"
	// ModeRequire refuses to start without confinement.
	ModeRequire Mode = "require"
	// ModeOff runs workers unconfined, for debugging only.
	ModeOff Mode = "off"
)

// Modes lists the modes, for flag validation.
var Modes = []Mode{ModeAuto, ModeRequire, ModeOff}

// Limits are the resources one worker may use.
type Limits struct {
	// Memory caps the worker's writable private memory (RLIMIT_DATA), in
	// bytes; 0 = 512 MiB.
	Memory int64
	// CPU caps the worker's CPU time over its life (RLIMIT_CPU); 0 = 10
	// minutes. A worker is retired between tasks once it has used half.
	CPU time.Duration
	// Files caps open files (RLIMIT_NOFILE); 0 = 32.
	Files int
	// Threads caps the worker's tasks, threads included (RLIMIT_NPROC); 0 = 64.
	Threads int
}

func (l Limits) withDefaults() Limits {
	if l.Memory <= 0 {
		l.Memory = 512 << 20
	}
	if l.CPU <= 0 {
		l.CPU = 10 * time.Minute
	}
	if l.Files <= 0 {
		l.Files = 32
	}
	if l.Threads <= 0 {
		l.Threads = 64
	}
	return l
}

// CallHandler serves one kind of call a worker makes to its parent. key
// is the worker's key (its bot): a handler must act for that key only.
// emit streams an interim piece back to the worker.
type CallHandler func(ctx context.Context, key string, payload []byte, emit func([]byte) error) ([]byte, error)

// Options configure a Pool.
type Options struct {
	Mode Mode
	// Path and Args start a worker; default /proc/self/exe (this very
	// binary, even if replaced on disk since) with "worker".
	Path string
	Args []string
	// Start starts a prepared worker command; nil = cmd.Start. Tests set
	// it to simulate a kernel that refuses the namespaces.
	Start func(cmd *exec.Cmd) error
	// MaxWorkers caps live workers; 0 = 64.
	MaxWorkers int
	// IdleTimeout stops a worker with no task for that long; 0 = 5 minutes.
	IdleTimeout time.Duration
	// TaskTimeout is the wall-clock deadline of one task; 0 = 2 minutes.
	TaskTimeout time.Duration
	// MaxTasks retires a worker after that many tasks; 0 = 1000.
	MaxTasks int
	// MaxFrame is the largest frame accepted either way; 0 = DefaultMaxFrame.
	MaxFrame int
	// MaxCalls caps the calls one worker may have in flight; 0 = 8.
	MaxCalls int
	Limits   Limits
	// Calls are what a worker may ask of its parent, by kind.
	Calls map[string]CallHandler
	// Kinds are the task kinds, for the latency metric's labels.
	Kinds   []string
	Metrics *Metrics
	Logger  *slog.Logger
	// Stderr receives the workers' standard error; nil discards it.
	Stderr io.Writer
}

// Status says how workers run, for /readyz and the log.
type Status struct {
	Mode     Mode   `json:"mode"`
	Confined bool   `json:"confined"`
	Reason   string `json:"reason,omitempty"`
	// Layers are the confinement layers a probe worker reported in
	// place.
	Layers Layers `json:"layers"`
}

// Layers are the layers a worker put itself under.
type Layers struct {
	Namespaces bool `json:"namespaces"`
	EmptyRoot  bool `json:"empty_root"`
	NoNewPrivs bool `json:"no_new_privs"`
	Seccomp    bool `json:"seccomp"`
	Landlock   int  `json:"landlock_abi"`
	Rlimits    bool `json:"rlimits"`
}

// Pool runs tasks in workers, one per key.
type Pool struct {
	o        Options
	confined bool
	status   Status

	mu      sync.Mutex
	workers map[string]*proc
	// starting holds, per key, a channel closed when its worker's start
	// is over.
	starting map[string]chan struct{}
	closed   bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// statusKind is the task every worker serves: which layers it is under.
const statusKind = "sandbox.status"

// Kill reasons, the closed set of the kills metric's label.
const (
	reasonDeadline = "deadline"
	reasonCrashed  = "crashed"
	reasonProtocol = "protocol"
	reasonIdle     = "idle"
	reasonEvicted  = "evicted"
	reasonRetired  = "retired"
	reasonCancel   = "unresponsive"
	reasonShutdown = "shutdown"
)

var killReasons = []string{reasonDeadline, reasonCrashed, reasonProtocol, reasonIdle, reasonEvicted, reasonRetired, reasonCancel, reasonShutdown}

var (
	errDeadline = palisade.Errorf(palisade.CodeUnavailable, "the bot's worker ran past its time limit and was stopped; try again")
	errCrashed  = palisade.Errorf(palisade.CodeUnavailable, "the bot's worker stopped, maybe past a resource limit; try again")
	errProtocol = palisade.Errorf(palisade.CodeUnavailable, "the bot's worker broke the protocol and was stopped; try again")
	errStopped  = palisade.Errorf(palisade.CodeUnavailable, "the bot's worker was stopped; try again")
	errSpawn    = palisade.Errorf(palisade.CodeUnavailable, "the bot's worker could not be started")
	errBusy     = palisade.Errorf(palisade.CodeUnavailable, "too many bots are working at once; try again shortly")
	errClosed   = palisade.Errorf(palisade.CodeUnavailable, "the server is shutting down")
)

func reasonError(reason string) error {
	switch reason {
	case reasonDeadline, reasonCancel:
		return errDeadline
	case reasonCrashed:
		return errCrashed
	case reasonProtocol:
		return errProtocol
	}
	return errStopped
}

// New makes a pool and decides, by mode, whether its workers are
// confined: it starts a probe worker confined and asks it which layers it
// is under. With ModeRequire a worker that cannot be confined is an error
// saying why; with ModeAuto the pool runs workers unconfined and Status
// says why.
func New(ctx context.Context, o Options) (*Pool, error) {
	if o.Path == "" {
		o.Path = "/proc/self/exe"
		if len(o.Args) == 0 {
			o.Args = []string{"worker"}
		}
	}
	if o.Start == nil {
		o.Start = (*exec.Cmd).Start
	}
	if o.MaxWorkers <= 0 {
		o.MaxWorkers = 64
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 5 * time.Minute
	}
	if o.TaskTimeout <= 0 {
		o.TaskTimeout = 2 * time.Minute
	}
	if o.MaxTasks <= 0 {
		o.MaxTasks = 1000
	}
	if o.MaxFrame <= 0 {
		o.MaxFrame = DefaultMaxFrame
	}
	if o.MaxCalls <= 0 {
		o.MaxCalls = 8
	}
	if o.Mode == "" {
		o.Mode = ModeAuto
	}
	if !slices.Contains(Modes, o.Mode) {
		return nil, fmt.Errorf("sandbox mode %q: want auto, require or off", o.Mode)
	}
	o.Limits = o.Limits.withDefaults()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Pool{o: o, workers: map[string]*proc{}, starting: map[string]chan struct{}{}, stop: make(chan struct{})}
	p.status = Status{Mode: o.Mode}
	if o.Mode == ModeOff {
		p.status.Reason = "confinement is off (--sandbox=off, for debugging only)"
	} else {
		p.confined = true
		layers, err := p.probe(ctx)
		switch {
		case err == nil:
			p.status.Confined, p.status.Layers = true, layers
		case o.Mode == ModeRequire:
			return nil, fmt.Errorf("--sandbox=require, but bot workers cannot be confined on this system: %w", err)
		default:
			p.confined = false
			p.status.Reason = "bot workers cannot be confined on this system: " + err.Error()
		}
	}
	if !p.confined {
		// An unconfined worker must still start, or no bot can answer.
		if _, err := p.probe(ctx); err != nil {
			return nil, fmt.Errorf("starting a bot worker: %w", err)
		}
	}
	if o.Metrics != nil {
		if p.status.Confined {
			o.Metrics.Confined.Set(1)
		} else {
			o.Metrics.Confined.Set(0)
		}
	}
	p.wg.Add(1)
	go p.reap()
	return p, nil
}

// probe starts a worker outside the pool, asks it for its layers and
// stops it.
func (p *Pool) probe(ctx context.Context) (Layers, error) {
	stderr := &tailBuffer{max: 2048}
	w, err := p.spawn("", stderr)
	if err != nil {
		return Layers{}, err
	}
	defer w.die(reasonShutdown)
	out, err := p.run(ctx, w, statusKind, nil, nil)
	if err != nil {
		if why := w.exitDetail(); why != "" {
			return Layers{}, fmt.Errorf("the worker %s: %s", why, strings.TrimSpace(stderr.String()))
		}
		return Layers{}, err
	}
	var l Layers
	if err := json.Unmarshal(out, &l); err != nil {
		return Layers{}, fmt.Errorf("reading the worker's status: %w", err)
	}
	if p.confined && !(l.Namespaces && l.EmptyRoot && l.NoNewPrivs && l.Seccomp && l.Rlimits) {
		return l, fmt.Errorf("the worker is missing a layer of confinement: %+v", l)
	}
	return l, nil
}

// Status says how workers run.
func (p *Pool) Status() Status { return p.status }

// Run runs a task of kind in the worker for key, starting one if none is
// live, and waits for its result; onProgress, if set, gets each interim
// piece. A worker past its deadline or a limit is killed and the caller
// gets a clear *palisade.Error; the next task starts a fresh one.
func (p *Pool) Run(ctx context.Context, key, kind string, payload []byte, onProgress func([]byte) error) ([]byte, error) {
	w, err := p.acquire(key)
	if err != nil {
		return nil, err
	}
	defer p.release(w)
	return p.run(ctx, w, kind, payload, onProgress)
}

func (p *Pool) run(ctx context.Context, w *proc, kind string, payload []byte, onProgress func([]byte) error) ([]byte, error) {
	start := time.Now()
	defer func() {
		if p.o.Metrics != nil {
			label := kind
			if kind != statusKind && !slices.Contains(p.o.Kinds, kind) {
				label = "other"
			}
			p.o.Metrics.TaskSeconds.WithLabelValues(label).Observe(time.Since(start).Seconds())
		}
	}()
	id, ch, err := w.addTask(ctx, onProgress)
	if err != nil {
		return nil, err
	}
	if err := w.write(Frame{Type: FrameTask, ID: id, Kind: kind, Payload: payload}); err != nil {
		w.removeTask(id)
		if errors.Is(err, ErrFrameTooLarge) {
			return nil, palisade.Errorf(palisade.CodeTooLarge, "the task is too large for a worker")
		}
		w.die(reasonCrashed)
		return nil, reasonError(w.deathReason())
	}
	deadline := time.NewTimer(p.o.TaskTimeout)
	defer deadline.Stop()
	select {
	case f := <-ch:
		return taskOutcome(f)
	case <-deadline.C:
		w.die(reasonDeadline)
		return nil, errDeadline
	case <-ctx.Done():
	}
	// The caller gave up: the worker is asked to stop the task, and one
	// that does not is treated as past its deadline.
	_ = w.write(Frame{Type: FrameCancel, ID: id})
	grace := time.NewTimer(2 * time.Second)
	defer grace.Stop()
	select {
	case <-ch:
	case <-grace.C:
		w.die(reasonCancel)
	case <-deadline.C:
		w.die(reasonDeadline)
	}
	return nil, ctx.Err()
}

func taskOutcome(f Frame) ([]byte, error) {
	switch f.Type {
	case FrameResult:
		return f.Payload, nil
	case FrameFail:
		return nil, decodeError(f.Payload, "the task failed in the bot's worker")
	}
	// die's own frame: Kind carries the reason.
	return nil, reasonError(f.Kind)
}

// acquire returns the live worker for key, starting one if there is none;
// the worker counts the caller as busy until release. A worker is started
// outside the pool's lock, so one bot's start does not hold up another's
// task; callers for the same bot wait for the one start.
func (p *Pool) acquire(key string) (*proc, error) {
	p.mu.Lock()
	for {
		if p.closed {
			p.mu.Unlock()
			return nil, errClosed
		}
		if w := p.workers[key]; w != nil && !w.dead() {
			w.busy++
			p.mu.Unlock()
			return w, nil
		}
		starting := p.starting[key]
		if starting == nil {
			break
		}
		p.mu.Unlock()
		<-starting
		p.mu.Lock()
	}
	if len(p.workers)+len(p.starting) >= p.o.MaxWorkers {
		var lru *proc
		for _, w := range p.workers {
			if w.busy == 0 && (lru == nil || w.lastUsed.Before(lru.lastUsed)) {
				lru = w
			}
		}
		if lru == nil {
			p.mu.Unlock()
			return nil, errBusy
		}
		delete(p.workers, lru.key)
		go lru.die(reasonEvicted)
	}
	starting := make(chan struct{})
	p.starting[key] = starting
	p.mu.Unlock()

	w, err := p.spawn(key, p.o.Stderr)

	p.mu.Lock()
	delete(p.starting, key)
	close(starting)
	if err != nil {
		p.mu.Unlock()
		p.o.Logger.Error("starting a bot worker", "error", err)
		return nil, errSpawn
	}
	if p.closed {
		p.mu.Unlock()
		w.die(reasonShutdown)
		return nil, errClosed
	}
	p.workers[key] = w
	w.busy = 1
	p.mu.Unlock()
	return w, nil
}

func (p *Pool) release(w *proc) {
	p.mu.Lock()
	w.busy--
	w.tasks++
	w.lastUsed = time.Now()
	// A worker is retired, between tasks, before it nears its lifetime
	// CPU limit, which would kill it in the middle of one.
	retire := w.busy == 0 && (w.tasks >= p.o.MaxTasks || cpuUsed(w.cmd.Process.Pid) > p.o.Limits.CPU/2)
	if retire && p.workers[w.key] == w {
		delete(p.workers, w.key)
	}
	p.mu.Unlock()
	if retire {
		w.die(reasonRetired)
	}
}

// reap stops idle workers.
func (p *Pool) reap() {
	defer p.wg.Done()
	every := max(p.o.IdleTimeout/4, 50*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		var idle []*proc
		p.mu.Lock()
		for k, w := range p.workers {
			if w.dead() {
				delete(p.workers, k)
				continue
			}
			if w.busy == 0 && time.Since(w.lastUsed) > p.o.IdleTimeout {
				delete(p.workers, k)
				idle = append(idle, w)
			}
		}
		p.mu.Unlock()
		for _, w := range idle {
			w.die(reasonIdle)
		}
	}
}

// Close stops every worker and the reaper.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	ws := make([]*proc, 0, len(p.workers))
	for _, w := range p.workers {
		ws = append(ws, w)
	}
	p.workers = map[string]*proc{}
	p.mu.Unlock()
	close(p.stop)
	for _, w := range ws {
		w.die(reasonShutdown)
	}
	p.wg.Wait()
}

// WorkerPID is the process id of key's live worker, or 0 (for
// measurements).
func (p *Pool) WorkerPID(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w := p.workers[key]; w != nil && !w.dead() {
		return w.cmd.Process.Pid
	}
	return 0
}

// spawn starts a worker: its end of a fresh socket pair is its fd 3, its
// environment is empty, and when confined it starts in new namespaces.
func (p *Pool) spawn(key string, stderr io.Writer) (*proc, error) {
	fds, err := socketPair()
	if err != nil {
		return nil, fmt.Errorf("making the worker's socket: %w", err)
	}
	parentEnd := os.NewFile(uintptr(fds[0]), "worker")
	childEnd := os.NewFile(uintptr(fds[1]), "parent")
	defer childEnd.Close()
	conn, err := net.FileConn(parentEnd)
	parentEnd.Close()
	if err != nil {
		childEnd.Close()
		return nil, fmt.Errorf("making the worker's socket: %w", err)
	}
	l := p.o.Limits
	args := append(slices.Clone(p.o.Args),
		"--confine="+strconv.FormatBool(p.confined),
		"--memory="+strconv.FormatInt(l.Memory, 10),
		"--cpu="+l.CPU.String(),
		"--files="+strconv.Itoa(l.Files),
		"--threads="+strconv.Itoa(l.Threads),
		"--max-frame="+strconv.Itoa(p.o.MaxFrame),
	)
	cmd := exec.Command(p.o.Path, args...)
	cmd.Env = []string{}
	cmd.Dir = "/"
	cmd.ExtraFiles = []*os.File{childEnd}
	cmd.Stderr = stderr
	cmd.SysProcAttr = sysProcAttr(p.confined, p.o.Mode == ModeOff)
	if err := p.o.Start(cmd); err != nil {
		conn.Close()
		return nil, fmt.Errorf("starting the worker process: %w", err)
	}
	w := &proc{p: p, key: key, cmd: cmd, conn: conn, pending: map[uint64]*pendingTask{}, calls: map[uint64]context.CancelFunc{},
		done: make(chan struct{}), exited: make(chan struct{}), lastUsed: time.Now()}
	if p.o.Metrics != nil {
		p.o.Metrics.Spawns.Inc()
		p.o.Metrics.Live.Inc()
	}
	go w.wait()
	go w.read()
	return w, nil
}

// proc is the parent's handle on one worker process.
type proc struct {
	p    *Pool
	key  string
	cmd  *exec.Cmd
	conn net.Conn
	wmu  sync.Mutex

	// busy, tasks and lastUsed are guarded by the pool's mu.
	busy     int
	tasks    int
	lastUsed time.Time

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]*pendingTask
	calls   map[uint64]context.CancelFunc
	reason  string
	state   *os.ProcessState

	done   chan struct{}
	exited chan struct{}
	once   sync.Once
}

type pendingTask struct {
	ctx        context.Context
	onProgress func([]byte) error
	ch         chan Frame
}

func (w *proc) dead() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

func (w *proc) deathReason() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reason
}

// exitDetail says how the process ended, once it has (for the probe's
// error), waiting a moment for it.
func (w *proc) exitDetail() string {
	select {
	case <-w.exited:
	case <-time.After(2 * time.Second):
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state == nil {
		return ""
	}
	return "exited: " + w.state.String()
}

func (w *proc) write(f Frame) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if w.dead() {
		return errStopped
	}
	// A worker that stops reading cannot hold a writer past a task's
	// deadline.
	_ = w.conn.SetWriteDeadline(time.Now().Add(w.p.o.TaskTimeout))
	return WriteFrame(w.conn, f, w.p.o.MaxFrame)
}

func (w *proc) addTask(ctx context.Context, onProgress func([]byte) error) (uint64, chan Frame, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.reason != "" {
		return 0, nil, reasonError(w.reason)
	}
	w.nextID++
	pt := &pendingTask{ctx: ctx, onProgress: onProgress, ch: make(chan Frame, 1)}
	w.pending[w.nextID] = pt
	return w.nextID, pt.ch, nil
}

func (w *proc) removeTask(id uint64) {
	w.mu.Lock()
	delete(w.pending, id)
	w.mu.Unlock()
}

func (w *proc) wait() {
	_ = w.cmd.Wait()
	w.mu.Lock()
	w.state = w.cmd.ProcessState
	w.mu.Unlock()
	close(w.exited)
}

// die kills the worker once, for reason, and fails every task it had.
func (w *proc) die(reason string) {
	w.once.Do(func() {
		w.mu.Lock()
		w.reason = reason
		pending := w.pending
		w.pending = map[uint64]*pendingTask{}
		for _, cancel := range w.calls {
			cancel()
		}
		w.mu.Unlock()
		_ = w.cmd.Process.Kill()
		w.conn.Close()
		// Counted before anyone hears of it.
		if m := w.p.o.Metrics; m != nil {
			m.Live.Dec()
			m.Kills.WithLabelValues(reason).Inc()
		}
		close(w.done)
		for _, pt := range pending {
			pt.ch <- Frame{Kind: reason}
		}
		if reason != reasonIdle && reason != reasonShutdown && reason != reasonRetired && w.key != "" {
			w.p.o.Logger.Warn("stopped a bot worker", "reason", reason)
		}
		w.p.mu.Lock()
		if w.p.workers[w.key] == w {
			delete(w.p.workers, w.key)
		}
		w.p.mu.Unlock()
	})
}

// read serves the worker's frames until it dies; anything out of protocol
// kills it.
func (w *proc) read() {
	for {
		f, err := ReadFrame(w.conn, w.p.o.MaxFrame)
		if err != nil {
			if errors.Is(err, ErrFrameTooLarge) || errors.Is(err, errMalformed) {
				w.die(reasonProtocol)
			} else {
				w.die(reasonCrashed)
			}
			return
		}
		switch f.Type {
		case FrameResult, FrameFail:
			w.mu.Lock()
			pt := w.pending[f.ID]
			delete(w.pending, f.ID)
			w.mu.Unlock()
			if pt != nil {
				pt.ch <- f
			}
		case FrameProgress:
			w.mu.Lock()
			pt := w.pending[f.ID]
			w.mu.Unlock()
			if pt != nil && pt.onProgress != nil {
				_ = pt.onProgress(f.Payload)
			}
		case FrameCall:
			w.startCall(f)
		default:
			w.die(reasonProtocol)
			return
		}
	}
}

// startCall serves a worker's call in its own goroutine. A worker may
// call only while it has a task, and only so many at once.
func (w *proc) startCall(f Frame) {
	h := w.p.o.Calls[f.Kind]
	task, payload, ok := splitCallPayload(f.Payload)
	if !ok {
		w.die(reasonProtocol)
		return
	}
	w.mu.Lock()
	pt := w.pending[task]
	refuse := ""
	switch {
	case h == nil:
		refuse = "the parent serves no call of that kind"
	case pt == nil:
		refuse = "a worker may call only during its task"
	case len(w.calls) >= w.p.o.MaxCalls:
		refuse = "too many calls at once"
	case w.calls[f.ID] != nil:
		refuse = "a call with that id is in flight"
	}
	if refuse != "" {
		w.mu.Unlock()
		_ = w.write(Frame{Type: FrameCallFail, ID: f.ID, Payload: encodeError(palisade.Errorf(palisade.CodeForbidden, "%s", refuse), refuse)})
		return
	}
	ctx, cancel := context.WithTimeout(pt.ctx, w.p.o.TaskTimeout)
	w.calls[f.ID] = cancel
	w.mu.Unlock()
	go func() {
		defer func() {
			cancel()
			w.mu.Lock()
			delete(w.calls, f.ID)
			w.mu.Unlock()
		}()
		out, err := h(ctx, w.key, payload, func(b []byte) error {
			return w.write(Frame{Type: FrameEvent, ID: f.ID, Payload: b})
		})
		if err != nil {
			_ = w.write(Frame{Type: FrameCallFail, ID: f.ID, Payload: encodeError(err, "the call failed")})
			return
		}
		if err := w.write(Frame{Type: FrameReply, ID: f.ID, Payload: out}); errors.Is(err, ErrFrameTooLarge) {
			_ = w.write(Frame{Type: FrameCallFail, ID: f.ID, Payload: encodeError(nil, "the answer was too large")})
		}
	}()
}

// tailBuffer keeps the last max bytes written to it: a probe worker's
// standard error, to say why it could not start.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
