package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
)

// testSeal is a stand-in for package audit's hash: the suite checks that
// the store places entries and stores what the seal returns, not the
// encoding itself. It covers what the store decides (workspace, seq, prev,
// time) so a wrong value there shows as a wrong hash.
func testSeal(e store.AuditEntry) []byte {
	h := sha256.New()
	h.Write(e.PrevHash)
	h.Write([]byte(e.WorkspaceID))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(e.Seq)))
	h.Write([]byte(string(e.ID) + "|" + e.Action + "|" + e.Target))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(e.CreatedAt.UnixMicro())))
	h.Write([]byte{byte(e.HashVersion)})
	return h.Sum(nil)
}

// auditEntry is an entry as a caller hands it over. at is the caller's
// idea of the time, which the store must not take.
func auditEntry(action, target string, at time.Time) store.AuditEntry {
	return store.AuditEntry{Actor: "usr_x", Action: action, Target: target, Outcome: "success", IP: "192.0.2.1",
		RequestID: "req-1", Detail: `{"role":"admin"}`, CreatedAt: at, HashVersion: 2}
}

// deleteWorkspace deletes a workspace the way package audit does, with
// the test seal: the platform entry names the workspace and carries the
// final seq and hash of its chain in its detail.
func deleteWorkspace(t *testing.T, s store.Store, scope palisade.Scope) (store.AuditEntry, error) {
	return s.DeleteWorkspace(ctx(t), scope, store.DeleteWorkspaceParams{
		Record: func(final store.AuditHead) store.AuditEntry {
			e := auditEntry("workspace.deleted", string(scope.Workspace()), time.Time{})
			e.Detail = fmt.Sprintf(`{"final_hash":"%x","final_seq":"%d"}`, final.Hash, final.Seq)
			return e
		},
		Seal: testSeal,
	})
}

// manualClock is a store clock the test sets, forwards or back.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// checkChain asserts entries form a chain 1..n with links and seals intact.
func checkChain(t *testing.T, entries []store.AuditEntry, ws palisade.WorkspaceID) {
	t.Helper()
	prev := make([]byte, 32)
	for i, e := range entries {
		if e.Seq != int64(i+1) || e.WorkspaceID != ws {
			t.Fatalf("entry %d: seq %d workspace %q, want seq %d workspace %q", i, e.Seq, e.WorkspaceID, i+1, ws)
		}
		if !bytes.Equal(e.PrevHash, prev) {
			t.Fatalf("entry seq %d: prev_hash does not link to seq %d", e.Seq, e.Seq-1)
		}
		if !bytes.Equal(e.Hash, testSeal(e)) {
			t.Fatalf("entry seq %d: stored hash is not the seal of the stored entry", e.Seq)
		}
		prev = e.Hash
	}
}

func readAll(t *testing.T, s store.Store, scope *palisade.Scope) []store.AuditEntry {
	t.Helper()
	var all []store.AuditEntry
	var after int64
	for {
		var page []store.AuditEntry
		var err error
		if scope == nil {
			page, err = s.ReadPlatformAuditChain(ctx(t), after, 3)
		} else {
			page, err = s.ReadAuditChain(ctx(t), *scope, after, 3)
		}
		if err != nil {
			t.Fatalf("reading chain: %v", err)
		}
		if len(page) == 0 {
			return all
		}
		if len(page) > 3 {
			t.Fatalf("page of %d entries, limit 3", len(page))
		}
		all = append(all, page...)
		after = page[len(page)-1].Seq
	}
}

func testAuditLog(t *testing.T, open Opener) {
	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		testAuditConcurrent(t, open)
	})
	t.Run("TimesAreSetByTheStoreAndIncrease", func(t *testing.T) {
		t.Parallel()
		testAuditServerTime(t, open)
	})
	t.Run("DeleteWorkspaceRecordsTheChainEnd", func(t *testing.T) {
		t.Parallel()
		testAuditWorkspaceDeletion(t, open)
	})
	t.Run("DeletionRecordsTheTrueFinalHeadUnderConcurrentAppends", func(t *testing.T) {
		t.Parallel()
		testAuditDeletionRace(t, open)
	})
	s := open(t, store.Options{})
	a, b := mustWS(t, s, "A"), mustWS(t, s, "B")

	// Appends build a chain per workspace, each starting from the genesis.
	var appended []store.AuditEntry
	for i := range 7 {
		e, err := s.AppendAudit(ctx(t), a, auditEntry("apikey.created", fmt.Sprint("t", i), t0.Add(time.Duration(i)*time.Second)), testSeal)
		if err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
		appended = append(appended, e)
	}
	if _, err := s.AppendAudit(ctx(t), b, auditEntry("login.success", "b0", t0), testSeal); err != nil {
		t.Fatalf("AppendAudit in b: %v", err)
	}
	got := readAll(t, s, &a)
	if len(got) != 7 {
		t.Fatalf("chain of a has %d entries, want 7", len(got))
	}
	checkChain(t, got, a.Workspace())
	for i := range got {
		w, g := appended[i], got[i]
		if g.ID != w.ID || !palisade.ValidID(palisade.PrefixAudit, string(g.ID)) || g.Actor != "usr_x" || g.Action != "apikey.created" ||
			g.Target != fmt.Sprint("t", i) || g.Outcome != "success" || g.IP != "192.0.2.1" || g.RequestID != "req-1" ||
			g.Detail != `{"role":"admin"}` || !g.CreatedAt.Equal(w.CreatedAt) || !bytes.Equal(g.Hash, w.Hash) {
			t.Fatalf("entry %d read back as %+v, appended %+v", i, g, w)
		}
	}
	if bc := readAll(t, s, &b); len(bc) != 1 || bc[0].Target != "b0" {
		t.Fatalf("chain of b = %+v", bc)
	} else {
		checkChain(t, bc, b.Workspace())
	}

	// Newest first, paged by seq; another workspace's entries never show.
	page, err := s.ListAudit(ctx(t), a, store.ListAuditParams{Limit: 3})
	if err != nil || len(page) != 3 || page[0].Seq != 7 || page[2].Seq != 5 {
		t.Fatalf("ListAudit first page = %d entries, %v", len(page), err)
	}
	page, err = s.ListAudit(ctx(t), a, store.ListAuditParams{BeforeSeq: 5, Limit: 10})
	if err != nil || len(page) != 4 || page[0].Seq != 4 || page[3].Seq != 1 {
		t.Fatalf("ListAudit second page = %d entries, %v", len(page), err)
	}
	if page, err := s.ListAudit(ctx(t), b, store.ListAuditParams{}); err != nil || len(page) != 1 || page[0].Target != "b0" || page[0].HashVersion != 2 {
		t.Fatalf("ListAudit of b = %+v, %v", page, err)
	}
	ghost := palisade.ScopeFor(palisade.NewWorkspaceID())
	if page, err := s.ListAudit(ctx(t), ghost, store.ListAuditParams{}); err != nil || len(page) != 0 {
		t.Fatalf("ListAudit of an unknown workspace = %+v, %v", page, err)
	}

	// The platform chain is separate from every workspace's.
	for i := range 4 {
		if _, err := s.AppendPlatformAudit(ctx(t), auditEntry("workspace.created", fmt.Sprint("p", i), t0), testSeal); err != nil {
			t.Fatalf("AppendPlatformAudit: %v", err)
		}
	}
	pc := readAll(t, s, nil)
	if len(pc) != 4 {
		t.Fatalf("platform chain has %d entries", len(pc))
	}
	checkChain(t, pc, "")
	if page, err := s.ListPlatformAudit(ctx(t), store.ListAuditParams{Limit: 2}); err != nil || len(page) != 2 || page[0].Seq != 4 {
		t.Fatalf("ListPlatformAudit = %+v, %v", page, err)
	}

	// Without a scope nothing is written or read.
	_, err = s.AppendAudit(ctx(t), palisade.Scope{}, auditEntry("x.y", "", t0), testSeal)
	wantErr(t, err, store.ErrNoScope, "AppendAudit without scope")
	_, err = s.ReadAuditChain(ctx(t), palisade.Scope{}, 0, 10)
	wantErr(t, err, store.ErrNoScope, "ReadAuditChain without scope")
	_, err = s.ListAudit(ctx(t), palisade.Scope{}, store.ListAuditParams{})
	wantErr(t, err, store.ErrNoScope, "ListAudit without scope")
}

// testAuditConcurrent appends from many goroutines at once, to one
// workspace chain and the platform chain: the result must still be one
// unbroken chain each, with no append lost.
func testAuditConcurrent(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a := mustWS(t, s, "A")
	const workers, each = 8, 6
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if _, err := s.AppendAudit(ctx(t), a, auditEntry("login.success", fmt.Sprint(w, "-", i), t0), testSeal); err != nil {
					errs <- err
				}
				if _, err := s.AppendPlatformAudit(ctx(t), auditEntry("workspace.created", fmt.Sprint(w, "-", i), t0), testSeal); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent append: %v", err)
	}
	got := readAll(t, s, &a)
	if len(got) != workers*each {
		t.Fatalf("workspace chain has %d entries, want %d", len(got), workers*each)
	}
	checkChain(t, got, a.Workspace())
	pc := readAll(t, s, nil)
	if len(pc) != workers*each {
		t.Fatalf("platform chain has %d entries, want %d", len(pc), workers*each)
	}
	checkChain(t, pc, "")
}

// testAuditServerTime: the time of an entry is the store's clock read in
// the append, whatever the caller says, and never at or before the
// previous entry of its chain, even when the clock steps back.
func testAuditServerTime(t *testing.T, open Opener) {
	clock := &manualClock{t: t0}
	s := open(t, store.Options{Now: clock.Now})
	a := mustWS(t, s, "A")
	type step struct {
		name   string
		clock  time.Time
		caller time.Time
		want   time.Time
	}
	steps := []step{
		{"the clock, not the caller's past", t0, t0.Add(-24 * time.Hour), t0},
		{"the clock, not the caller's future", t0.Add(time.Second), t0.Add(365 * 24 * time.Hour), t0.Add(time.Second)},
		{"clock stepped back: one microsecond after the previous", t0.Add(-time.Hour), t0.Add(2 * time.Second), t0.Add(time.Second + time.Microsecond)},
		{"clock unchanged: still later", t0.Add(-time.Hour), t0, t0.Add(time.Second + 2*time.Microsecond)},
		{"same microsecond as the previous", t0.Add(time.Second + 2*time.Microsecond + 300), t0, t0.Add(time.Second + 3*time.Microsecond)},
		{"clock forward again", t0.Add(time.Minute + 1500), t0, t0.Add(time.Minute + time.Microsecond)},
	}
	for _, chain := range []string{"workspace", "platform"} {
		for i, st := range steps {
			clock.Set(st.clock)
			var e store.AuditEntry
			var err error
			if chain == "platform" {
				e, err = s.AppendPlatformAudit(ctx(t), auditEntry("key.rotated", fmt.Sprint(i), st.caller), testSeal)
			} else {
				e, err = s.AppendAudit(ctx(t), a, auditEntry("login.success", fmt.Sprint(i), st.caller), testSeal)
			}
			if err != nil {
				t.Fatalf("%s %s: %v", chain, st.name, err)
			}
			if !e.CreatedAt.Equal(st.want) {
				t.Errorf("%s chain, %s: stored time %s, want %s", chain, st.name, e.CreatedAt.Format(time.RFC3339Nano), st.want.Format(time.RFC3339Nano))
			}
		}
	}
	// What was returned is what was stored, sealed over the store's time.
	for _, sc := range []*palisade.Scope{&a, nil} {
		got := readAll(t, s, sc)
		ws := palisade.WorkspaceID("")
		if sc != nil {
			ws = sc.Workspace()
		}
		checkChain(t, got, ws)
		for i := 1; i < len(got); i++ {
			if !got[i].CreatedAt.After(got[i-1].CreatedAt) {
				t.Fatalf("seq %d at %s is not after seq %d at %s", got[i].Seq, got[i].CreatedAt, got[i-1].Seq, got[i-1].CreatedAt)
			}
		}
		if len(got) != len(steps) || !got[2].CreatedAt.Equal(steps[2].want) {
			t.Fatalf("read back %d entries, third at %v", len(got), got[2].CreatedAt)
		}
	}
}

// testAuditWorkspaceDeletion: deleting a workspace appends to the platform
// chain, in the same transaction, the entry recording its chain's final
// head; no record, no deletion; a failed deletion records nothing.
func testAuditWorkspaceDeletion(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a, empty, kept := mustWS(t, s, "A"), mustWS(t, s, "Empty"), mustWS(t, s, "Kept")
	for i := range 3 {
		if _, err := s.AppendAudit(ctx(t), a, auditEntry("apikey.created", fmt.Sprint(i), t0), testSeal); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AppendAudit(ctx(t), kept, auditEntry("apikey.created", "k", t0), testSeal); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendPlatformAudit(ctx(t), auditEntry("workspace.created", "p", t0), testSeal); err != nil {
		t.Fatal(err)
	}
	chainA := readAll(t, s, &a)

	// Without a record of the chain's end nothing is deleted.
	if _, err := s.DeleteWorkspace(ctx(t), a, store.DeleteWorkspaceParams{}); err == nil {
		t.Fatal("DeleteWorkspace without a record deleted")
	}
	if _, err := s.GetWorkspace(ctx(t), a); err != nil {
		t.Fatalf("workspace gone after a refused deletion: %v", err)
	}

	rec, err := deleteWorkspace(t, s, a)
	if err != nil {
		t.Fatalf("DeleteWorkspace: %v", err)
	}
	wantDetail := fmt.Sprintf(`{"final_hash":"%x","final_seq":"3"}`, chainA[2].Hash)
	if rec.Seq != 2 || rec.Action != "workspace.deleted" || rec.Target != string(a.Workspace()) || rec.Detail != wantDetail {
		t.Fatalf("deletion record = %+v, want platform seq 2 carrying %s", rec, wantDetail)
	}
	pc := readAll(t, s, nil)
	checkChain(t, pc, "")
	if len(pc) != 2 || pc[1].ID != rec.ID || pc[1].Detail != wantDetail || !bytes.Equal(pc[1].Hash, rec.Hash) {
		t.Fatalf("platform chain after deletion = %+v", pc)
	}
	if got := readAll(t, s, &a); len(got) != 0 {
		t.Fatalf("deleted workspace's chain still has %d entries", len(got))
	}
	if got := readAll(t, s, &kept); len(got) != 1 {
		t.Fatalf("another workspace's chain has %d entries", len(got))
	}

	// An empty chain ends at seq 0.
	rec, err = deleteWorkspace(t, s, empty)
	if err != nil || rec.Detail != `{"final_hash":"","final_seq":"0"}` || rec.Seq != 3 {
		t.Fatalf("deleting a workspace with no audit entries: %+v, %v", rec, err)
	}
	// A deletion that fails (the workspace is gone) leaves no record.
	_, err = deleteWorkspace(t, s, a)
	wantErr(t, err, store.ErrNotFound, "second DeleteWorkspace")
	_, err = deleteWorkspace(t, s, palisade.ScopeFor(palisade.NewWorkspaceID()))
	wantErr(t, err, store.ErrNotFound, "DeleteWorkspace of an unknown workspace")
	if pc := readAll(t, s, nil); len(pc) != 3 {
		t.Fatalf("failed deletions left records: platform chain has %d entries, want 3", len(pc))
	}
}

// testAuditDeletionRace deletes a workspace while entries are appended to
// its chain: the final head recorded is the chain's true last entry, so no
// append slips in between the record and the deletion.
func testAuditDeletionRace(t *testing.T, open Opener) {
	s := open(t, store.Options{})
	a := mustWS(t, s, "A")
	first, err := s.AppendAudit(ctx(t), a, auditEntry("login.success", "first", t0), testSeal)
	if err != nil {
		t.Fatal(err)
	}
	const workers = 4
	var mu sync.Mutex
	var appended []store.AuditEntry
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				e, err := s.AppendAudit(ctx(t), a, auditEntry("login.success", fmt.Sprint(w, "-", i), t0), testSeal)
				if err != nil {
					return // the workspace is gone
				}
				mu.Lock()
				appended = append(appended, e)
				mu.Unlock()
			}
		})
	}
	// Delete once appends are flowing, so that some are in flight.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		n := len(appended)
		mu.Unlock()
		if n >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d appends in 10s", n)
		}
	}
	rec, err := deleteWorkspace(t, s, a)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("DeleteWorkspace: %v", err)
	}
	last := first
	for _, e := range appended {
		if e.Seq > last.Seq {
			last = e
		}
	}
	if int64(len(appended)+1) != last.Seq {
		t.Fatalf("%d appends succeeded but the last has seq %d", len(appended), last.Seq)
	}
	if !strings.Contains(rec.Detail, fmt.Sprintf(`"final_seq":"%d"`, last.Seq)) || !strings.Contains(rec.Detail, fmt.Sprintf("%x", last.Hash)) {
		t.Fatalf("deletion recorded %s; the last append that succeeded was seq %d", rec.Detail, last.Seq)
	}
}
