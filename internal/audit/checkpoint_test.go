package audit_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/palisade"
)

// head is a made-up head of seq n: its hash says which seq it is.
func head(c audit.Chain, n int64) audit.Head {
	return audit.Head{Chain: c, Seq: n, Hash: bytes.Repeat([]byte{byte(n)}, audit.HashLen), Time: t0.Add(time.Duration(n) * time.Second).Truncate(time.Microsecond)}
}

func checkpointPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), audit.CheckpointFileName)
}

func flushHeads(t *testing.T, c *audit.Checkpointer, heads ...audit.Head) {
	t.Helper()
	for _, h := range heads {
		c.Note(h)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
}

func trusted(t *testing.T, path string) map[audit.Chain]audit.Checkpoint {
	t.Helper()
	set, err := audit.ReadCheckpoints(path, testKeys(t))
	if err != nil || set.Missing || set.Unreadable != "" || len(set.Untrusted) != 0 {
		t.Fatalf("checkpoint file: %+v, %v", set, err)
	}
	return set.Trusted
}

func TestCheckpointFileIsPrivateAndWrittenAtomically(t *testing.T) {
	t.Parallel()
	path := checkpointPath(t)
	c := audit.NewCheckpointer(path, testKeys(t), audit.CheckpointerOptions{})
	p := audit.PlatformChain()
	flushHeads(t, c, head(p, 1))
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("checkpoint file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if got := trusted(t, path)[p]; got.Seq != 1 || !bytes.Equal(got.Hash, head(p, 1).Hash) || !got.Time.Equal(head(p, 1).Time) {
		t.Fatalf("checkpoint = %+v", got)
	}

	// A file someone widened is replaced by a private one.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	before, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	beforeInfo, _ := before.Stat()
	beforeBytes, _ := os.ReadFile(path)
	flushHeads(t, c, head(p, 2))
	afterInfo, err := os.Stat(path)
	if err != nil || afterInfo.Mode().Perm() != 0o600 {
		t.Fatalf("after rewrite: mode %v, %v", afterInfo.Mode().Perm(), err)
	}
	// Replaced by rename, never rewritten in place: the file still open
	// is the old one, whole.
	if os.SameFile(beforeInfo, afterInfo) {
		t.Fatal("the checkpoint file was rewritten in place, not replaced")
	}
	var stillOld bytes.Buffer
	if _, err := stillOld.ReadFrom(before); err != nil || !bytes.Equal(stillOld.Bytes(), beforeBytes) {
		t.Fatalf("the old file changed under its reader: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if e.Name() != audit.CheckpointFileName && e.Name() != audit.CheckpointFileName+".lock" {
			t.Errorf("left behind: %s", e.Name())
		}
	}

	// Readers racing writers always see a whole, signed file whose head
	// only moves forward.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 1)
	wg.Go(func() {
		var last int64
		for {
			select {
			case <-stop:
				return
			default:
			}
			set, err := audit.ReadCheckpoints(path, testKeys(t))
			cp, ok := set.Trusted[p]
			switch {
			case err != nil || set.Missing || set.Unreadable != "" || len(set.Untrusted) > 0 || !ok:
				select {
				case errs <- "a reader saw a partial or unsigned file: " + set.Unreadable:
				default:
				}
				return
			case cp.Seq < last:
				select {
				case errs <- "a reader saw the head move back":
				default:
				}
				return
			}
			last = cp.Seq
		}
	})
	for n := int64(3); n < 60; n++ {
		flushHeads(t, c, head(p, n))
	}
	close(stop)
	wg.Wait()
	select {
	case msg := <-errs:
		t.Fatal(msg)
	default:
	}
}

func TestCheckpointNeverMovesBackwards(t *testing.T) {
	t.Parallel()
	path := checkpointPath(t)
	// Two writers on one file, as two processes sharing it would be.
	one := audit.NewCheckpointer(path, testKeys(t), audit.CheckpointerOptions{})
	two := audit.NewCheckpointer(path, testKeys(t), audit.CheckpointerOptions{})
	p, ws := audit.PlatformChain(), audit.WorkspaceChain(palisade.NewWorkspaceID())

	flushHeads(t, one, head(p, 10), head(ws, 3))
	flushHeads(t, two, head(p, 5)) // a process that saw less
	if got := trusted(t, path); got[p].Seq != 10 || got[ws].Seq != 3 {
		t.Fatalf("after a lower head: platform seq %d, workspace seq %d", got[p].Seq, got[ws].Seq)
	}
	flushHeads(t, two, head(p, 12))
	flushHeads(t, one, head(ws, 4))
	if got := trusted(t, path); got[p].Seq != 12 || got[ws].Seq != 4 {
		t.Fatalf("writers did not merge: platform seq %d, workspace seq %d", got[p].Seq, got[ws].Seq)
	}

	// Noted out of order in one process: the higher head stays.
	one.Note(head(p, 20))
	one.Note(head(p, 15))
	if err := one.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := trusted(t, path); got[p].Seq != 20 {
		t.Fatalf("platform seq %d after noting 20 then 15", got[p].Seq)
	}

	// Another hash at the same seq is refused, and the file's is kept.
	fork := head(p, 20)
	fork.Hash = bytes.Repeat([]byte{0xee}, audit.HashLen)
	two.Note(fork)
	if err := two.Flush(); err == nil || !strings.Contains(err.Error(), "left in place") {
		t.Fatalf("a forked head: %v", err)
	}
	if got := trusted(t, path); !bytes.Equal(got[p].Hash, head(p, 20).Hash) {
		t.Fatal("a forked head replaced the checkpoint")
	}
}

func TestCheckpointWithABadSignatureIsReportedNotTrusted(t *testing.T) {
	t.Parallel()
	// Someone who can write the file but not sign cuts the chain back to
	// seq 4 and lowers its checkpoint to match.
	a := newAnchored(t)
	ws := palisade.NewWorkspaceID()
	a.record(t, ws, 6)
	a.checkpoint(t)
	raw, err := os.ReadFile(a.path)
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	chains := f["chains"].(map[string]any)
	chains[string(ws)].(map[string]any)["seq"] = 4
	chains[string(ws)].(map[string]any)["hash"] = strings.TrimSpace(strings.Repeat("ab", 32))
	tampered, _ := json.Marshal(f)
	if err := os.WriteFile(a.path, tampered, 0o600); err != nil {
		t.Fatal(err)
	}
	a.f.rows[ws] = a.f.rows[ws][:4]

	set := a.read(t)
	if _, ok := set.Trusted[audit.WorkspaceChain(ws)]; ok {
		t.Fatal("a checkpoint with a bad signature is trusted")
	}
	if u := set.Untrusted[audit.WorkspaceChain(ws)]; u.Seq != 4 || !strings.Contains(u.Reason, "signature") {
		t.Fatalf("untrusted = %+v", set.Untrusted)
	}
	results, err := audit.VerifyAll(t.Context(), a.f, opts(t, set), nil)
	if err != nil {
		t.Fatal(err)
	}
	var r audit.Result
	for _, x := range results {
		if x.Chain.Workspace == ws {
			r = x
		}
	}
	if r.OK() || r.CheckpointProblem == nil || r.CheckpointProblem.Kind != audit.KindUntrusted || r.Checkpoint != nil ||
		!strings.Contains(r.CheckpointProblem.Error(), string(ws)+" audit chain: checkpoint untrusted at seq 4") {
		t.Fatalf("result = %+v (%v)", r, r.Problems())
	}
	// A writer leaves the bad checkpoint for the verifier to see.
	a.cp.Note(audit.Head{Chain: audit.WorkspaceChain(ws), Seq: 7, Hash: bytes.Repeat([]byte{7}, 32), Time: t0})
	if err := a.cp.Flush(); err == nil {
		t.Fatal("Flush over an untrusted checkpoint reported nothing")
	}
	if now, _ := os.ReadFile(a.path); !bytes.Equal(now, tampered) {
		t.Fatal("the untrusted checkpoint was overwritten")
	}

	// A whole file under another key, or not a checkpoint file at all.
	for name, write := range map[string]func(path string){
		"another key": func(path string) {
			c := audit.NewCheckpointer(path, otherKeys(t), audit.CheckpointerOptions{})
			flushHeads(t, c, head(audit.PlatformChain(), 3))
		},
		"garbage": func(path string) { _ = os.WriteFile(path, []byte("{\"format\": 1"), 0o600) },
	} {
		path := checkpointPath(t)
		write(path)
		set, err := audit.ReadCheckpoints(path, testKeys(t))
		if err != nil || set.Unreadable == "" || len(set.Trusted) != 0 {
			t.Fatalf("%s: %+v, %v", name, set, err)
		}
		results, err := audit.VerifyAll(t.Context(), newFake(), opts(t, set), nil)
		if err != nil || len(results) != 1 || results[0].CheckpointProblem == nil || results[0].CheckpointProblem.Kind != audit.KindUntrusted {
			t.Fatalf("%s: %+v, %v", name, results, err)
		}
		c := audit.NewCheckpointer(path, testKeys(t), audit.CheckpointerOptions{})
		c.Note(head(audit.PlatformChain(), 9))
		if err := c.Flush(); err == nil || !strings.Contains(err.Error(), "not trusted") {
			t.Fatalf("%s: a writer replaced an untrusted file: %v", name, err)
		}
	}
}

func TestCheckpointerWritesInBatchesAndOnStop(t *testing.T) {
	t.Parallel()
	path := checkpointPath(t)
	c := audit.NewCheckpointer(path, testKeys(t), audit.CheckpointerOptions{Interval: 30 * time.Millisecond})
	p := audit.PlatformChain()
	c.Note(head(p, 1)) // not started: nothing is written on its own
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("written before Start or Flush: %v", err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if set, err := audit.ReadCheckpoints(path, testKeys(t)); err == nil && set.Trusted[p].Seq == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a noted head was not written within the interval")
		}
	}
	c.Note(head(p, 2))
	c.Stop() // writes at once, not an interval later
	if got := trusted(t, path)[p].Seq; got != 2 {
		t.Fatalf("after Stop the checkpoint is at seq %d, want 2", got)
	}
	c.Stop()
}

func TestVerifyWithoutACheckpointFileIsUnanchored(t *testing.T) {
	t.Parallel()
	f, ws := chainOf(t, 3)
	missing, err := audit.ReadCheckpoints(checkpointPath(t), testKeys(t))
	if err != nil || !missing.Missing {
		t.Fatalf("missing file: %+v, %v", missing, err)
	}
	res, err := audit.VerifyChain(t.Context(), f, audit.WorkspaceChain(ws), opts(t, missing))
	if err != nil || res.Problem != nil || res.CheckpointProblem == nil || res.CheckpointProblem.Kind != audit.KindUnanchored {
		t.Fatalf("keyed chain without a checkpoint file: %+v, %v", res, err)
	}
	// An empty chain needs no anchor.
	res, err = audit.VerifyChain(t.Context(), f, audit.PlatformChain(), opts(t, missing))
	if err != nil || !res.OK() {
		t.Fatalf("empty chain: %+v, %v", res, err)
	}
}
