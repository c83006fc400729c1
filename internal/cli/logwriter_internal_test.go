package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/redact"
)

// slowSink records what reaches it, slowly, so that writers outrun it and
// the buffer fills.
type slowSink struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	delay  time.Duration
}

func (s *slowSink) Write(p []byte) (int, error) {
	time.Sleep(s.delay)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.buf.Write(p)
}

func (s *slowSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// TestLogWriterLosesNoLineOnStop: many goroutines log through the process
// logger into a sink slower than they are, far more than the buffer holds;
// after Stop every line is there exactly once, whole, and the sink saw
// batches rather than a write per line.
func TestLogWriterLosesNoLineOnStop(t *testing.T) {
	t.Parallel()
	sink := &slowSink{delay: 200 * time.Microsecond}
	lw := newLogWriter(sink)
	l := newLogger(config.Config{LogLevel: "info", LogFormat: "json"}, lw, redact.New(redact.Options{}))
	const goroutines, each = 8, 2000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				l.Info("http request", "writer", g, "seq", i, "pad", strings.Repeat("x", 64))
			}
		})
	}
	wg.Wait()
	if err := lw.Stop(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(sink.String()))
	for sc.Scan() {
		line := sc.Text()
		var g, i int
		k := strings.Index(line, `"writer":`)
		if k < 0 || !strings.HasSuffix(line, "}") {
			t.Fatalf("torn or foreign line: %q", line)
		}
		if _, err := fmt.Sscanf(line[k:], `"writer":%d,"seq":%d`, &g, &i); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		seen[fmt.Sprint(g, "/", i)]++
	}
	if len(seen) != goroutines*each {
		t.Fatalf("%d distinct lines written, want %d", len(seen), goroutines*each)
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("line %s written %d times", k, n)
		}
	}
	sink.mu.Lock()
	writes := sink.writes
	sink.mu.Unlock()
	if writes >= goroutines*each/10 {
		t.Errorf("%d writes for %d lines: not batched", writes, goroutines*each)
	}
}

// TestLogWriterFlushesOnItsOwnAndAfterStop: a lone line appears without
// Stop, within a few flush intervals, and lines logged after Stop (while
// the process winds down) go straight through, in order.
func TestLogWriterFlushesOnItsOwnAndAfterStop(t *testing.T) {
	t.Parallel()
	sink := &slowSink{}
	lw := newLogWriter(sink)
	_, _ = lw.Write([]byte("first\n"))
	deadline := time.Now().Add(5 * time.Second)
	for sink.String() != "first\n" {
		if time.Now().After(deadline) {
			t.Fatalf("a held line was not written on its own: %q", sink.String())
		}
		time.Sleep(time.Millisecond)
	}
	_, _ = lw.Write([]byte("second\n"))
	if err := lw.Stop(); err != nil {
		t.Fatal(err)
	}
	_, _ = lw.Write([]byte("third\n"))
	big := strings.Repeat("y", logBufferSize+1) + "\n"
	_, _ = lw.Write([]byte(big))
	if got, want := sink.String(), "first\nsecond\nthird\n"+big; got != want {
		t.Fatalf("after Stop: %.80q, want %.80q", got, want)
	}
	if err := lw.Stop(); err != nil {
		t.Fatal(err)
	}
}

// TestLogWriterKeepsRedaction: the batching sits behind the redacting
// handler, so what it writes out is already redacted.
func TestLogWriterKeepsRedaction(t *testing.T) {
	t.Parallel()
	sink := &slowSink{}
	lw := newLogWriter(sink)
	l := newLogger(config.Config{LogLevel: "info", LogFormat: "json"}, lw, redact.New(redact.Options{}))
	tok := "sk-proj-" + strings.Repeat("Ab3dE", 10)
	l.Info("calling provider", slog.String("detail", "key "+tok))
	if err := lw.Stop(); err != nil {
		t.Fatal(err)
	}
	if out := sink.String(); strings.Contains(out, tok) || !strings.Contains(out, "calling provider") {
		t.Fatalf("log: %s", out)
	}
}
