//go:build linux

package sandbox_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/sandbox"
)

// buildRelease builds the palisade command as a release is built, so the
// worker measured is the real one.
func buildRelease(b *testing.B) string {
	b.Helper()
	// The worker runs as nobody on the host when the parent is root: it
	// must be able to reach and execute the binary, as with an installed
	// one.
	dir := b.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "palisade")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/palisadehq/palisade/cmd/palisade")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building palisade: %v\n%s", err, out)
	}
	return bin
}

// status reads fields of a process's /proc/<pid>/status (VmRSS,
// RssAnon…) or smaps_rollup (Pss), in bytes.
func status(b *testing.B, pid int, file string, fields ...string) map[string]float64 {
	b.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !slices.Contains(fields, name) {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			b.Fatal(err)
		}
		out[name] = kb * 1024
	}
	return out
}

// BenchmarkWorkerRSS starts live, idle, confined workers of the release
// build (`palisade worker`), each after a task, and reports per worker:
// its whole resident set (VmRSS, which counts the pages of the binary it
// shares with every other worker), its private memory (RssAnon), and its
// proportional share (Pss) with all of them alive; and the time to start
// one and run a task in it.
func BenchmarkWorkerRSS(b *testing.B) {
	bin := buildRelease(b)
	p, err := sandbox.New(context.Background(), sandbox.Options{Mode: sandbox.ModeRequire, Path: bin, Args: []string{"worker"},
		MaxWorkers: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var keys []string
	for i := 0; b.Loop(); i++ {
		key := fmt.Sprintf("bot-%d", i)
		// The status task every worker serves: a round trip with no work.
		if _, err := p.Run(context.Background(), key, "sandbox.status", nil, nil); err != nil {
			b.Fatal(err)
		}
		keys = append(keys, key)
	}
	var rss, anon, pss float64
	for _, key := range keys {
		pid := p.WorkerPID(key)
		if pid == 0 {
			b.Fatalf("worker %s is gone", key)
		}
		st := status(b, pid, "status", "VmRSS", "RssAnon")
		rss, anon = max(rss, st["VmRSS"]), max(anon, st["RssAnon"])
		pss += status(b, pid, "smaps_rollup", "Pss")["Pss"]
	}
	b.ReportMetric(rss/(1<<20), "MiB-VmRSS/worker")
	b.ReportMetric(anon/(1<<20), "MiB-RssAnon/worker")
	b.ReportMetric(pss/float64(len(keys))/(1<<20), "MiB-Pss/worker")
	b.ReportMetric(float64(len(keys)), "workers")
}

// BenchmarkRoundTrip is one task's round trip to a live worker.
func BenchmarkRoundTrip(b *testing.B) {
	p, err := sandbox.New(context.Background(), sandbox.Options{Mode: sandbox.ModeRequire})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	payload := []byte("ping")
	for b.Loop() {
		if _, err := p.Run(context.Background(), "bot", "echo", payload, nil); err != nil {
			b.Fatal(err)
		}
	}
}
