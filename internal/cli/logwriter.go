package cli

import (
	"io"
	"sync"
	"time"
)

// Log output is gathered in memory and written in batches: a write(2) per
// line to standard error was the largest cost of a request that does
// nothing but log its access line.
const (
	// logBufferSize bounds the lines held back. A line that would not fit
	// makes its writer write the buffer out first, in its own goroutine:
	// when output cannot keep up, logging blocks; it never drops a line.
	logBufferSize = 64 << 10
	// logFlushEvery bounds how long a line waits before it is written.
	logFlushEvery = 50 * time.Millisecond
)

// logWriter batches log lines to w. Every Write is kept whole (a slog
// handler writes one record per call), so lines are never split or
// interleaved. Stop writes what is left; a clean shutdown loses no line,
// and only a crash can lose at most logFlushEvery of output. Write errors
// are not reported to the logging call, like an unbuffered slog handler's
// are ignored by slog's front end; the first one is kept for Stop.
type logWriter struct {
	w io.Writer

	mu      sync.Mutex
	buf     []byte
	spare   []byte
	stopped bool
	err     error

	// out serialises writes to w, so batches keep their order.
	out sync.Mutex

	stop chan struct{}
	done chan struct{}
}

func newLogWriter(w io.Writer) *logWriter {
	lw := &logWriter{
		w:     w,
		buf:   make([]byte, 0, logBufferSize),
		spare: make([]byte, 0, logBufferSize),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go lw.loop()
	return lw
}

func (lw *logWriter) loop() {
	defer close(lw.done)
	t := time.NewTicker(logFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			lw.flush()
		case <-lw.stop:
			return
		}
	}
}

func (lw *logWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	if !lw.stopped && len(lw.buf)+len(p) <= cap(lw.buf) {
		lw.buf = append(lw.buf, p...)
		lw.mu.Unlock()
		return len(p), nil
	}
	lw.mu.Unlock()
	// The buffer is full (or the writer stopped, or p alone is larger than
	// the buffer): this caller writes the held lines out itself and waits
	// for that, which is how a burst slows logging down instead of losing
	// lines.
	lw.out.Lock()
	defer lw.out.Unlock()
	lw.mu.Lock()
	pending := lw.swap()
	direct := lw.stopped || len(p) > cap(lw.buf)
	if !direct {
		lw.buf = append(lw.buf, p...)
	}
	lw.mu.Unlock()
	lw.writeOut(pending)
	if direct {
		lw.writeOut(p)
	}
	return len(p), nil
}

// swap hands back the held lines and starts an empty buffer; lw.mu is held.
// Callers hold lw.out too: the returned slice is written out before the
// next swap makes it the buffer again.
func (lw *logWriter) swap() []byte {
	pending := lw.buf
	lw.buf, lw.spare = lw.spare[:0], pending
	return pending
}

func (lw *logWriter) writeOut(p []byte) {
	if len(p) == 0 {
		return
	}
	if _, err := lw.w.Write(p); err != nil {
		lw.mu.Lock()
		if lw.err == nil {
			lw.err = err
		}
		lw.mu.Unlock()
	}
}

// flush writes out what is held back.
func (lw *logWriter) flush() {
	lw.out.Lock()
	defer lw.out.Unlock()
	lw.mu.Lock()
	pending := lw.swap()
	lw.mu.Unlock()
	lw.writeOut(pending)
}

// Stop writes out every held line and makes later writes go straight
// through, so lines logged while the process winds down still appear. It
// returns the first write error seen. Calling it again does nothing more.
func (lw *logWriter) Stop() error {
	lw.mu.Lock()
	already := lw.stopped
	lw.stopped = true
	lw.mu.Unlock()
	if !already {
		close(lw.stop)
		<-lw.done
	}
	lw.flush()
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.err
}
