package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Task is one task as the worker's handler sees it.
type Task struct {
	Kind    string
	Payload []byte

	id   uint64
	conn *workerConn
}

// Progress sends an interim piece of the result to the parent (a streamed
// delta).
func (t *Task) Progress(b []byte) error {
	return t.conn.write(Frame{Type: FrameProgress, ID: t.id, Payload: b})
}

// Call asks the parent to do kind on the worker's behalf and waits for the
// answer; onEvent, if set, gets each interim piece the parent streams back.
// It is the worker's only way to anything outside itself.
func (t *Task) Call(ctx context.Context, kind string, payload []byte, onEvent func([]byte) error) ([]byte, error) {
	return t.conn.call(ctx, t.id, kind, payload, onEvent)
}

// Handler runs one task kind in the worker. A *palisade.Error it returns
// reaches the caller with its code and message; any other error reaches
// it as a generic failure.
type Handler func(ctx context.Context, t *Task) ([]byte, error)

// workerConn is the worker's side of the socket.
type workerConn struct {
	rw  io.ReadWriter
	max int

	wmu sync.Mutex

	mu      sync.Mutex
	nextID  uint64
	calls   map[uint64]*pendingCall
	cancels map[uint64]context.CancelFunc
}

type pendingCall struct {
	onEvent func([]byte) error
	done    chan Frame
}

func (c *workerConn) write(f Frame) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return WriteFrame(c.rw, f, c.max)
}

func (c *workerConn) call(ctx context.Context, task uint64, kind string, payload []byte, onEvent func([]byte) error) ([]byte, error) {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	pc := &pendingCall{onEvent: onEvent, done: make(chan Frame, 1)}
	c.calls[id] = pc
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.calls, id)
		c.mu.Unlock()
	}()
	if err := c.write(Frame{Type: FrameCall, ID: id, Kind: kind, Payload: callPayload(task, payload)}); err != nil {
		return nil, fmt.Errorf("sending a call to the parent: %w", err)
	}
	select {
	case f := <-pc.done:
		if f.Type == FrameCallFail {
			return nil, decodeError(f.Payload, "the call failed")
		}
		return f.Payload, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Serve runs the worker's side of the protocol on rw until the parent
// closes it: each task runs in its own goroutine with the handler its
// kind names. It returns nil when the parent hangs up.
func Serve(ctx context.Context, rw io.ReadWriter, handlers map[string]Handler, maxFrame int) error {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	c := &workerConn{rw: rw, max: maxFrame, calls: map[uint64]*pendingCall{}, cancels: map[uint64]context.CancelFunc{}}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for {
		f, err := ReadFrame(rw, maxFrame)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading from the parent: %w", err)
		}
		switch f.Type {
		case FrameTask:
			h, ok := handlers[f.Kind]
			if !ok {
				_ = c.write(Frame{Type: FrameFail, ID: f.ID, Payload: encodeError(nil, "this worker has no task of that kind")})
				continue
			}
			tctx, tcancel := context.WithCancel(ctx)
			c.mu.Lock()
			c.cancels[f.ID] = tcancel
			c.mu.Unlock()
			go func(f Frame) {
				defer func() {
					tcancel()
					c.mu.Lock()
					delete(c.cancels, f.ID)
					c.mu.Unlock()
				}()
				out, err := h(tctx, &Task{Kind: f.Kind, Payload: f.Payload, id: f.ID, conn: c})
				if err != nil {
					_ = c.write(Frame{Type: FrameFail, ID: f.ID, Payload: encodeError(err, "the task failed in the worker")})
					return
				}
				if err := c.write(Frame{Type: FrameResult, ID: f.ID, Payload: out}); err != nil {
					_ = c.write(Frame{Type: FrameFail, ID: f.ID, Payload: encodeError(nil, "the task's result could not be sent")})
				}
			}(f)
		case FrameCancel:
			c.mu.Lock()
			if cf := c.cancels[f.ID]; cf != nil {
				cf()
			}
			c.mu.Unlock()
		case FrameReply, FrameCallFail, FrameEvent:
			c.mu.Lock()
			pc := c.calls[f.ID]
			c.mu.Unlock()
			if pc == nil {
				continue
			}
			if f.Type == FrameEvent {
				if pc.onEvent != nil {
					_ = pc.onEvent(f.Payload)
				}
				continue
			}
			pc.done <- f
		default:
			return fmt.Errorf("%w: type %d from the parent", errMalformed, f.Type)
		}
	}
}
