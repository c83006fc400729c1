package faulttest_test

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/faulttest"
	"github.com/palisadehq/palisade/internal/llm/llmtest"
)

// jobTimeout is the job time-out the servers run with: a killed process's
// jobs run again within seconds instead of minutes.
const jobTimeout = 2 * time.Second

const (
	botToken = "7234567890:AAHFaultHarnessBotToken_abcdefghijk"
	modelKey = "sk-fault-harness-fake-model-key-0000"
)

// tgApp is a workspace with a bot connected to a fake Telegram, served by
// the real binary with a fake model.
type tgApp struct {
	b     faulttest.Backend
	srv   *faulttest.Server
	tg    *channeltest.Telegram
	model *llmtest.Server
	ws    string
	key   string
}

var parcelRE = regexp.MustCompile(`parcel #([0-9]+)`)

// answerParcel answers "Answer to: #N" for a message naming parcel #N,
// after a short random model time so that faults land at every stage of a
// job.
func answerParcel(r llmtest.Received) string {
	time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
	m := parcelRE.FindStringSubmatch(r.Messages[len(r.Messages)-1].Content)
	if m == nil {
		return "no parcel number"
	}
	return "Answer to: #" + m[1]
}

func newTelegramApp(t *testing.T, bin string, b faulttest.Backend, model llmtest.Options, extra ...string) *tgApp {
	t.Helper()
	tg := channeltest.NewTelegram(t, channeltest.TelegramOptions{AnyWebhookURL: true})
	tg.AddBot(botToken, "fault_harness_bot")
	model.APIKey = modelKey
	if model.Reply == nil && model.Text == "" {
		model.Reply = answerParcel
	}
	fake := llmtest.NewOpenAI(t, model)
	ws, key := faulttest.Workspace(t, bin, b, "Faults", "bots:write,channels:write,bots:read")
	args := append([]string{"--telegram-api-url", tg.URL, "--llm-provider", "openai", "--llm-base-url", fake.URL,
		"--llm-api-key", modelKey, "--llm-models", "gpt-4o-mini", "--egress-policy", faulttest.EgressPolicy(t, tg.URL, fake.URL),
		"--unsafe-egress-allow-loopback=true", "--job-timeout", jobTimeout.String()}, extra...)
	if !hasFlag(extra, "--rate-limits") {
		// The flood is the platform's own traffic, not an attack: the
		// per-channel webhook limit would only slow it down.
		args = append(args, "--rate-limits", faulttest.RateLimits(t, map[string]string{"webhook": "10000/1s"}))
	}
	srv := faulttest.StartServer(t, bin, b.Env, args...)
	bot := faulttest.API(t, srv.URL(), key, "POST", "/api/v1/bots", map[string]any{"name": "Faultbot", "model": "gpt-4o-mini"}, 201)
	botID, _ := bot["id"].(string)
	faulttest.API(t, srv.URL(), key, "POST", "/api/v1/bots/"+botID+"/channels", map[string]any{"type": "telegram",
		"credentials": map[string]any{"bot_token": botToken}}, 201)
	if tg.Bot(botToken).Webhook.URL == "" {
		t.Fatal("the channel set no webhook up")
	}
	return &tgApp{b: b, srv: srv, tg: tg, model: fake, ws: ws, key: key}
}

func hasFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag {
			return true
		}
	}
	return false
}

// floodResult is what a flood of deliveries saw.
type floodResult struct {
	n        int
	firstID  int64
	firstTo  int64
	perChat  int
	acked    []atomic.Bool
	refused  atomic.Int64
	mu       sync.Mutex
	statuses map[int]int       // status of refused attempts (0: no answer)
	refusals []time.Duration   // how long each refused attempt took
	attempts []attempt         // the refused attempts, in order
	acks     []time.Duration   // how long each acknowledged attempt took
	firstAck map[int]time.Time // by delivery: when it was acknowledged
	errs     []error
}

// update is delivery i: chat firstTo+i/perChat, its (i%perChat)th message.
func (r *floodResult) update(i int) []byte {
	chat := r.firstTo + int64(i/r.perChat)
	return channeltest.TextUpdate(r.firstID+int64(i), int64(i+1), chat, "User", fmt.Sprintf("Where is parcel #%d", i))
}

// floodOptions shape a flood.
type floodOptions struct {
	n, workers, perSecond int
	perChat               int // messages per conversation, delivered in order (default 1)
	firstID, firstTo      int64
	within                time.Duration // how long one delivery may take to be acknowledged
}

// flood delivers n updates through workers at most perSecond a second,
// each until it is acknowledged with a 2xx, as Telegram retries an update
// it is unsure of. Messages of one conversation are delivered by one
// worker, in order. It returns at once; done is closed when every delivery
// was acknowledged or gave up.
func (a *tgApp) flood(ctx context.Context, o floodOptions) (*floodResult, <-chan struct{}) {
	if o.perChat == 0 {
		o.perChat = 1
	}
	if o.within == 0 {
		o.within = 3 * time.Minute
	}
	r := &floodResult{n: o.n, firstID: o.firstID, firstTo: o.firstTo, perChat: o.perChat, acked: make([]atomic.Bool, o.n),
		statuses: map[int]int{}, firstAck: map[int]time.Time{}}
	chats := (o.n + o.perChat - 1) / o.perChat
	next := make(chan int)
	tick := time.NewTicker(time.Second / time.Duration(o.perSecond))
	go func() {
		defer close(next)
		for c := range chats {
			select {
			case next <- c:
			case <-ctx.Done():
				return
			}
		}
	}()
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				for i := c * o.perChat; i < min((c+1)*o.perChat, o.n); i++ {
					select {
					case <-tick.C:
					case <-ctx.Done():
						return
					}
					if err := a.deliver(ctx, r, i, o.within); err != nil {
						r.mu.Lock()
						r.errs = append(r.errs, err)
						r.mu.Unlock()
						return
					}
				}
			}
		}()
	}
	go func() { wg.Wait(); tick.Stop(); close(done) }()
	return r, done
}

func (a *tgApp) deliver(ctx context.Context, r *floodResult, i int, within time.Duration) error {
	update := r.update(i)
	deadline := time.Now().Add(within)
	for {
		began := time.Now()
		status, err := a.tg.Deliver(ctx, botToken, update)
		took := time.Since(began)
		if err == nil && status >= 200 && status < 300 {
			r.acked[i].Store(true)
			r.mu.Lock()
			r.acks = append(r.acks, took)
			r.firstAck[i] = time.Now()
			r.mu.Unlock()
			return nil
		}
		r.refused.Add(1)
		r.mu.Lock()
		r.statuses[status]++
		r.refusals = append(r.refusals, took)
		r.attempts = append(r.attempts, attempt{status, took})
		r.mu.Unlock()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("delivery %d not acknowledged within %s: %d, %v", i, within, status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *floodResult) ackedCount() int {
	n := 0
	for i := range r.acked {
		if r.acked[i].Load() {
			n++
		}
	}
	return n
}

// tally compares the replies the fake received with the acknowledged
// deliveries: lost are acknowledged deliveries never answered, duplicates
// the replies beyond one per delivery. mayRepeat (by update id) is how
// many extra replies a delivery may have had (a send begun and unfinished
// at a fault); a duplicate beyond it is an error.
func (r *floodResult) tally(t *testing.T, sent []channeltest.Sent, mayRepeat map[string]int) (replies, dups, lost int) {
	t.Helper()
	count := map[string]int{}
	for _, s := range sent {
		m := regexp.MustCompile(`^Answer to: #([0-9]+)$`).FindStringSubmatch(s.Text)
		if m == nil {
			continue
		}
		count[m[1]]++
		replies++
	}
	for i := range r.n {
		if !r.acked[i].Load() {
			continue
		}
		c := count[strconv.Itoa(i)]
		if c == 0 {
			lost++
			if lost <= 10 {
				t.Errorf("delivery %d (update %d) was acknowledged and never answered", i, r.firstID+int64(i))
			}
			continue
		}
		if extra := c - 1; extra > 0 {
			dups += extra
			if extra > mayRepeat[strconv.FormatInt(r.firstID+int64(i), 10)] {
				t.Errorf("delivery %d answered %d times; only %d send(s) were unfinished at a fault", i, c, mayRepeat[strconv.FormatInt(r.firstID+int64(i), 10)])
			}
		}
	}
	return replies, dups, lost
}

// waitAnswered waits until every acknowledged delivery has a reply, or
// within has passed, and then a little more so a duplicate would show.
func (a *tgApp) waitAnswered(t *testing.T, r *floodResult, within time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		answered := map[string]bool{}
		for _, s := range a.tg.Sent() {
			if m := regexp.MustCompile(`^Answer to: #([0-9]+)$`).FindStringSubmatch(s.Text); m != nil {
				answered[m[1]] = true
			}
		}
		missing := 0
		for i := range r.n {
			if r.acked[i].Load() && !answered[strconv.Itoa(i)] {
				missing++
			}
		}
		if missing == 0 {
			break
		}
	}
	took := time.Since(began)
	time.Sleep(time.Second)
	return took
}

// pendingRefs reads, from the database of the stopped server, the
// deliveries whose reply send was begun and not recorded as finished.
func pendingRefs(t *testing.T, b faulttest.Backend) []string {
	t.Helper()
	return queryStrings(t, b, `SELECT ref FROM reply_sends WHERE state = 'pending'`)
}

// jobStates counts the inbound jobs by state.
func jobStates(t *testing.T, b faulttest.Backend) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, s := range queryStrings(t, b, `SELECT CAST(state AS TEXT) FROM river_job WHERE kind = 'inbound_message'`) {
		out[s]++
	}
	return out
}

// queryStrings runs q, which selects one text column, on the server's
// database as its owner (PostgreSQL) or on its file (SQLite).
func queryStrings(t *testing.T, b faulttest.Backend, q string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []string
	if b.PG != nil {
		conn, err := pgx.Connect(ctx, b.AdminURL)
		if err != nil {
			t.Fatalf("connecting to the database: %v", err)
		}
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.Env["PALISADE_DATA_DIR"], "palisade.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// scale picks the full or the shortened figure.
func scale[T any](full, short T) T {
	if faulttest.Full {
		return full
	}
	return short
}

type attempt struct {
	status int
	took   time.Duration
}

// snapshotStatuses returns the refused attempts so far, in order.
func snapshotStatuses(r *floodResult) []attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.attempts)
}

// firstAckAfter is the earliest acknowledgement at or after from (zero:
// none yet).
func (r *floodResult) firstAckAfter(from time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var first time.Time
	for _, at := range r.firstAck {
		if !at.Before(from) && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	return first
}

func formatCodes(codes map[int]int) string {
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(codes)) {
		name := strconv.Itoa(c)
		if c == 0 {
			name = "no answer"
		}
		parts = append(parts, name+"×"+strconv.Itoa(codes[c]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

func itoa(n int) string { return strconv.Itoa(n) }

func waitUntil(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
	}
}

func (r *floodResult) statusesCopy() map[int]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.statuses)
}
