package cli

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/redact"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// Scheduled backups are written on their interval, each a data archive and
// its key archive, and only the newest BackupKeep stay.
func TestScheduledBackups(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	var out bytes.Buffer
	env := &Env{Getenv: func(k string) string {
		if k == "PALISADE_DATA_DIR" {
			return dir
		}
		return ""
	}, Stdin: strings.NewReader(""), Stdout: &out, Stderr: io.Discard}
	if err := RunEnv(t.Context(), []string{"workspace", "create", "--name", "A", "--owner-email", "o@example.com"}, env); err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Config{DataDir: dir, BackupEvery: 150 * time.Millisecond, BackupKeep: 2, BackupRecipient: id.Recipient().String(),
		LogLevel: "info", LogFormat: "text"}
	env = &Env{Getenv: func(string) string { return "" }, Stdout: io.Discard, Stderr: io.Discard, Now: time.Now, Redactor: redact.New(redact.Options{})}
	b := newScheduledBackups(env, cfg, slog.New(slog.DiscardHandler))
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	backups := filepath.Join(dir, "backups")
	deadline := time.Now().Add(30 * time.Second)
	for countBackups(t, dir) < 3 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	b.Stop()
	b.Stop()
	if n := countBackups(t, dir); n < 3 {
		t.Fatalf("%d backups written in time, want 3 or more", n)
	}
	ents, _ := os.ReadDir(backups)
	var data, keys []string
	for _, e := range ents {
		switch {
		case strings.HasSuffix(e.Name(), ".age"):
			data = append(data, e.Name())
		case strings.HasSuffix(e.Name(), ".age.keys"):
			keys = append(keys, strings.TrimSuffix(e.Name(), ".keys"))
		}
	}
	if len(data) != 2 || !slices.Equal(data, keys) {
		t.Fatalf("backup directory holds %v and keys %v; want the newest two of each, paired", data, keys)
	}
}

// countBackups counts the backups recorded in the platform audit chain.
func countBackups(t *testing.T, dir string) int {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(dir, "palisade.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	es, err := s.ListPlatformAudit(t.Context(), store.ListAuditParams{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if e.Action == string(audit.ActionBackupCreated) {
			n++
		}
	}
	return n
}
