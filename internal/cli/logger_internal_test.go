package cli

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/redact"
)

// TestLogDurationsAreReadable: the JSON log writes durations as text such
// as "1.5s", at the top level and inside groups, not as nanoseconds; the
// text format agrees.
func TestLogDurationsAreReadable(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		l := newLogger(config.Config{LogLevel: "info", LogFormat: format}, &buf, redact.New(redact.Options{}))
		l.Info("done", "took", 1500*time.Millisecond, slog.Group("job", slog.Duration("waited", 250*time.Microsecond)))
		if format == "text" {
			if !bytes.Contains(buf.Bytes(), []byte("took=1.5s")) || !bytes.Contains(buf.Bytes(), []byte("job.waited=250µs")) {
				t.Errorf("text log: %s", buf.String())
			}
			continue
		}
		var line struct {
			Took any `json:"took"`
			Job  struct {
				Waited any `json:"waited"`
			} `json:"job"`
		}
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatalf("%v: %s", err, buf.String())
		}
		if line.Took != "1.5s" || line.Job.Waited != "250µs" {
			t.Errorf("json log durations: took=%v waited=%v in %s", line.Took, line.Job.Waited, buf.String())
		}
	}
}
