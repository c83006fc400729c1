package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A stream as `go test -json` writes it: one package whose tests pass and
// skip for two reasons, one with a failing test, one that does not build.
const stream = `go: downloading example.com/x v1.0.0
{"Action":"start","Package":"github.com/palisadehq/palisade/internal/a"}
{"Action":"run","Package":"github.com/palisadehq/palisade/internal/a","Test":"TestPG"}
{"Action":"output","Package":"github.com/palisadehq/palisade/internal/a","Test":"TestPG","Output":"=== RUN   TestPG\n"}
{"Action":"output","Package":"github.com/palisadehq/palisade/internal/a","Test":"TestPG","Output":"    a_test.go:20: PostgreSQL not configured; set PALISADE_TEST_POSTGRES_URL\n"}
{"Action":"output","Package":"github.com/palisadehq/palisade/internal/a","Test":"TestPG","Output":"--- SKIP: TestPG (0.00s)\n"}
{"Action":"skip","Package":"github.com/palisadehq/palisade/internal/a","Test":"TestPG"}
{"Action":"output","Package":"github.com/palisadehq/palisade/internal/a","Test":"TestPG2","Output":"    a_test.go:31: PostgreSQL not configured; set PALISADE_TEST_POSTGRES_URL\n"}
{"Action":"skip","Package":"github.com/palisadehq/palisade/internal/a","Test":"TestPG2"}
{"Action":"output","Package":"github.com/palisadehq/palisade/internal/a","Test":"TestRedis","Output":"    a_test.go:40: Redis not configured; set PALISADE_TEST_REDIS_URL\n"}
{"Action":"skip","Package":"github.com/palisadehq/palisade/internal/a","Test":"TestRedis"}
{"Action":"output","Package":"github.com/palisadehq/palisade/internal/a","Test":"TestOK","Output":"    a_test.go:50: chatty log line\n"}
{"Action":"pass","Package":"github.com/palisadehq/palisade/internal/a","Test":"TestOK"}
{"Action":"output","Package":"github.com/palisadehq/palisade/internal/a","Output":"PASS\n"}
{"Action":"output","Package":"github.com/palisadehq/palisade/internal/a","Output":"ok  \tgithub.com/palisadehq/palisade/internal/a\t0.05s\n"}
{"Action":"pass","Package":"github.com/palisadehq/palisade/internal/a"}
{"Action":"output","Package":"github.com/palisadehq/palisade/internal/b","Test":"TestBroken","Output":"    b_test.go:9: got 1, want 2\n"}
{"Action":"output","Package":"github.com/palisadehq/palisade/internal/b","Test":"TestBroken","Output":"--- FAIL: TestBroken (0.00s)\n"}
{"Action":"fail","Package":"github.com/palisadehq/palisade/internal/b","Test":"TestBroken"}
{"Action":"output","Package":"github.com/palisadehq/palisade/internal/b","Output":"FAIL\n"}
{"Action":"output","Package":"github.com/palisadehq/palisade/internal/b","Output":"FAIL\tgithub.com/palisadehq/palisade/internal/b\t0.02s\n"}
{"Action":"fail","Package":"github.com/palisadehq/palisade/internal/b"}
{"ImportPath":"github.com/palisadehq/palisade/internal/c [github.com/palisadehq/palisade/internal/c.test]","Action":"build-output","Output":"internal/c/c.go:3:1: syntax error\n"}
{"ImportPath":"github.com/palisadehq/palisade/internal/c [github.com/palisadehq/palisade/internal/c.test]","Action":"build-fail"}
`

func TestSummaryOfAStream(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	failed, err := summarise(strings.NewReader(stream), &out)
	if err != nil {
		t.Fatal(err)
	}
	if !failed {
		t.Error("a failing test and a failed build were not reported as a failure")
	}
	got := out.String()
	for _, want := range []string{
		"go: downloading example.com/x v1.0.0\n",
		"ok  \tgithub.com/palisadehq/palisade/internal/a\t0.05s\n",
		"    b_test.go:9: got 1, want 2\n--- FAIL: TestBroken (0.00s)\n",
		"FAIL\tgithub.com/palisadehq/palisade/internal/b\t0.02s\n",
		"internal/c/c.go:3:1: syntax error\n",
		"skipped: 3 tests did not run, for 2 reasons",
		"  2 × PostgreSQL not configured; set PALISADE_TEST_POSTGRES_URL\n      e.g. internal/a TestPG, internal/a TestPG2\n",
		"  1 × Redis not configured; set PALISADE_TEST_REDIS_URL\n      e.g. internal/a TestRedis\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, quiet := range []string{"chatty log line", "=== RUN", "PASS\n"} {
		if strings.Contains(got, quiet) {
			t.Errorf("output of passing tests leaked (%q):\n%s", quiet, got)
		}
	}
}

func TestNothingSkippedNothingFailed(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	failed, err := summarise(strings.NewReader(`{"Action":"output","Package":"p","Output":"ok  \tp\t0.01s\n"}`+"\n"+`{"Action":"pass","Package":"p"}`+"\n"), &out)
	if err != nil || failed {
		t.Fatalf("failed=%v err=%v", failed, err)
	}
	if out.String() != "ok  \tp\t0.01s\nskipped: none; every test ran\n" {
		t.Errorf("output %q", out.String())
	}
}

// TestAgainstRealGoTest runs `go test -json` on a small module of its own
// whose tests pass, skip and fail, so the summary is checked against the
// go command's real output, not only a hand-written stream.
func TestAgainstRealGoTest(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed: %v", err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/sample\n\ngo 1.26.0\n",
		"sample_test.go": `package sample

import (
	"os"
	"testing"
)

func TestRuns(t *testing.T) { t.Log("fine") }

func TestNeedsService(t *testing.T) {
	if os.Getenv("SAMPLE_SERVICE") == "" {
		t.Skip("SAMPLE_SERVICE is not set; set it to run this test")
	}
}

func TestFails(t *testing.T) { t.Error("broken on purpose") }
`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(goBin, "test", "-json", "-count=1", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	raw, _ := cmd.Output()
	var out bytes.Buffer
	failed, err := summarise(bytes.NewReader(raw), &out)
	if err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if !failed || !strings.Contains(got, "broken on purpose") || !strings.Contains(got, "--- FAIL: TestFails") ||
		!strings.Contains(got, "1 × SAMPLE_SERVICE is not set; set it to run this test\n      e.g. example.com/sample TestNeedsService") ||
		strings.Contains(got, "fine") {
		t.Errorf("failed=%v, output:\n%s", failed, got)
	}
}
