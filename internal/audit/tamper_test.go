package audit_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/store"
)

// anchored is a fake store whose chains a Logger with the test keys wrote,
// and whose heads a Checkpointer signed into a file.
type anchored struct {
	f    *fakeChain
	l    *audit.Logger
	cp   *audit.Checkpointer
	path string
}

func newAnchored(t *testing.T) *anchored {
	t.Helper()
	f := newFake()
	path := filepath.Join(t.TempDir(), audit.CheckpointFileName)
	cp := audit.NewCheckpointer(path, testKeys(t), audit.CheckpointerOptions{})
	return &anchored{f: f, l: audit.New(f, audit.Options{Keys: testKeys(t), Checkpoints: cp}), cp: cp, path: path}
}

// record appends n entries to the workspace's chain.
func (a *anchored) record(t *testing.T, ws palisade.WorkspaceID, n int) {
	t.Helper()
	for i := range n {
		if err := a.l.Record(t.Context(), palisade.ScopeFor(ws), entry(i)); err != nil {
			t.Fatal(err)
		}
	}
}

// checkpoint writes the noted heads and reads the file back.
func (a *anchored) checkpoint(t *testing.T) *audit.CheckpointSet {
	t.Helper()
	if err := a.cp.Flush(); err != nil {
		t.Fatal(err)
	}
	return a.read(t)
}

func (a *anchored) read(t *testing.T) *audit.CheckpointSet {
	t.Helper()
	set, err := audit.ReadCheckpoints(a.path, testKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// forge builds the entry someone with write access to the database but
// not the key would append after the chain's last row.
func forge(rows []store.AuditEntry, seal func(store.AuditEntry) []byte, version int) store.AuditEntry {
	last := rows[len(rows)-1]
	e := store.AuditEntry{WorkspaceID: last.WorkspaceID, Seq: last.Seq + 1, ID: palisade.NewAuditID(), Actor: "usr_mallory",
		Action: string(audit.ActionMemberRoleChanged), Target: "usr_mallory", Outcome: string(audit.OutcomeSuccess),
		Detail: `{"role":"owner"}`, CreatedAt: last.CreatedAt.Add(time.Second), PrevHash: last.Hash, HashVersion: version}
	e.Hash = seal(e)
	return e
}

// wantProblem checks a result's problem and that its message names the
// chain, the seq, the kind and what was found.
func wantProblem(t *testing.T, res audit.Result, kind audit.Kind, seq int64) *audit.Problem {
	t.Helper()
	p := res.Problem
	if p == nil {
		t.Fatalf("not detected: %+v", res)
	}
	if p.Kind != kind || p.Seq != seq {
		t.Fatalf("problem = %s, want %s at seq %d", p, kind, seq)
	}
	msg := p.Error()
	for _, want := range []string{res.Chain.String() + " audit chain", fmt.Sprintf("seq %d", seq), string(kind), "expected ", "found "} {
		if !strings.Contains(msg, want) {
			t.Fatalf("message does not say %q: %s", want, msg)
		}
	}
	return p
}

func TestVerifyDetectsAForgedAppendedEntry(t *testing.T) {
	t.Parallel()
	keys, other := testKeys(t), otherKeys(t)
	tests := []struct {
		name    string
		version int
		seal    func(store.AuditEntry) []byte
		twice   bool
	}{
		{"plain SHA-256 labelled keyed", audit.HashKeyed, audit.LegacyHash, false},
		{"plain SHA-256 labelled legacy", audit.HashLegacy, audit.LegacyHash, false},
		{"HMAC under another key", audit.HashKeyed, other.Hash, false},
		{"two entries, linked", audit.HashKeyed, audit.LegacyHash, true},
	}
	for _, tt := range tests {
		for _, withCheckpoint := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, checkpoint %v", tt.name, withCheckpoint), func(t *testing.T) {
				t.Parallel()
				a := newAnchored(t)
				ws := palisade.NewWorkspaceID()
				a.record(t, ws, 5)
				var set *audit.CheckpointSet
				if withCheckpoint {
					set = a.checkpoint(t)
				}
				a.f.rows[ws] = append(a.f.rows[ws], forge(a.f.rows[ws], tt.seal, tt.version))
				if tt.twice {
					a.f.rows[ws] = append(a.f.rows[ws], forge(a.f.rows[ws], tt.seal, tt.version))
				}
				res, err := audit.VerifyChain(t.Context(), a.f, audit.WorkspaceChain(ws), opts(t, set))
				if err != nil {
					t.Fatal(err)
				}
				p := wantProblem(t, res, audit.KindForged, 6)
				if res.Entries != 5 || !strings.Contains(p.Error(), "appended without the key") {
					t.Fatalf("%d entries verified; %s", res.Entries, p)
				}
			})
		}
	}
	// With the key, the same append is an ordinary one.
	a := newAnchored(t)
	ws := palisade.NewWorkspaceID()
	a.record(t, ws, 5)
	a.f.rows[ws] = append(a.f.rows[ws], forge(a.f.rows[ws], keys.Hash, audit.HashKeyed))
	if res, err := audit.VerifyChain(t.Context(), a.f, audit.WorkspaceChain(ws), opts(t, nil)); err != nil || !res.OK() || res.Entries != 6 {
		t.Fatalf("an append made with the key: %+v, %v", res, err)
	}
}

func TestVerifyDetectsARewrittenAndRehashedEntry(t *testing.T) {
	t.Parallel()
	other := otherKeys(t)
	tests := []struct {
		name   string
		kind   audit.Kind
		tamper func(e *store.AuditEntry)
	}{
		{"rehashed with plain SHA-256", audit.KindRewritten, func(e *store.AuditEntry) { e.Hash = audit.LegacyHash(*e) }},
		{"relabelled legacy and rehashed", audit.KindRewritten, func(e *store.AuditEntry) {
			e.HashVersion = audit.HashLegacy
			e.Hash = audit.LegacyHash(*e)
		}},
		{"relabelled legacy, hash kept", audit.KindRewritten, func(e *store.AuditEntry) { e.HashVersion = audit.HashLegacy }},
		// Under another key the new hash cannot be told from garbage: the
		// entry no longer matches its hash, and that is what is reported.
		{"rehashed under another key", audit.KindEdited, func(e *store.AuditEntry) { e.Hash = other.Hash(*e) }},
	}
	for _, tt := range tests {
		for _, withCheckpoint := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, checkpoint %v", tt.name, withCheckpoint), func(t *testing.T) {
				t.Parallel()
				a := newAnchored(t)
				ws := palisade.NewWorkspaceID()
				a.record(t, ws, 6)
				var set *audit.CheckpointSet
				if withCheckpoint {
					set = a.checkpoint(t)
				}
				e := &a.f.rows[ws][2]
				e.Actor, e.Outcome = "usr_someone_else", string(audit.OutcomeFailure)
				tt.tamper(e)
				res, err := audit.VerifyChain(t.Context(), a.f, audit.WorkspaceChain(ws), opts(t, set))
				if err != nil {
					t.Fatal(err)
				}
				p := wantProblem(t, res, tt.kind, 3)
				if p.ID != e.ID || !strings.Contains(p.Error(), string(e.ID)) || res.Entries != 2 {
					t.Fatalf("%s does not name entry %s, or %d entries verified", p, e.ID, res.Entries)
				}
			})
		}
	}

	// Rewriting the whole tail up to the checkpoint, links and all, with
	// plain hashes: the checkpoint rules out an append.
	a := newAnchored(t)
	ws := palisade.NewWorkspaceID()
	a.record(t, ws, 6)
	set := a.checkpoint(t)
	rows := a.f.rows[ws]
	for i := 2; i < len(rows); i++ {
		rows[i].Actor = "usr_someone_else"
		rows[i].PrevHash = rows[i-1].Hash
		rows[i].Hash = audit.LegacyHash(rows[i])
	}
	res, err := audit.VerifyChain(t.Context(), a.f, audit.WorkspaceChain(ws), opts(t, set))
	if err != nil {
		t.Fatal(err)
	}
	wantProblem(t, res, audit.KindRewritten, 3)
}

func TestVerifyDetectsATruncatedTailThroughTheCheckpoint(t *testing.T) {
	t.Parallel()
	for _, keep := range []int{4, 1, 0} {
		t.Run(fmt.Sprint("keep ", keep), func(t *testing.T) {
			t.Parallel()
			a := newAnchored(t)
			ws := palisade.NewWorkspaceID()
			a.record(t, ws, 6)
			set := a.checkpoint(t)
			head := a.f.rows[ws][5]
			a.f.rows[ws] = a.f.rows[ws][:keep]
			// What is left is a valid chain: only the checkpoint tells.
			if res, err := audit.VerifyChain(t.Context(), a.f, audit.WorkspaceChain(ws), opts(t, nil)); err != nil || !res.OK() {
				t.Fatalf("without the checkpoint: %+v, %v", res, err)
			}
			res, err := audit.VerifyChain(t.Context(), a.f, audit.WorkspaceChain(ws), opts(t, set))
			if err != nil {
				t.Fatal(err)
			}
			p := wantProblem(t, res, audit.KindTruncated, int64(keep+1))
			if !strings.Contains(p.Expected, "seq 6") || !strings.Contains(p.Expected, fmt.Sprintf("%x", head.Hash[:8])) ||
				!strings.Contains(p.Found, fmt.Sprintf("last seq %d", keep)) {
				t.Fatalf("expected/found do not say what is missing: %s", p)
			}
		})
	}

	// Cut back and then extended with forged entries up to the old length.
	a := newAnchored(t)
	ws := palisade.NewWorkspaceID()
	a.record(t, ws, 6)
	set := a.checkpoint(t)
	a.f.rows[ws] = a.f.rows[ws][:4]
	for range 2 {
		a.f.rows[ws] = append(a.f.rows[ws], forge(a.f.rows[ws], audit.LegacyHash, audit.HashKeyed))
	}
	res, err := audit.VerifyChain(t.Context(), a.f, audit.WorkspaceChain(ws), opts(t, set))
	if err != nil || res.OK() || res.Problem.Seq != 5 || res.Problem.Kind == audit.KindForged {
		t.Fatalf("truncated and refilled below the checkpoint: %+v, %v", res.Problem, err)
	}
}

func TestVerifyReportsADeletedWorkspacesChain(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) (*anchored, palisade.WorkspaceID, palisade.WorkspaceID) {
		a := newAnchored(t)
		doomed, kept := palisade.NewWorkspaceID(), palisade.NewWorkspaceID()
		for _, ws := range []palisade.WorkspaceID{doomed, kept} {
			if err := a.l.RecordPlatform(t.Context(), audit.Entry{Actor: audit.ActorCLI, Action: audit.ActionWorkspaceCreated,
				Target: string(ws), Outcome: audit.OutcomeSuccess}); err != nil {
				t.Fatal(err)
			}
			a.record(t, ws, 4)
		}
		a.checkpoint(t)
		return a, doomed, kept
	}
	find := func(t *testing.T, results []audit.Result, ws palisade.WorkspaceID) audit.Result {
		t.Helper()
		for _, r := range results {
			if r.Chain.Workspace == ws {
				return r
			}
		}
		t.Fatalf("no result for %s in %+v", ws, results)
		return audit.Result{}
	}

	t.Run("with the platform record", func(t *testing.T) {
		t.Parallel()
		a, doomed, kept := setup(t)
		final := a.f.rows[doomed][3]
		if err := a.l.DeleteWorkspace(t.Context(), a.f, palisade.ScopeFor(doomed), audit.Entry{Actor: "usr_owner",
			Detail: map[string]string{"reason": "closed", audit.DetailFinalSeq: "99"}}); err != nil {
			t.Fatal(err)
		}
		rec := a.f.rows[""][len(a.f.rows[""])-1]
		d, _ := audit.DecodeDetail(rec.Detail)
		if rec.Action != string(audit.ActionWorkspaceDeleted) || rec.Target != string(doomed) || d[audit.DetailFinalSeq] != "4" ||
			d[audit.DetailFinalHash] != fmt.Sprintf("%x", final.Hash) || d["reason"] != "closed" || rec.Actor != "usr_owner" {
			t.Fatalf("deletion record = %+v", rec)
		}
		results, err := audit.VerifyAll(t.Context(), a.f, opts(t, a.checkpoint(t)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(results) != 3 {
			t.Fatalf("%d results, want platform, kept and deleted", len(results))
		}
		for _, r := range results {
			if !r.OK() {
				t.Fatalf("%s: %v", r.Chain, r.Problems())
			}
		}
		gone := find(t, results, doomed)
		if gone.Deleted == nil || gone.Deleted.FinalSeq != 4 || !bytes.Equal(gone.Deleted.FinalHash, final.Hash) ||
			gone.Deleted.PlatformSeq != rec.Seq || gone.Checkpoint == nil || gone.Checkpoint.Seq != 4 {
			t.Fatalf("deleted chain: %+v", gone)
		}
		if k := find(t, results, kept); k.Deleted != nil || k.Entries != 4 {
			t.Fatalf("kept chain: %+v", k)
		}
		// Recorded deletion, but the chain had been cut back before it.
		a2, doomed2, _ := setup(t)
		a2.f.rows[doomed2] = a2.f.rows[doomed2][:2]
		if err := a2.l.DeleteWorkspace(t.Context(), a2.f, palisade.ScopeFor(doomed2), audit.Entry{Actor: audit.ActorCLI}); err != nil {
			t.Fatal(err)
		}
		results, err = audit.VerifyAll(t.Context(), a2.f, opts(t, a2.read(t)), nil)
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, find(t, results, doomed2), audit.KindTruncated, 3)
	})

	t.Run("without the platform record", func(t *testing.T) {
		t.Parallel()
		a, doomed, kept := setup(t)
		a.f.vanish(doomed)
		results, err := audit.VerifyAll(t.Context(), a.f, opts(t, a.read(t)), nil)
		if err != nil {
			t.Fatal(err)
		}
		p := wantProblem(t, find(t, results, doomed), audit.KindVanished, 4)
		if !strings.Contains(p.Error(), string(doomed)) || !strings.Contains(p.Error(), "no workspace.deleted record") {
			t.Fatalf("%s", p)
		}
		if k := find(t, results, kept); !k.OK() {
			t.Fatalf("kept chain: %v", k.Problems())
		}
		// Without a checkpoint file, the platform chain's record of the
		// workspace's creation still tells.
		results, err = audit.VerifyAll(t.Context(), a.f, opts(t, nil), nil)
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, find(t, results, doomed), audit.KindVanished, 1)
	})

	t.Run("a record without the key does not count", func(t *testing.T) {
		t.Parallel()
		a, doomed, _ := setup(t)
		final := a.f.rows[doomed][3]
		a.f.vanish(doomed)
		plat := a.f.rows[""]
		fake := forge(plat, audit.LegacyHash, audit.HashKeyed)
		fake.WorkspaceID, fake.Actor, fake.Action, fake.Target = "", audit.ActorCLI, string(audit.ActionWorkspaceDeleted), string(doomed)
		fake.Detail = fmt.Sprintf(`{"final_hash":"%x","final_seq":"4"}`, final.Hash)
		fake.Hash = audit.LegacyHash(fake)
		a.f.rows[""] = append(plat, fake)
		results, err := audit.VerifyAll(t.Context(), a.f, opts(t, a.read(t)), nil)
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, results[0], audit.KindForged, fake.Seq)
		wantProblem(t, find(t, results, doomed), audit.KindVanished, 4)
	})

	t.Run("only DeleteWorkspace records a deletion", func(t *testing.T) {
		t.Parallel()
		a, doomed, _ := setup(t)
		err := a.l.RecordPlatform(t.Context(), audit.Entry{Actor: audit.ActorCLI, Action: audit.ActionWorkspaceDeleted,
			Target: string(doomed), Outcome: audit.OutcomeSuccess})
		if err == nil {
			t.Fatal("RecordPlatform recorded a deletion")
		}
	})
}

func TestVerifyReportsATimeGoingBackwards(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	f, ws := chainOf(t, 5)
	// Only a key holder can write this; the store never does.
	rows := f.rows[ws]
	rows[3].CreatedAt = rows[2].CreatedAt.Add(-time.Second)
	rows[3].Hash = keys.Hash(rows[3])
	rows[4].PrevHash = rows[3].Hash
	rows[4].Hash = keys.Hash(rows[4])
	res, err := audit.VerifyChain(t.Context(), f, audit.WorkspaceChain(ws), opts(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	p := wantProblem(t, res, audit.KindBackdated, 4)
	if !strings.Contains(p.Found, rows[3].CreatedAt.Format(time.RFC3339)[:16]) {
		t.Fatalf("found does not show the time: %s", p)
	}
	// The same time twice is not an increase either.
	f, ws = chainOf(t, 3)
	rows = f.rows[ws]
	rows[2].CreatedAt = rows[1].CreatedAt
	rows[2].Hash = keys.Hash(rows[2])
	res, err = audit.VerifyChain(t.Context(), f, audit.WorkspaceChain(ws), opts(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	wantProblem(t, res, audit.KindBackdated, 3)
}

// legacyEntry is an entry as the code before keyed chains wrote it: the
// caller's time and a plain SHA-256.
func legacyEntry(i int) store.AuditEntry {
	return store.AuditEntry{Actor: audit.ActorCLI, Action: string(audit.ActionAPIKeyCreated), Target: fmt.Sprint("key-", i),
		Outcome: string(audit.OutcomeSuccess), HashVersion: audit.HashLegacy}
}

func TestLegacyUnkeyedChainsStillVerifyAndAreLabelled(t *testing.T) {
	t.Parallel()
	s, _ := openSQLite(t)
	ctx := t.Context()
	w, err := s.CreateWorkspace(ctx, store.CreateWorkspaceParams{Name: "Old", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	scope := palisade.ScopeFor(w.ID)
	// Two entries of the old form, and one inserted as the old code did,
	// without naming a hash version (the migration's default applies).
	for i := range 2 {
		if _, err := s.AppendAudit(ctx, scope, legacyEntry(i), audit.LegacyHash); err != nil {
			t.Fatal(err)
		}
	}
	old, _ := s.ReadAuditChain(ctx, scope, 0, 10)
	third := legacyEntry(2)
	third.WorkspaceID, third.Seq, third.ID, third.PrevHash, third.CreatedAt = w.ID, 3, palisade.NewAuditID(), old[1].Hash, old[1].CreatedAt
	third.Hash = audit.LegacyHash(third)
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO audit_log (workspace_id, seq, id, actor, action, target, outcome, created_at, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, string(w.ID), third.Seq, string(third.ID), third.Actor, third.Action, third.Target,
		third.Outcome, third.CreatedAt, third.PrevHash, third.Hash); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendPlatformAudit(ctx, legacyEntry(9), audit.LegacyHash); err != nil {
		t.Fatal(err)
	}

	// An all-legacy chain verifies, labelled.
	res, err := audit.VerifyChain(ctx, s, audit.WorkspaceChain(w.ID), opts(t, nil))
	if err != nil || !res.OK() || res.Entries != 3 || res.Legacy != 3 {
		t.Fatalf("legacy chain: %+v, %v", res, err)
	}

	// After the upgrade the chain goes on keyed, from the legacy head.
	l := audit.New(s, audit.Options{Keys: testKeys(t)})
	for i := range 2 {
		if err := l.Record(ctx, scope, entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.RecordPlatform(ctx, entry(7)); err != nil {
		t.Fatal(err)
	}
	results, err := audit.VerifyAll(ctx, s, opts(t, nil), nil)
	if err != nil || len(results) != 2 {
		t.Fatalf("VerifyAll = %+v, %v", results, err)
	}
	for _, r := range results {
		want := map[bool][2]int64{true: {2, 1}, false: {5, 3}}[r.Chain.IsPlatform()]
		if !r.OK() || r.Entries != want[0] || r.Legacy != want[1] {
			t.Fatalf("%s: %+v, want %d entries of which %d legacy", r.Chain, r, want[0], want[1])
		}
	}

	// No legacy entry may follow a keyed one: appended in the old form
	// after the upgrade, it is not taken for legacy.
	if _, err := s.AppendAudit(ctx, scope, legacyEntry(5), audit.LegacyHash); err != nil {
		t.Fatal(err)
	}
	res, err = audit.VerifyChain(ctx, s, audit.WorkspaceChain(w.ID), opts(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	p := wantProblem(t, res, audit.KindForged, 6)
	if res.Legacy != 3 || !strings.Contains(p.Error(), "appended without the key") {
		t.Fatalf("%+v: %s", res, p)
	}
}

// TestKeysNeverPrint: the audit keys show as redacted however printed,
// alone or inside another value.
func TestKeysNeverPrint(t *testing.T) {
	t.Parallel()
	mk, err := seal.NewMasterKey(bytes.Repeat([]byte{1}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	k, err := audit.NewKeys(mk)
	if err != nil {
		t.Fatal(err)
	}
	chainKey, _ := mk.Derive("audit chain v1")
	seed, _ := mk.Derive("audit checkpoints v1")
	holder := struct{ K *audit.Keys }{k}
	direct := fmt.Sprintf("%v|%+v|%#v|%s|%x|%q", k, k, k, k, k, k)
	if strings.Count(direct, "REDACTED") != 6 {
		t.Errorf("keys printed as %q", direct)
	}
	b, _ := json.Marshal(holder)
	for _, out := range []string{direct, fmt.Sprintf("%+v %#v", holder, holder), string(b)} {
		for _, secret := range [][]byte{chainKey, seed} {
			if strings.Contains(out, fmt.Sprintf("%x", secret)) || strings.Contains(out, string(secret)) ||
				strings.Contains(out, base64.StdEncoding.EncodeToString(secret)) {
				t.Errorf("key material printed: %q", out)
			}
		}
	}
}
