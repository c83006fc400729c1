package job_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/servicetest"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
	"github.com/palisadehq/palisade/internal/store/sqlite"
	"github.com/palisadehq/palisade/internal/store/sqlstore"
)

// fakeGenerator counts its calls and fails the first failFirst of them.
type fakeGenerator struct {
	mu        sync.Mutex
	calls     int
	failFirst int
	messages  []string
	histories [][]conversation.Turn
}

func (g *fakeGenerator) Generate(_ context.Context, req conversation.Request) (conversation.Generated, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	g.messages = append(g.messages, req.Message)
	g.histories = append(g.histories, append([]conversation.Turn(nil), req.History...))
	if g.calls <= g.failFirst {
		return conversation.Generated{}, palisade.Errorf(palisade.CodeUnavailable, "the provider is unavailable")
	}
	return conversation.Generated{Text: "Generated answer to: " + req.Message, TokensIn: 7, TokensOut: 5}, nil
}

func (g *fakeGenerator) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls
}

type inboundEnv struct {
	s      store.Store
	sealer store.Sealer
	key    *job.ArgsKey
	scope  palisade.Scope
	bot    palisade.Bot
	gen    *fakeGenerator
}

var jobOpeners = map[string]func(t *testing.T, o store.Options) store.Store{
	"sqlite": func(t *testing.T, o store.Options) store.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "p.db"), o)
		if err != nil {
			t.Fatal(err)
		}
		return s
	},
	"postgres": func(t *testing.T, o store.Options) store.Store {
		role := servicetest.PostgresRole(t)
		admin := servicetest.Postgres(t)
		if _, err := postgres.Migrate(t.Context(), admin, postgres.MigrateOptions{AppRole: role, Master: testMaster}); err != nil {
			t.Fatal(err)
		}
		s, err := postgres.Open(t.Context(), servicetest.WithUser(t, admin, role), o, postgres.OpenOptions{ScopeKey: testScopeKey})
		if err != nil {
			t.Fatal(err)
		}
		return s
	},
}

// newRunner builds the job runner on s's own database, polling fast.
func newRunner(t *testing.T, s store.Store, d job.Deps) *job.Runner {
	t.Helper()
	var r *job.Runner
	var err error
	switch st := s.(type) {
	case *sqlite.Store:
		r, err = job.NewRunner(riversqlite.New(st.DB()), d, job.RunnerOptions{PollOnly: true, PollInterval: 20 * time.Millisecond})
	case *postgres.Store:
		r, err = job.NewRunner(riverpgxv5.New(st.Pool()), d, job.RunnerOptions{PollInterval: 20 * time.Millisecond})
	default:
		t.Fatalf("no job runner for %T", s)
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// startInbound opens a store with a keyring, creates a workspace and a bot,
// starts the job runner with a counting generator behind the conversation
// service.
func startInbound(t *testing.T, dialect string, gen *fakeGenerator) inboundEnv {
	t.Helper()
	return startInboundWith(t, dialect, gen, nil)
}

// startInboundWith is startInbound with a replier sending answers.
func startInboundWith(t *testing.T, dialect string, gen *fakeGenerator, replier job.Replier) inboundEnv {
	t.Helper()
	sealer := sealtest.NewKeyring(t)
	s := jobOpeners[dialect](t, store.Options{Sealer: sealer})
	t.Cleanup(func() { s.Close() })
	now := time.Now
	conv := &conversation.Service{Store: s, Knowledge: &knowledge.Service{Store: s, Now: now}, Generator: gen, Now: now}
	key := testArgsKey(t)
	runner := newRunner(t, s, job.Deps{Store: s, ArgsKey: key, Now: now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Sealer: sealer, Conversations: conv,
		Mail: noMail{}, Replier: replier})
	ws, err := s.CreateWorkspace(t.Context(), store.CreateWorkspaceParams{Name: "Inbound", Now: now()})
	if err != nil {
		t.Fatal(err)
	}
	scope := palisade.ScopeFor(ws.ID)
	bot, err := s.CreateBot(t.Context(), scope, palisade.Bot{Name: "Helper", SystemPrompt: "You are Helper.", Model: "gpt-4o-mini", CreatedAt: now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		runner.Stop(ctx)
	})
	return inboundEnv{s: s, sealer: sealer, key: key, scope: scope, bot: bot, gen: gen}
}

func (e inboundEnv) args(t *testing.T, ref, text string) job.InboundArgs {
	t.Helper()
	a, err := job.SealInbound(t.Context(), e.sealer, e.key, job.InboundArgs{Workspace: e.scope.Workspace(), BotID: e.bot.ID, Channel: "telegram",
		UserID: "4242", Ref: ref}, text)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (e inboundEnv) enqueue(t *testing.T, a job.InboundArgs) {
	t.Helper()
	if err := e.s.Jobs().Enqueue(t.Context(), a); err != nil {
		t.Fatal(err)
	}
}

// messages reads the stored messages of the user's conversation.
func (e inboundEnv) messages(t *testing.T) []palisade.Message {
	t.Helper()
	in := conversation.Inbound{BotID: e.bot.ID, Channel: "telegram", UserID: "4242"}
	conv, err := e.s.OpenConversation(t.Context(), e.scope, store.OpenConversationParams{BotID: e.bot.ID, Key: in.Key(), Channel: "telegram",
		ExternalUser: "4242", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := e.s.ListMessages(t.Context(), e.scope, conv.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

type jobRow struct {
	state string
	args  string
}

// jobs reads the inbound rows of River's table as stored.
func (e inboundEnv) jobs(t *testing.T) []jobRow {
	t.Helper()
	d := e.s.(interface{ Driver() sqlstore.Driver }).Driver()
	q := `SELECT state, CAST(args AS TEXT) FROM river_job WHERE kind = $1 ORDER BY id`
	if e.s.Dialect() == store.DialectPostgres {
		q = `SELECT state::text, args::text FROM river_job WHERE kind = $1 ORDER BY id`
	}
	var out []jobRow
	err := d.InTx(t.Context(), sqlstore.TxScope{}, func(tx sqlstore.Tx) error {
		rows, err := tx.Query(t.Context(), q, job.InboundArgs{}.Kind())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r jobRow
			if err := rows.Scan(&r.state, &r.args); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitFor polls until cond holds; the deadline only bounds a broken run.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e inboundEnv) waitStates(t *testing.T, want ...string) []jobRow {
	t.Helper()
	var rows []jobRow
	waitFor(t, "jobs in states "+strings.Join(want, ","), func() bool {
		rows = e.jobs(t)
		if len(rows) != len(want) {
			return false
		}
		for i, r := range rows {
			if r.state != want[i] {
				return false
			}
		}
		return true
	})
	return rows
}

func checkAnswered(t *testing.T, msgs []palisade.Message, text string) {
	t.Helper()
	if len(msgs) != 2 || msgs[0].Role != palisade.MessageUser || msgs[0].Body != text ||
		msgs[1].Role != palisade.MessageAssistant || msgs[1].Body != "Generated answer to: "+text {
		t.Fatalf("stored messages = %+v", msgs)
	}
}

func TestInboundJob(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			t.Run("worked once, sealed in the queue", func(t *testing.T) {
				t.Parallel()
				e := startInbound(t, dialect, &fakeGenerator{})
				const text = "CanaryInboundBody where is my parcel?"
				a := e.args(t, "update-1", text)
				e.enqueue(t, a)
				rows := e.waitStates(t, "completed")
				if n := e.gen.count(); n != 1 {
					t.Fatalf("generator called %d times, want 1", n)
				}
				checkAnswered(t, e.messages(t), text)
				// The queue row holds the sealed text only: neither the
				// plaintext nor its base64 (how JSON carries []byte).
				raw := rows[0].args
				if !strings.Contains(raw, base64.StdEncoding.EncodeToString(a.SealedText)) {
					t.Fatalf("the job row does not hold the sealed text (the check below would be blind): %s", raw)
				}
				for _, leak := range []string{"CanaryInboundBody", base64.StdEncoding.EncodeToString([]byte(text))} {
					if strings.Contains(raw, leak) {
						t.Fatalf("the job row holds the message in clear: %s", raw)
					}
				}

				// The same job again after success: answered from the
				// store, the generator is not called again.
				e.enqueue(t, a)
				e.waitStates(t, "completed", "completed")
				if n := e.gen.count(); n != 1 {
					t.Fatalf("generator called %d times after a re-insert, want 1", n)
				}
				checkAnswered(t, e.messages(t), text)
			})
			t.Run("retried after a failure", func(t *testing.T) {
				t.Parallel()
				e := startInbound(t, dialect, &fakeGenerator{failFirst: 1})
				const text = "Do you ship to Norway?"
				e.enqueue(t, e.args(t, "update-2", text))
				e.waitStates(t, "completed")
				if n := e.gen.count(); n != 2 {
					t.Fatalf("generator called %d times, want 2 (one failure, one retry)", n)
				}
				checkAnswered(t, e.messages(t), text)
				// The retry did not hand the stored message to the model
				// twice (once as history, once as the message).
				e.gen.mu.Lock()
				defer e.gen.mu.Unlock()
				if len(e.gen.histories[1]) != 0 || e.gen.messages[1] != text {
					t.Fatalf("retry got history %+v and message %q", e.gen.histories[1], e.gen.messages[1])
				}
			})
			t.Run("dropped while the workspace is suspended", func(t *testing.T) {
				t.Parallel()
				e := startInbound(t, dialect, &fakeGenerator{})
				// Queued, then the operator suspends the workspace before
				// it is worked: it is cancelled, not retried until the
				// workspace is resumed, and nothing is generated or stored.
				if _, err := e.s.SetWorkspaceSuspension(t.Context(), e.scope, store.SuspensionParams{Suspend: true, Reason: "abuse", Now: time.Now()}); err != nil {
					t.Fatal(err)
				}
				e.enqueue(t, e.args(t, "update-5", "Are you there?"))
				e.waitStates(t, "cancelled")
				if n := e.gen.count(); n != 0 {
					t.Fatalf("generator called %d times for a suspended workspace", n)
				}
				if msgs := e.messages(t); len(msgs) != 0 {
					t.Fatalf("stored %+v", msgs)
				}
			})
			t.Run("text bound to its delivery", func(t *testing.T) {
				t.Parallel()
				e := startInbound(t, dialect, &fakeGenerator{})
				// A sealed text moved onto another delivery does not
				// open: the job is cancelled, nothing is generated or
				// stored.
				a := e.args(t, "update-3", "original text")
				a.Ref = "update-4"
				e.enqueue(t, a)
				e.waitStates(t, "cancelled")
				if n := e.gen.count(); n != 0 {
					t.Fatalf("generator called %d times for a text that must not open", n)
				}
				if msgs := e.messages(t); len(msgs) != 0 {
					t.Fatalf("stored %+v", msgs)
				}
			})
		})
	}
}

func TestSealInboundRefusals(t *testing.T) {
	t.Parallel()
	sealer := sealtest.NewKeyring(t)
	key := testArgsKey(t)
	ok := job.InboundArgs{Workspace: palisade.NewWorkspaceID(), BotID: palisade.NewBotID(), Channel: "telegram", UserID: "1", Ref: "r"}
	if _, err := job.SealInbound(t.Context(), nil, key, ok, "x"); !errors.Is(err, store.ErrNoSealer) {
		t.Fatalf("no sealer: %v", err)
	}
	if _, err := job.SealInbound(t.Context(), sealer, nil, ok, "x"); err == nil {
		t.Fatal("a job was made without the key that authenticates it")
	}
	noRef := ok
	noRef.Ref = ""
	if _, err := job.SealInbound(t.Context(), sealer, key, noRef, "x"); err == nil {
		t.Fatal("a job without a delivery reference was sealed: it could never be retried idempotently")
	}
	if a, err := job.SealInbound(t.Context(), sealer, key, ok, "hello"); err != nil || len(a.SealedText) == 0 || strings.Contains(string(a.SealedText), "hello") ||
		len(a.MAC) != 32 {
		t.Fatalf("sealed %q with MAC %x, %v", a.SealedText, a.MAC, err)
	}
	if _, err := job.NewArgsKey(make([]byte, job.ArgsKeySize-1)); err == nil {
		t.Fatal("a short arguments key was accepted")
	}
	if out := fmt.Sprintf("%v %+v %#v", key, key, *key); strings.Contains(out, "7777") || !strings.Contains(out, "REDACTED") {
		t.Fatalf("the arguments key printed as %q", out)
	}
}

// TestForgedInboundJobIsCancelled: whoever can run SQL as the application's
// database role can insert a row in the job queue, which has no row
// security. A job made by copying a real one and pointing it at another
// chat (the sealed text still opens: it is bound to the bot, channel and
// delivery, not to the chat), one naming another workspace, and one with
// no MAC at all are each cancelled before anything is generated, stored or
// sent; the real job is answered.
func TestForgedInboundJobIsCancelled(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			e := startInbound(t, dialect, &fakeGenerator{})
			genuine := e.args(t, "update-7", "what are your opening hours?")
			otherChat := genuine
			otherChat.UserID, otherChat.ChatID = "666", "666"
			otherWorkspace := genuine
			otherWorkspace.Workspace = palisade.NewWorkspaceID()
			unsigned := genuine
			unsigned.MAC = nil
			for _, a := range []job.InboundArgs{otherChat, otherWorkspace, unsigned} {
				e.enqueue(t, a)
			}
			e.waitStates(t, "cancelled", "cancelled", "cancelled")
			if n := e.gen.count(); n != 0 {
				t.Fatalf("generator called %d times for forged jobs", n)
			}
			in := conversation.Inbound{BotID: e.bot.ID, Channel: "telegram", UserID: "666"}
			conv, err := e.s.OpenConversation(t.Context(), e.scope, store.OpenConversationParams{BotID: e.bot.ID, Key: in.Key(), Channel: "telegram",
				ExternalUser: "666", Now: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			if msgs, err := e.s.ListMessages(t.Context(), e.scope, conv.ID, 100); err != nil || len(msgs) != 0 {
				t.Fatalf("a forged job stored %+v (%v)", msgs, err)
			}
			e.enqueue(t, genuine)
			e.waitStates(t, "cancelled", "cancelled", "cancelled", "completed")
			checkAnswered(t, e.messages(t), "what are your opening hours?")
		})
	}
}

func testArgsKey(t *testing.T) *job.ArgsKey {
	t.Helper()
	k, err := job.NewArgsKey(bytes.Repeat([]byte{0x77}, job.ArgsKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testMaster is the master key the PostgreSQL test databases are migrated
// with; testScopeKey the scope key derived from it.
var testMaster, testScopeKey = func() (seal.MasterKey, []byte) {
	m, err := seal.NewMasterKey(bytes.Repeat([]byte{0x11}, seal.KeySize))
	if err != nil {
		panic(err)
	}
	k, err := postgres.DeriveScopeKey(m)
	if err != nil {
		panic(err)
	}
	return m, k
}()

// fakeReplier records replies and answers with the errors queued.
type fakeReplier struct {
	mu      sync.Mutex
	replies []job.Reply
	errs    []error
}

func (f *fakeReplier) Reply(_ context.Context, _ palisade.Scope, r job.Reply) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replies = append(f.replies, r)
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return err
	}
	return nil
}

func (f *fakeReplier) got() []job.Reply {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]job.Reply(nil), f.replies...)
}

type retryAfter time.Duration

func (r retryAfter) Error() string             { return "rate limited" }
func (r retryAfter) RetryAfter() time.Duration { return time.Duration(r) }

// TestInboundJobReplies: a job naming a channel sends the stored answer
// through the replier with its route, sealed in the queue and opened for
// the call; a rate-limit answer waits (the job is snoozed, not failed); a
// final refusal cancels the job; a route moved to another delivery does
// not open.
func TestInboundJobReplies(t *testing.T) {
	t.Parallel()
	rep := &fakeReplier{errs: []error{retryAfter(50 * time.Millisecond)}}
	e := startInboundWith(t, "sqlite", &fakeGenerator{}, rep)
	ch := palisade.NewChannelID()
	route := []byte(`{"chat":"CanaryRouteChat"}`)
	a, err := job.SealRoute(t.Context(), e.sealer, e.key, e.args(t, "update-1", "hello"), ch, route)
	if err != nil {
		t.Fatal(err)
	}
	e.enqueue(t, a)
	rows := e.waitStates(t, "completed")
	got := rep.got()
	if len(got) != 2 || string(got[1].Route) != string(route) || got[1].ChannelID != ch || got[1].Ref != "update-1" || got[1].Channel != "telegram" ||
		got[1].Text != "Generated answer to: hello" || got[1].BotID != e.bot.ID {
		t.Fatalf("replies = %+v", got)
	}
	if strings.Contains(rows[0].args, "CanaryRouteChat") {
		t.Fatalf("the route is in clear in the queue: %s", rows[0].args)
	}
	if n := e.gen.count(); n != 1 {
		t.Fatalf("generator called %d times: the rate-limited retry generated again", n)
	}

	rep.errs = []error{palisade.Errorf(palisade.CodeForbidden, "blocked")}
	b, err := job.SealRoute(t.Context(), e.sealer, e.key, e.args(t, "update-2", "again"), ch, route)
	if err != nil {
		t.Fatal(err)
	}
	e.enqueue(t, b)
	e.waitStates(t, "completed", "cancelled")

	c, err := job.SealRoute(t.Context(), e.sealer, e.key, e.args(t, "update-3", "moved"), ch, route)
	if err != nil {
		t.Fatal(err)
	}
	moved, err := job.SealRoute(t.Context(), e.sealer, e.key, e.args(t, "update-4", "moved"), ch, route)
	if err != nil {
		t.Fatal(err)
	}
	c.SealedRoute = moved.SealedRoute
	e.enqueue(t, c)
	e.waitStates(t, "completed", "cancelled", "cancelled")
	if n := len(rep.got()); n != 3 {
		t.Fatalf("replier called %d times, want 3 (a moved route must not open)", n)
	}
}

// TestInboundRepliesKeepTheConversationOrder: when the reply to a
// conversation's first message fails and waits for its retry, the reply to
// its second message waits too, so the platform gets them in the order the
// messages came.
func TestInboundRepliesKeepTheConversationOrder(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			rep := &fakeReplier{errs: []error{errors.New("platform down")}}
			e := startInboundWith(t, dialect, &fakeGenerator{}, rep)
			ch := palisade.NewChannelID()
			route := []byte(`{"chat":"4242"}`)
			for _, ref := range []string{"update-1", "update-2"} {
				a, err := job.SealRoute(t.Context(), e.sealer, e.key, e.args(t, ref, "message "+ref), ch, route)
				if err != nil {
					t.Fatal(err)
				}
				e.enqueue(t, a)
			}
			e.waitStates(t, "completed", "completed")
			var refs []string
			for _, r := range rep.got() {
				refs = append(refs, r.Ref)
			}
			if strings.Join(refs, " ") != "update-1 update-1 update-2" {
				t.Fatalf("reply attempts in order %v; want the first one's retry before the second", refs)
			}
		})
	}
}
