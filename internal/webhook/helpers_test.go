package webhook_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/channel"
	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/channel/telegram"
	"github.com/palisadehq/palisade/internal/channel/whatsapp"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/servicetest"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
	"github.com/palisadehq/palisade/internal/store/sqlite"
	"github.com/palisadehq/palisade/internal/store/sqlstore"
	"github.com/palisadehq/palisade/internal/webhook"
)

const botToken = "7123456789:AAHwebhookPipelineTestToken_abcdefg"

// openers open a fresh migrated store of each dialect.
var openers = map[string]func(t testing.TB, o store.Options) store.Store{
	"sqlite": func(t testing.TB, o store.Options) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"), o)
		if err != nil {
			t.Fatal(err)
		}
		return s
	},
	"postgres": func(t testing.TB, o store.Options) store.Store {
		role := servicetest.PostgresRole(t)
		admin := servicetest.Postgres(t)
		if _, err := postgres.Migrate(context.Background(), admin, postgres.MigrateOptions{AppRole: role, Master: testMaster}); err != nil {
			t.Fatal(err)
		}
		s, err := postgres.Open(context.Background(), servicetest.WithUser(t, admin, role), o, postgres.OpenOptions{ScopeKey: testScopeKey})
		if err != nil {
			t.Fatal(err)
		}
		return s
	},
}

// testMaster is the master key the PostgreSQL test databases are migrated
// with; testScopeKey the scope key derived from it, and testArgsKey the key
// authenticating the jobs' arguments.
var testMaster, testScopeKey, testArgsKey = func() (seal.MasterKey, []byte, *job.ArgsKey) {
	m, err := seal.NewMasterKey(bytes.Repeat([]byte{0x11}, seal.KeySize))
	if err != nil {
		panic(err)
	}
	k, err := postgres.DeriveScopeKey(m)
	if err != nil {
		panic(err)
	}
	a, err := job.NewArgsKey(bytes.Repeat([]byte{0x77}, job.ArgsKeySize))
	if err != nil {
		panic(err)
	}
	return m, k, a
}()

// noMail is the account e-mail sender of a runner that sends none.
type noMail struct{}

func (noMail) DeliverMail(context.Context, account.MailJob) error {
	return errors.New("no account e-mail was expected")
}

// fastRetry retries a failed job after 20ms, whatever the attempt.
type fastRetry struct{}

func (fastRetry) NextRetry(*rivertype.JobRow) time.Time { return time.Now().Add(20 * time.Millisecond) }

// stackOptions vary the stack.
type stackOptions struct {
	// limits replaces the generous default rate limits.
	limits ratelimit.Table
	// realSleep waits out rate-limit answers on the clock; otherwise the
	// channel service does not wait at all.
	realSleep bool
	// noRunner leaves the job runner stopped.
	noRunner bool
	// generator answers with a model; nil answers in retrieval-only mode.
	generator conversation.Generator
	// pollInterval is how often the job runner polls (default 10ms).
	pollInterval time.Duration
	// maxInlineWait is the longest rate-limit answer the channel service
	// waits out within a job attempt (default 30s); a longer one snoozes
	// the job.
	maxInlineWait time.Duration
	// onOutcome is told the outcome of every job attempt.
	onOutcome func(kind, outcome string)
	// platforms are adapters served beside Telegram's.
	platforms []channel.Platform
}

// stack is the inbound path as the server wires it: the webhook surface
// behind the edge on a loopback server, the channel service with the
// Telegram adapter pointed at a fake, the job runner answering through the
// conversation service and replying through the channel service.
type stack struct {
	s        store.Store
	queries  *atomic.Int64
	fake     *channeltest.Telegram
	wa       *channeltest.WhatsApp
	svc      *channel.Service
	hooks    *webhook.Webhooks
	srv      *httptest.Server
	audit    *memAudit
	rej      *channel.Rejections
	refusals *refusals
	// limited counts the deliveries a rate limit refused, per workspace.
	limited *conversation.RefusalCounter
	scope   palisade.Scope
	bot     palisade.Bot
	caller  palisade.Caller
}

// refusals counts OnRefused calls by kind and reason.
type refusals struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *refusals) add(kind string, reason channel.Reason) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n[kind+"/"+string(reason)]++
}

func (r *refusals) get(kind string, reason channel.Reason) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[kind+"/"+string(reason)]
}

// memAudit keeps audit entries in memory.
type memAudit struct {
	mu      sync.Mutex
	entries []audit.Entry
}

func (a *memAudit) Record(_ context.Context, _ palisade.Scope, e audit.Entry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, e)
	return nil
}

func (a *memAudit) RecordPlatform(ctx context.Context, e audit.Entry) error {
	return a.Record(ctx, palisade.Scope{}, e)
}

func (a *memAudit) of(action audit.Action) []audit.Entry {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []audit.Entry
	for _, e := range a.entries {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

func newStack(t testing.TB, dialect string, o stackOptions) *stack {
	t.Helper()
	st := &stack{queries: &atomic.Int64{}, audit: &memAudit{}, refusals: &refusals{n: map[string]int{}}}
	sealer := sealtest.NewKeyring(t)
	st.s = openers[dialect](t, store.Options{Sealer: sealer, QueryHook: func(string) { st.queries.Add(1) }})
	t.Cleanup(func() { st.s.Close() })

	st.fake = channeltest.NewTelegram(t, channeltest.TelegramOptions{AnyWebhookURL: true})
	st.fake.AddBot(botToken, "helper_bot")
	rule, err := egress.RuleForURL(st.fake.URL)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := egress.NewPolicy(rule)
	if err != nil {
		t.Fatal(err)
	}
	client, err := egress.New(policy, egress.Options{UnsafeAllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.CloseIdleConnections)
	tg, err := telegram.New(telegram.Options{BaseURL: st.fake.URL, Client: client})
	if err != nil {
		t.Fatal(err)
	}

	wa, err := newWhatsApp(t, st)
	if err != nil {
		t.Fatal(err)
	}

	st.srv = httptest.NewUnstartedServer(nil)
	st.srv.Start()
	t.Cleanup(st.srv.Close)

	st.rej = channel.NewRejections(st.audit, nil, time.Now)
	sleep := func(context.Context, time.Duration) error { return nil }
	if o.realSleep {
		sleep = nil
	}
	st.svc, err = channel.New(channel.Options{Store: st.s, Sealer: sealer, ArgsKey: testArgsKey, Platforms: append([]channel.Platform{tg, wa}, o.platforms...), PublicURL: st.srv.URL,
		Audit: st.audit, Rejections: st.rej, Sleep: sleep, MaxInlineWait: o.maxInlineWait})
	if err != nil {
		t.Fatal(err)
	}
	limits := o.limits
	if limits == nil {
		limits = ratelimit.Defaults()
		if err := limits.Set(ratelimit.ClassWebhook, "10000/s"); err != nil {
			t.Fatal(err)
		}
	}
	st.limited = conversation.NewRefusalCounter(st.s, nil, nil)
	st.hooks, err = webhook.New(webhook.Options{Channels: st.svc, Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{}), Limits: limits,
		OnRefused: st.refusals.add, OnRateLimited: st.limited.RefusedBot})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/hooks/", httpx.LimitBody(httpx.DefaultMaxBody)(st.hooks.Handler()))
	st.srv.Config.Handler = httpx.Edge(httpx.EdgeConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, httpx.Mux(mux))

	ws, err := st.s.CreateWorkspace(context.Background(), store.CreateWorkspaceParams{Name: "Hooks", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	st.scope = palisade.ScopeFor(ws.ID)
	st.caller = palisade.Caller{Scope: st.scope, Actor: "usr_test"}
	st.bot, err = st.s.CreateBot(context.Background(), st.scope, palisade.Bot{Name: "Helper", Model: "m", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if !o.noRunner {
		know := &knowledge.Service{Store: st.s, Now: time.Now}
		conv := &conversation.Service{Store: st.s, Knowledge: know, Generator: o.generator, Now: time.Now}
		d := job.Deps{Store: st.s, ArgsKey: testArgsKey, Sealer: sealer, Conversations: conv, Replier: st.svc, Mail: noMail{}, Now: time.Now,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		poll := o.pollInterval
		if poll == 0 {
			poll = 10 * time.Millisecond
		}
		// As the server runs it: the store inserts through the working
		// client, which wakes its workers on insert.
		ro := job.RunnerOptions{PollInterval: poll, FetchCooldown: 20 * time.Millisecond, RetryPolicy: fastRetry{}, OnOutcome: o.onOutcome}
		var r *job.Runner
		switch s := st.s.(type) {
		case *sqlite.Store:
			r, err = job.NewRunner(riversqlite.New(s.DB()), d, ro, s.Jobs().(*sqlstore.RiverInserter[*sql.Tx]))
		case *postgres.Store:
			r, err = job.NewRunner(riverpgxv5.New(s.Pool()), d, ro, s.Jobs().(*sqlstore.RiverInserter[pgx.Tx]))
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = r.Stop(ctx)
		})
	}
	return st
}

// newWhatsApp starts the stack's fake WhatsApp with one phone number and
// returns an adapter pointed at it through an egress client that allows
// only the fake.
func newWhatsApp(t testing.TB, st *stack) (*whatsapp.Platform, error) {
	st.wa = channeltest.NewWhatsApp(t, channeltest.WhatsAppOptions{AppSecret: waAppSecret})
	st.wa.AddNumber(waPhoneID, "+1 555-078-3881", "Parcel Shop", waToken)
	rule, err := egress.RuleForURL(st.wa.URL)
	if err != nil {
		return nil, err
	}
	policy, err := egress.NewPolicy(rule)
	if err != nil {
		return nil, err
	}
	client, err := egress.New(policy, egress.Options{UnsafeAllowLoopback: true})
	if err != nil {
		return nil, err
	}
	t.Cleanup(client.CloseIdleConnections)
	return whatsapp.New(whatsapp.Options{BaseURL: st.wa.URL, Client: client})
}

// connect connects the bot to the fake Telegram through the service.
func (st *stack) connect(t testing.TB) channel.View {
	t.Helper()
	v, err := st.svc.Connect(context.Background(), st.caller, st.bot.ID, "telegram", channel.Credentials{"bot_token": secret.New(botToken)})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// hookURL is the bot's Telegram webhook URL on the test server.
func (st *stack) hookURL(bot palisade.BotID) string {
	return st.srv.URL + "/hooks/telegram/" + string(bot)
}

// jobStates reads the states of the inbound jobs, oldest first.
func (st *stack) jobStates(t testing.TB) []string {
	t.Helper()
	d := st.s.(interface{ Driver() sqlstore.Driver }).Driver()
	q := `SELECT state FROM river_job WHERE kind = $1 ORDER BY id`
	if st.s.Dialect() == store.DialectPostgres {
		q = `SELECT state::text FROM river_job WHERE kind = $1 ORDER BY id`
	}
	var out []string
	err := d.InTx(context.Background(), sqlstore.TxScope{}, func(tx sqlstore.Tx) error {
		rows, err := tx.Query(context.Background(), q, job.InboundArgs{}.Kind())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				return err
			}
			out = append(out, s)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitFor polls until cond holds. Its deadline only bounds a broken run:
// jobs retried with backoff on a loaded machine under the race detector
// take tens of seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
