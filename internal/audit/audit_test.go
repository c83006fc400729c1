package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/redact"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC)

// fakeChain is a hand-written in-memory store of one chain per workspace,
// whose rows tests tamper with directly. Like the real store it sets each
// entry's time from its own clock, never before the previous entry's.
type fakeChain struct {
	rows    map[palisade.WorkspaceID][]store.AuditEntry
	gone    map[palisade.WorkspaceID]bool
	clock   time.Time
	readErr error
}

var (
	_ audit.Appender         = (*fakeChain)(nil)
	_ audit.WalkAll          = (*fakeChain)(nil)
	_ audit.WorkspaceDeleter = (*fakeChain)(nil)
)

func newFake() *fakeChain {
	return &fakeChain{rows: map[palisade.WorkspaceID][]store.AuditEntry{}, gone: map[palisade.WorkspaceID]bool{}, clock: t0}
}

func (f *fakeChain) head(ws palisade.WorkspaceID) store.AuditHead {
	rows := f.rows[ws]
	if len(rows) == 0 {
		return store.AuditHead{}
	}
	last := rows[len(rows)-1]
	return store.AuditHead{Seq: last.Seq, Hash: last.Hash, CreatedAt: last.CreatedAt}
}

func (f *fakeChain) appendTo(ws palisade.WorkspaceID, e store.AuditEntry, seal store.AuditSeal) store.AuditEntry {
	h := f.head(ws)
	e.WorkspaceID = ws
	e.Seq = h.Seq + 1
	e.PrevHash = audit.Genesis()
	if h.Seq > 0 {
		e.PrevHash = h.Hash
	}
	f.clock = f.clock.Add(time.Minute)
	e.CreatedAt = f.clock.UTC().Truncate(time.Microsecond)
	if h.Seq > 0 && !e.CreatedAt.After(h.CreatedAt) {
		e.CreatedAt = h.CreatedAt.Add(time.Microsecond)
	}
	e.Hash = seal(e)
	f.rows[ws] = append(f.rows[ws], e)
	return e
}

func (f *fakeChain) AppendAudit(_ context.Context, scope palisade.Scope, e store.AuditEntry, seal store.AuditSeal) (store.AuditEntry, error) {
	if f.gone[scope.Workspace()] {
		return store.AuditEntry{}, store.ErrNotFound
	}
	return f.appendTo(scope.Workspace(), e, seal), nil
}

func (f *fakeChain) AppendPlatformAudit(_ context.Context, e store.AuditEntry, seal store.AuditSeal) (store.AuditEntry, error) {
	return f.appendTo("", e, seal), nil
}

func (f *fakeChain) DeleteWorkspace(_ context.Context, scope palisade.Scope, p store.DeleteWorkspaceParams) (store.AuditEntry, error) {
	ws := scope.Workspace()
	if f.gone[ws] {
		return store.AuditEntry{}, store.ErrNotFound
	}
	rec := f.appendTo("", p.Record(f.head(ws)), p.Seal)
	delete(f.rows, ws)
	f.gone[ws] = true
	return rec, nil
}

// vanish removes a workspace and its chain behind the application's back.
func (f *fakeChain) vanish(ws palisade.WorkspaceID) {
	delete(f.rows, ws)
	f.gone[ws] = true
}

func (f *fakeChain) read(ws palisade.WorkspaceID, after int64, limit int) ([]store.AuditEntry, error) {
	if f.readErr != nil {
		return nil, f.readErr
	}
	var out []store.AuditEntry
	for _, e := range f.rows[ws] { // kept in seq order by the tests
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (f *fakeChain) ReadAuditChain(_ context.Context, scope palisade.Scope, after int64, limit int) ([]store.AuditEntry, error) {
	return f.read(scope.Workspace(), after, limit)
}

func (f *fakeChain) ReadPlatformAuditChain(_ context.Context, after int64, limit int) ([]store.AuditEntry, error) {
	return f.read("", after, limit)
}

func (f *fakeChain) ListWorkspaceIDs(context.Context) ([]palisade.WorkspaceID, error) {
	var ids []palisade.WorkspaceID
	for ws := range f.rows {
		if ws != "" && !f.gone[ws] {
			ids = append(ids, ws)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

func entry(i int) audit.Entry {
	return audit.Entry{Actor: "usr_" + strings.Repeat("a", 26), Action: audit.ActionLoginSuccess, Target: fmt.Sprint("target-", i),
		Outcome: audit.OutcomeSuccess, ClientIP: netip.MustParseAddr("203.0.113.7"), RequestID: "req-" + fmt.Sprint(i),
		Detail: map[string]string{"method": "password"}}
}

// testKeys are the audit keys of a fixed master key; otherKeys those of
// another.
func testKeys(t testing.TB) *audit.Keys { return keysOf(t, 1) }

func otherKeys(t testing.TB) *audit.Keys { return keysOf(t, 2) }

func keysOf(t testing.TB, b byte) *audit.Keys {
	t.Helper()
	mk, err := seal.NewMasterKey(bytes.Repeat([]byte{b}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	k, err := audit.NewKeys(mk)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// opts verifies with the test keys and, when given, a checkpoint file.
func opts(t testing.TB, cps *audit.CheckpointSet) audit.VerifyOptions {
	return audit.VerifyOptions{Keys: testKeys(t), Checkpoints: cps}
}

// chainOf records n entries in a fresh fake workspace chain.
func chainOf(t *testing.T, n int) (*fakeChain, palisade.WorkspaceID) {
	t.Helper()
	f := newFake()
	l := audit.New(f, audit.Options{Keys: testKeys(t)})
	ws := palisade.NewWorkspaceID()
	for i := range n {
		if err := l.Record(t.Context(), palisade.ScopeFor(ws), entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	return f, ws
}

func TestCanonicalIsUnambiguous(t *testing.T) {
	t.Parallel()
	base := store.AuditEntry{WorkspaceID: "ws_a", Seq: 3, ID: "aud_x", Actor: "ab", Action: "login.success", Target: "c",
		Outcome: "success", IP: "192.0.2.1", RequestID: "r", Detail: `{"k":"v"}`, CreatedAt: t0, PrevHash: audit.Genesis()}
	// Every field, and every way of moving bytes between neighbours,
	// changes the hash.
	mutations := map[string]func(e *store.AuditEntry){
		"workspace":          func(e *store.AuditEntry) { e.WorkspaceID = "ws_b" },
		"seq":                func(e *store.AuditEntry) { e.Seq = 4 },
		"id":                 func(e *store.AuditEntry) { e.ID = "aud_y" },
		"actor":              func(e *store.AuditEntry) { e.Actor = "ax" },
		"action":             func(e *store.AuditEntry) { e.Action = "login.failure" },
		"target":             func(e *store.AuditEntry) { e.Target = "d" },
		"outcome":            func(e *store.AuditEntry) { e.Outcome = "failure" },
		"ip":                 func(e *store.AuditEntry) { e.IP = "192.0.2.2" },
		"request id":         func(e *store.AuditEntry) { e.RequestID = "s" },
		"detail":             func(e *store.AuditEntry) { e.Detail = `{"k":"w"}` },
		"time":               func(e *store.AuditEntry) { e.CreatedAt = t0.Add(time.Microsecond) },
		"prev":               func(e *store.AuditEntry) { e.PrevHash = bytes.Repeat([]byte{1}, 32) },
		"actor into target":  func(e *store.AuditEntry) { e.Actor, e.Target = "a", "bc" },
		"target into actor":  func(e *store.AuditEntry) { e.Actor, e.Target = "abc", "" },
		"outcome into ip":    func(e *store.AuditEntry) { e.Outcome, e.IP = "succes", "s192.0.2.1" },
		"workspace into seq": func(e *store.AuditEntry) { e.WorkspaceID = "" },
	}
	mutations["hash version"] = func(e *store.AuditEntry) { e.HashVersion = audit.HashKeyed + audit.HashLegacy - e.HashVersion }
	keys := testKeys(t)
	for _, version := range []int{audit.HashKeyed, audit.HashLegacy} {
		base := base
		base.HashVersion = version
		hash := audit.LegacyHash
		if version == audit.HashKeyed {
			hash = keys.Hash
		}
		want := hash(base)
		if len(want) != audit.HashLen {
			t.Fatalf("hash length %d", len(want))
		}
		for name, mutate := range mutations {
			e := base
			mutate(&e)
			if bytes.Equal(hash(e), want) {
				t.Errorf("version %d, %s: hash unchanged", version, name)
			}
			if bytes.Equal(audit.LegacyHash(e), want) && version == audit.HashKeyed {
				t.Errorf("version %d, %s: a plain SHA-256 matches the keyed hash", version, name)
			}
		}
		if !bytes.Equal(hash(base), want) {
			t.Fatal("hash is not deterministic")
		}
	}
	// The keyed hash is not the plain one, and depends on the key.
	base.HashVersion = audit.HashKeyed
	if bytes.Equal(keys.Hash(base), audit.LegacyHash(base)) || bytes.Equal(keys.Hash(base), otherKeys(t).Hash(base)) {
		t.Fatal("the keyed hash does not depend on the key")
	}
}

func TestVerifyFindsTheFirstBadEntry(t *testing.T) {
	t.Parallel()
	const n = 6
	keys := testKeys(t)
	tests := []struct {
		name    string
		tamper  func(rows []store.AuditEntry) []store.AuditEntry
		kind    audit.Kind
		seq     int64
		wantsID bool
	}{
		{name: "untouched", tamper: func(r []store.AuditEntry) []store.AuditEntry { return r }},
		{name: "edited action", kind: audit.KindEdited, seq: 3, wantsID: true,
			tamper: func(r []store.AuditEntry) []store.AuditEntry { r[2].Action = "logout"; return r }},
		{name: "edited outcome", kind: audit.KindEdited, seq: 5, wantsID: true,
			tamper: func(r []store.AuditEntry) []store.AuditEntry { r[4].Outcome = "success "; return r }},
		{name: "edited time", kind: audit.KindEdited, seq: 1, wantsID: true,
			tamper: func(r []store.AuditEntry) []store.AuditEntry {
				r[0].CreatedAt = r[0].CreatedAt.Add(time.Hour)
				return r
			}},
		{name: "edited hash", kind: audit.KindEdited, seq: 4, wantsID: true,
			tamper: func(r []store.AuditEntry) []store.AuditEntry { r[3].Hash = bytes.Repeat([]byte{7}, 32); return r }},
		{name: "truncated hash", kind: audit.KindEdited, seq: 2, wantsID: true,
			tamper: func(r []store.AuditEntry) []store.AuditEntry { r[1].Hash = r[1].Hash[:16]; return r }},
		{name: "deleted middle", kind: audit.KindDeleted, seq: 3,
			tamper: func(r []store.AuditEntry) []store.AuditEntry { return append(r[:2:2], r[3:]...) }},
		{name: "deleted first", kind: audit.KindDeleted, seq: 1,
			tamper: func(r []store.AuditEntry) []store.AuditEntry { return r[1:] }},
		{name: "deleted two", kind: audit.KindDeleted, seq: 2,
			tamper: func(r []store.AuditEntry) []store.AuditEntry { return append(r[:1:1], r[3:]...) }},
		{name: "swapped contents", kind: audit.KindReordered, seq: 2, wantsID: true,
			tamper: func(r []store.AuditEntry) []store.AuditEntry {
				r[1], r[2] = r[2], r[1]
				r[1].Seq, r[2].Seq = 2, 3
				return r
			}},
		{name: "deleted then renumbered", kind: audit.KindReordered, seq: 3, wantsID: true,
			tamper: func(r []store.AuditEntry) []store.AuditEntry {
				r = append(r[:2:2], r[3:]...)
				for i := range r {
					r[i].Seq = int64(i + 1)
				}
				return r
			}},
		{name: "replaced with recomputed hash", kind: audit.KindRewritten, seq: 3, wantsID: true,
			tamper: func(r []store.AuditEntry) []store.AuditEntry {
				// Someone who knows the algorithm but not the key
				// rewrites seq 3 and reseals it: found at seq 3 itself.
				r[2].Action = "logout"
				r[2].Hash = audit.LegacyHash(r[2])
				return r
			}},
		{name: "replaced with a keyed hash", kind: audit.KindDeleted, seq: 4, wantsID: true,
			tamper: func(r []store.AuditEntry) []store.AuditEntry {
				// Even with the key, the link from seq 4 gives it away.
				r[2].Action = "logout"
				r[2].Hash = keys.Hash(r[2])
				return r
			}},
		{name: "first not from genesis", kind: audit.KindDeleted, seq: 1, wantsID: true,
			tamper: func(r []store.AuditEntry) []store.AuditEntry {
				r[0].PrevHash = bytes.Repeat([]byte{9}, 32)
				r[0].Hash = keys.Hash(r[0])
				return r
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, ws := chainOf(t, n)
			f.rows[ws] = tt.tamper(f.rows[ws])
			res, err := audit.VerifyChain(t.Context(), f, audit.WorkspaceChain(ws), opts(t, nil))
			if err != nil {
				t.Fatal(err)
			}
			if tt.kind == "" {
				if !res.OK() || res.Entries != n {
					t.Fatalf("untouched chain: %+v", res)
				}
				return
			}
			p := res.Problem
			if p == nil {
				t.Fatalf("tampering not detected: %+v", res)
			}
			if p.Kind != tt.kind || p.Seq != tt.seq || p.Chain.Workspace != ws || (p.ID != "") != tt.wantsID {
				t.Fatalf("problem = %+v, want kind %s at seq %d", p, tt.kind, tt.seq)
			}
			msg := p.Error()
			if !strings.Contains(msg, string(ws)) || !strings.Contains(msg, fmt.Sprintf("seq %d", tt.seq)) || !strings.Contains(msg, string(tt.kind)) {
				t.Fatalf("message does not name the entry: %s", msg)
			}
			if tt.wantsID && !strings.Contains(msg, string(p.ID)) {
				t.Fatalf("message does not name the id: %s", msg)
			}
			if res.Entries != tt.seq-1 {
				t.Fatalf("%d entries verified before the problem at seq %d", res.Entries, tt.seq)
			}
		})
	}
}

func TestVerifyLongChainAcrossPages(t *testing.T) {
	t.Parallel()
	f, ws := chainOf(t, 1203)
	res, err := audit.VerifyChain(t.Context(), f, audit.WorkspaceChain(ws), opts(t, nil))
	if err != nil || !res.OK() || res.Entries != 1203 {
		t.Fatalf("long chain: %+v, %v", res, err)
	}
	f.rows[ws][1000].Target = "changed"
	res, err = audit.VerifyChain(t.Context(), f, audit.WorkspaceChain(ws), opts(t, nil))
	if err != nil || res.OK() || res.Problem.Seq != 1001 || res.Problem.Kind != audit.KindEdited {
		t.Fatalf("edit on a later page: %+v, %v", res.Problem, err)
	}
}

func TestVerifyUnreadableChainIsNotVerified(t *testing.T) {
	t.Parallel()
	f, ws := chainOf(t, 2)
	f.readErr = errors.New("disk on fire")
	res, err := audit.VerifyChain(t.Context(), f, audit.WorkspaceChain(ws), opts(t, nil))
	if err == nil {
		t.Fatalf("read failure reported as %+v", res)
	}
	if _, err := audit.VerifyAll(t.Context(), f, opts(t, nil), nil); err == nil {
		t.Fatal("VerifyAll hid a read failure")
	}
}

func TestVerifyAllReportsEveryChain(t *testing.T) {
	t.Parallel()
	f := newFake()
	l := audit.New(f, audit.Options{Keys: testKeys(t)})
	good, bad := palisade.NewWorkspaceID(), palisade.NewWorkspaceID()
	for i := range 3 {
		for _, ws := range []palisade.WorkspaceID{good, bad} {
			if err := l.Record(t.Context(), palisade.ScopeFor(ws), entry(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.RecordPlatform(t.Context(), audit.Entry{Actor: audit.ActorCLI, Action: audit.ActionWorkspaceCreated,
			Target: string(good), Outcome: audit.OutcomeSuccess}); err != nil {
			t.Fatal(err)
		}
	}
	f.rows[bad][1].Actor = "someone else"
	var seen []audit.Chain
	results, err := audit.VerifyAll(t.Context(), f, opts(t, nil), func(r audit.Result) { seen = append(seen, r.Chain) })
	if err != nil || len(results) != 3 || len(seen) != 3 || !seen[0].IsPlatform() {
		t.Fatalf("VerifyAll = %+v, %v (progress %v)", results, err, seen)
	}
	for _, r := range results {
		switch r.Chain.Workspace {
		case bad:
			if r.OK() || r.Problem.Seq != 2 {
				t.Errorf("bad chain: %+v", r)
			}
		default:
			if !r.OK() || r.Entries != 3 {
				t.Errorf("%s: %+v", r.Chain, r)
			}
		}
	}
}

func TestRecordRefusesProgrammingMistakes(t *testing.T) {
	t.Parallel()
	l := audit.New(newFake(), audit.Options{})
	scope := palisade.ScopeFor(palisade.NewWorkspaceID())
	many := map[string]string{}
	for i := range audit.MaxDetailKeys + 1 {
		many[fmt.Sprint("k", i)] = "v"
	}
	tests := map[string]audit.Entry{
		"empty action":     {Actor: "cli", Outcome: audit.OutcomeSuccess},
		"free-text action": {Actor: "cli", Action: "user did a thing", Outcome: audit.OutcomeSuccess},
		"unknown outcome":  {Actor: "cli", Action: audit.ActionLogout, Outcome: "maybe"},
		"bad detail key":   {Actor: "cli", Action: audit.ActionLogout, Outcome: audit.OutcomeSuccess, Detail: map[string]string{"Bad Key": "v"}},
		"too many keys":    {Actor: "cli", Action: audit.ActionLogout, Outcome: audit.OutcomeSuccess, Detail: many},
	}
	for name, e := range tests {
		if err := l.Record(t.Context(), scope, e); err == nil {
			t.Errorf("%s: recorded", name)
		}
	}
	if err := l.Record(t.Context(), palisade.Scope{}, entry(0)); !errors.Is(err, store.ErrNoScope) {
		t.Errorf("no scope: %v", err)
	}
}

func openSQLite(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "palisade.db")
	s, err := sqlite.Open(t.Context(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// TestSecretsNeverEnterTheLog records entries carrying secrets in every
// free field, on a real database, and then looks for them in the stored
// rows and in the database file itself.
func TestSecretsNeverEnterTheLog(t *testing.T) {
	t.Parallel()
	s, path := openSQLite(t)
	ws, err := s.CreateWorkspace(t.Context(), store.CreateWorkspaceParams{Name: "A", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	apiKey, _, _ := auth.NewAPIKey()
	registered := "registered-bot-token-value-42"
	red := redact.New(redact.Options{Secrets: []string{registered}})
	l := audit.New(s, audit.Options{Redactor: red})
	secrets := []string{apiKey.Reveal(), "sk-proj-" + strings.Repeat("Ab3", 20), "hunter2-but-longer", registered}
	entries := []audit.Entry{
		{Actor: "cli", Action: audit.ActionAPIKeyCreated, Outcome: audit.OutcomeSuccess,
			Detail: map[string]string{"token": secrets[0], "password": secrets[2], "api_key": secrets[1], "name": "ci"}},
		{Actor: "cli", Action: audit.ActionSecretChanged, Outcome: audit.OutcomeSuccess,
			Detail: map[string]string{"note": "the key is " + secrets[1], "value": secrets[0], "bot": registered}},
		{Actor: "cli " + secrets[0], Action: audit.ActionLoginFailure, Outcome: audit.OutcomeFailure,
			Target: "Authorization: Bearer " + secrets[0]},
	}
	for _, e := range entries {
		if err := l.Record(t.Context(), palisade.ScopeFor(ws.ID), e); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	rows, err := s.ListAudit(t.Context(), palisade.ScopeFor(ws.ID), store.ListAuditParams{})
	if err != nil || len(rows) != len(entries) {
		t.Fatalf("ListAudit = %d rows, %v", len(rows), err)
	}
	for _, r := range rows {
		text := strings.Join([]string{r.Actor, r.Target, r.Detail, r.RequestID, r.IP}, "\n")
		for _, sec := range secrets {
			if strings.Contains(text, sec) {
				t.Errorf("secret %.12s… stored in entry seq %d: %s", sec, r.Seq, text)
			}
		}
	}
	// The facts stay: the detail keys, the non-secret name, markers.
	first, err := audit.DecodeDetail(rows[len(rows)-1].Detail)
	if err != nil || first["name"] != "ci" || first["token"] != redact.Marker || first["password"] != redact.Marker {
		t.Fatalf("detail of the first entry = %v, %v", first, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal"} {
		b, _ := os.ReadFile(path + suffix)
		for _, sec := range secrets {
			if bytes.Contains(b, []byte(sec)) {
				t.Errorf("secret %.12s… found in %s", sec, filepath.Base(path+suffix))
			}
		}
	}
}

func TestRecordCleansOutsideInput(t *testing.T) {
	t.Parallel()
	f := newFake()
	l := audit.New(f, audit.Options{})
	ws := palisade.NewWorkspaceID()
	err := l.Record(t.Context(), palisade.ScopeFor(ws), audit.Entry{
		Actor: "", Action: audit.ActionLoginFailure, Outcome: audit.OutcomeFailure,
		Target:    "evil@example.com\n2026-01-01 login.success admin\u202e" + strings.Repeat("x", 400) + "\xff",
		RequestID: "bad id with spaces",
		ClientIP:  netip.MustParseAddr("::ffff:198.51.100.4"),
	})
	if err != nil {
		t.Fatal(err)
	}
	e := f.rows[ws][0]
	if e.Actor != audit.ActorAnonymous || strings.ContainsAny(e.Target, "\n\u202e") || len(e.Target) > audit.MaxTargetLen ||
		!strings.HasPrefix(e.Target, "evil@example.com") || e.RequestID != "" || e.IP != "198.51.100.4" ||
		!e.CreatedAt.Equal(f.clock.Truncate(time.Microsecond)) || !palisade.ValidID(palisade.PrefixAudit, string(e.ID)) || e.HashVersion != audit.HashKeyed {
		t.Fatalf("stored %+v", e)
	}
}

// TestRecordOnSQLiteVerifies is the whole path on a real database: record
// through the Logger, verify through the store.
func TestRecordOnSQLiteVerifies(t *testing.T) {
	t.Parallel()
	s, _ := openSQLite(t)
	ws, err := s.CreateWorkspace(t.Context(), store.CreateWorkspaceParams{Name: "A", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	l := audit.New(s, audit.Options{Keys: testKeys(t)})
	for i := range 5 {
		if err := l.Record(t.Context(), palisade.ScopeFor(ws.ID), entry(i)); err != nil {
			t.Fatal(err)
		}
		if err := l.RecordPlatform(t.Context(), entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	results, err := audit.VerifyAll(t.Context(), s, opts(t, nil), nil)
	if err != nil || len(results) != 2 {
		t.Fatalf("VerifyAll = %+v, %v", results, err)
	}
	for _, r := range results {
		if !r.OK() || r.Entries != 5 {
			t.Fatalf("%s: %+v", r.Chain, r)
		}
	}
	if _, err := s.DB().ExecContext(t.Context(), `UPDATE audit_log SET outcome = 'failure' WHERE seq = 4`); err != nil {
		t.Fatal(err)
	}
	res, err := audit.VerifyChain(t.Context(), s, audit.WorkspaceChain(ws.ID), opts(t, nil))
	if err != nil || res.OK() || res.Problem.Seq != 4 || res.Problem.Kind != audit.KindEdited {
		t.Fatalf("after edit: %+v, %v", res.Problem, err)
	}
}
