package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
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
	return h.Sum(nil)
}

func auditEntry(action, target string, at time.Time) store.AuditEntry {
	return store.AuditEntry{Actor: "usr_x", Action: action, Target: target, Outcome: "success", IP: "192.0.2.1",
		RequestID: "req-1", Detail: `{"role":"admin"}`, CreatedAt: at}
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
	if page, err := s.ListAudit(ctx(t), b, store.ListAuditParams{}); err != nil || len(page) != 1 || page[0].Target != "b0" {
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
