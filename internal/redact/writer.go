package redact

import (
	"bytes"
	"io"
	"sync"
)

// MaxLine is the longest unterminated line a Writer holds back before it
// redacts and writes it anyway, so that output without newlines cannot grow
// memory without bound.
const MaxLine = 64 << 10

// Writer returns an io.Writer that redacts line by line before writing to w:
// for http.Server.ErrorLog (log.New(r.Writer(w), "", 0)) and other
// line-oriented output that does not go through slog. A line is written once
// its newline arrives, so a secret split across Write calls is still seen
// whole. The returned writer also has a Flush() error method that writes a
// pending unterminated line. It is safe for concurrent use.
func (r *Redactor) Writer(w io.Writer) io.Writer {
	return &lineWriter{r: r, w: w}
}

type lineWriter struct {
	r   *Redactor
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

func (lw *lineWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.buf = append(lw.buf, p...)
	var out []byte
	rest := lw.buf
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		out = append(out, lw.r.String(string(rest[:i]))...)
		out = append(out, '\n')
		rest = rest[i+1:]
	}
	if len(rest) > MaxLine {
		out = append(out, lw.r.String(string(rest))...)
		rest = rest[:0]
	}
	// Keep the unterminated rest at the front of the buffer for next time.
	lw.buf = append(lw.buf[:0], rest...)
	if len(out) == 0 {
		return len(p), nil
	}
	if _, err := lw.w.Write(out); err != nil {
		return len(p), err
	}
	return len(p), nil
}

// Flush redacts and writes a pending line that has no newline yet.
func (lw *lineWriter) Flush() error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if len(lw.buf) == 0 {
		return nil
	}
	out := lw.r.String(string(lw.buf))
	lw.buf = lw.buf[:0]
	_, err := io.WriteString(lw.w, out)
	return err
}
