package backup_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/palisadehq/palisade/internal/backup"
)

func archive(t *testing.T, r age.Recipient) ([]byte, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{"palisade.db": bytes.Repeat([]byte("data page "), 50_000), "extra.bin": []byte("small")}
	var srcs []backup.Source
	for _, name := range []string{"palisade.db", "extra.bin"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, files[name], 0o600); err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, backup.Source{Name: name, Path: p})
	}
	var buf bytes.Buffer
	var last int64
	err := backup.Write(&buf, r, backup.Manifest{Kind: backup.KindData, ID: "b1", Dialect: "sqlite", CreatedAt: time.Now().UTC()}, srcs,
		func(done, total int64) { last = done })
	if err != nil {
		t.Fatal(err)
	}
	if last != int64(len(files["palisade.db"])+len(files["extra.bin"])) {
		t.Errorf("progress ended at %d", last)
	}
	if bytes.Contains(buf.Bytes(), []byte("data page")) {
		t.Fatal("the archive holds plaintext")
	}
	return buf.Bytes(), files
}

func empty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Fatalf("a refused archive left %d files", len(ents))
	}
}

func TestArchiveRoundTripAndRefusals(t *testing.T) {
	t.Parallel()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	raw, files := archive(t, id.Recipient())

	dir := t.TempDir()
	m, err := backup.Extract(bytes.NewReader(raw), []age.Identity{id}, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != backup.KindData || m.ID != "b1" || len(m.Files) != 2 {
		t.Fatalf("manifest %+v", m)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s does not come back whole: %v", name, err)
		}
	}

	refuse := func(name string, data []byte, ids ...age.Identity) {
		t.Helper()
		dir := t.TempDir()
		if _, err := backup.Extract(bytes.NewReader(data), ids, dir, nil); !errors.Is(err, backup.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
		empty(t, dir)
	}
	for _, at := range []int{10, len(raw) / 3, len(raw) / 2, len(raw) - 20, len(raw) - 1} {
		flipped := bytes.Clone(raw)
		flipped[at] ^= 0x01
		refuse(fmt.Sprintf("one flipped byte at %d", at), flipped, id)
	}
	for _, n := range []int{len(raw) - 1, len(raw) - 100, len(raw) / 2, 200} {
		refuse("cut short", raw[:n], id)
	}
	other, _ := age.GenerateX25519Identity()
	refuse("another identity", raw, other)
}
