//go:build linux

package cli_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/palisadehq/palisade/internal/channel/channeltest"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/llm/llmtest"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store/sqlstore"
)

// crashJobTimeout is the job time-out the crash tests run the server
// with: a killed process's jobs run again within
// job.RecoveryBound(crashJobTimeout).
const crashJobTimeout = 2 * time.Second

// buildPalisade builds the real binary once for the test.
func buildPalisade(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "palisade")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/palisadehq/palisade/cmd/palisade")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building palisade: %v\n%s", err, out)
	}
	return bin
}

// egressPolicyForAll writes an egress policy allowing exactly the origins
// of urls.
func egressPolicyForAll(t testing.TB, urls ...string) string {
	t.Helper()
	var rules []egress.Rule
	for _, u := range urls {
		rule, err := egress.RuleForURL(u)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, rule)
	}
	raw, err := yaml.Marshal(map[string]any{"version": egress.PolicyVersion, "rules": rules})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := egress.ParsePolicy(raw); err != nil {
		t.Fatalf("the generated policy does not parse: %v\n%s", err, raw)
	}
	path := filepath.Join(t.TempDir(), "egress.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// child runs the real binary as `palisade serve`, restartable, always on
// the same addresses (the webhook URL the fake delivers to is fixed). Its
// output of every run is kept for a failure's report; it is killed when
// the test ends, whatever happened.
type child struct {
	t         *testing.T
	bin       string
	env       []string
	args      []string
	addr, adm string
	mu        sync.Mutex
	cmd       *exec.Cmd
	exited    chan struct{}
	log       syncBuffer
	runs      int
}

func startChild(t *testing.T, bin string, env map[string]string, args ...string) *child {
	t.Helper()
	c := &child{t: t, bin: bin, addr: freeAddr(t), adm: freeAddr(t)}
	c.env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		if strings.HasPrefix(k, "PALISADE_") {
			c.env = append(c.env, k+"="+v)
		}
	}
	c.args = append([]string{"serve", "--addr", c.addr, "--admin-addr", c.adm, "--public-url", "http://" + c.addr,
		"--log-format", "json", "--job-timeout", crashJobTimeout.String()}, args...)
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			t.Logf("server output (%d runs):\n%s", c.runs, tail(c.log.String(), 20000))
		}
	})
	c.start()
	return c
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// start runs the binary and waits until it answers on its health path.
func (c *child) start() {
	c.t.Helper()
	c.mu.Lock()
	c.runs++
	fmt.Fprintf(&c.log, "\n==== run %d ====\n", c.runs)
	cmd := exec.Command(c.bin, c.args...)
	cmd.Env = c.env
	cmd.Stdout, cmd.Stderr = &c.log, &c.log
	// Killed with the test process, should that die first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		c.mu.Unlock()
		c.t.Fatalf("starting palisade: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	c.cmd, c.exited = cmd, exited
	c.mu.Unlock()
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			c.t.Fatalf("palisade exited during start-up:\n%s", tail(c.log.String(), 5000))
		default:
		}
		if resp, err := client.Get("http://" + c.addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("palisade did not become healthy:\n%s", tail(c.log.String(), 5000))
		}
	}
}

// kill ends the running process with SIGKILL — no shutdown, nothing
// flushed — and waits until it is gone.
func (c *child) kill() {
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	c.cmd = nil
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// terminate sends SIGTERM, as a service manager stopping the process
// does, and waits until it exits.
func (c *child) terminate() {
	c.t.Helper()
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	c.cmd = nil
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		c.t.Fatal("palisade did not stop within 30s of SIGTERM")
	}
}

func (c *child) public() string { return "http://" + c.addr }
func (c *child) admin() string  { return "http://" + c.adm }

// crashScenario is a workspace with a bot connected to a fake Telegram,
// served by the real binary with a fake model.
type crashScenario struct {
	env   map[string]string
	ws    palisade.Scope
	tg    *channeltest.Telegram
	token string
	srv   *child
}

func newCrashScenario(t *testing.T, bin string, env map[string]string, reply func(llmtest.Received) string) *crashScenario {
	t.Helper()
	const token = "7234567890:AAHCrashRecoveryBotToken_abcdefghij"
	const apiKey = "sk-crash-recovery-fake-model-key-0000"
	tg := channeltest.NewTelegram(t, channeltest.TelegramOptions{AnyWebhookURL: true})
	tg.AddBot(token, "crash_helper_bot")
	model := llmtest.NewOpenAI(t, llmtest.Options{APIKey: apiKey, Reply: reply})
	ws := createWorkspace(t, env, "Crash")
	key := strings.TrimSpace(mustCLI(t, env, "apikey", "create", "--workspace", string(ws.Workspace()), "--name", "crash",
		"--scopes", "bots:write,channels:write"))
	srv := startChild(t, bin, env, "--telegram-api-url", tg.URL, "--llm-provider", "openai", "--llm-base-url", model.URL,
		"--llm-api-key", apiKey, "--llm-models", "gpt-4o-mini", "--egress-policy", egressPolicyForAll(t, tg.URL, model.URL),
		"--unsafe-egress-allow-loopback=true")
	c := &e2eClient{t: t, base: srv.public(), key: key, cap: &e2eCapture{}}
	bot := c.json(http.MethodPost, "/api/v1/bots", map[string]any{"name": "Crashbot", "model": "gpt-4o-mini"}, http.StatusCreated)
	botID, _ := bot["id"].(string)
	c.json(http.MethodPost, "/api/v1/bots/"+botID+"/channels", map[string]any{"type": "telegram",
		"credentials": map[string]any{"bot_token": token}}, http.StatusCreated)
	if tg.Bot(token).Webhook.URL == "" {
		t.Fatal("the channel set no webhook up")
	}
	return &crashScenario{env: env, ws: ws, tg: tg, token: token, srv: srv}
}

// dbState reads, from the database itself, the states of the inbound
// jobs and the references of the reply parts recorded as begun and not
// finished (pending).
func (sc *crashScenario) dbState(t *testing.T) (jobs map[string]int, pending []string) {
	t.Helper()
	s := openSealed(t, sc.env)
	defer s.close()
	d := s.Store.(interface{ Driver() sqlstore.Driver }).Driver()
	jobs = map[string]int{}
	err := d.InTx(t.Context(), sqlstore.TxScope{Workspace: sc.ws.Workspace()}, func(tx sqlstore.Tx) error {
		rows, err := tx.Query(t.Context(), `SELECT CAST(state AS TEXT) FROM river_job WHERE kind = $1`, job.InboundArgs{}.Kind())
		if err != nil {
			return err
		}
		for rows.Next() {
			var st string
			if err := rows.Scan(&st); err != nil {
				rows.Close()
				return err
			}
			jobs[st]++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.Query(t.Context(), `SELECT ref FROM reply_sends WHERE workspace_id = $1 AND state = 'pending'`, string(sc.ws.Workspace()))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ref string
			if err := rows.Scan(&ref); err != nil {
				return err
			}
			pending = append(pending, ref)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return jobs, pending
}

// deliverUntilAcknowledged posts the update until the server answers 2xx,
// as Telegram redelivers an update that was not acknowledged.
func (sc *crashScenario) deliverUntilAcknowledged(t *testing.T, update []byte, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		status, err := sc.tg.Deliver(t.Context(), sc.token, update)
		if err == nil && status >= 200 && status < 300 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not acknowledged within %s: %d, %v", within, status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCrashRecovery runs the real binary, kills it with SIGKILL and
// starts it again, on SQLite and on PostgreSQL: a message acknowledged
// (2xx) before the kill is answered after the restart, exactly once when
// the kill falls outside the platform call; under kills at random moments
// of a burst, every acknowledged message is answered, and a message is
// answered twice only where the database shows a send begun and never
// finished at a kill. The fake Telegram never deduplicates.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	bin := buildPalisade(t)
	for name, backend := range keyBackends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t.Run("killed between the acknowledgement and the reply", func(t *testing.T) {
				t.Parallel()
				testKilledBeforeTheReply(t, bin, backend(t))
			})
			t.Run("stopped by SIGTERM while answering", func(t *testing.T) {
				t.Parallel()
				testStoppedWhileAnswering(t, bin, backend(t))
			})
			t.Run("killed at random during a burst", func(t *testing.T) {
				t.Parallel()
				testKilledDuringABurst(t, bin, backend(t))
			})
		})
	}
}

func testKilledBeforeTheReply(t *testing.T, bin string, env map[string]string) {
	release := make(chan struct{})
	asked := make(chan struct{}, 16)
	sc := newCrashScenario(t, bin, env, func(llmtest.Received) string {
		asked <- struct{}{}
		<-release
		return "Your parcel left the warehouse this morning."
	})
	// Released before the fakes close, which wait for their handlers.
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })

	update := channeltest.TextUpdate(100000001, 42, 111111111, "Ann", "Where is my parcel?")
	if status, err := sc.tg.Deliver(t.Context(), sc.token, update); err != nil || status != http.StatusOK {
		t.Fatalf("delivery: %d, %v", status, err)
	}
	// The job is running, held inside the model call: the kill falls
	// between the acknowledgement and the reply.
	select {
	case <-asked:
	case <-time.After(30 * time.Second):
		t.Fatal("the model was never asked")
	}
	sc.srv.kill()
	jobs, pending := sc.dbState(t)
	if jobs["running"] != 1 || len(pending) != 0 || len(sc.tg.Sent()) != 0 {
		t.Fatalf("after the kill: jobs %v, pending sends %v, %d replies; want one running job and nothing sent", jobs, pending, len(sc.tg.Sent()))
	}
	once.Do(func() { close(release) })

	began := time.Now()
	sc.srv.start()
	sent := sc.tg.WaitSent(t, 1, job.RecoveryBound(crashJobTimeout))
	t.Logf("answered %s after the restart", time.Since(began).Round(100*time.Millisecond))
	if sent[0].ChatID != 111111111 || sent[0].Text != "Your parcel left the warehouse this morning." {
		t.Fatalf("reply = %+v", sent[0])
	}
	// Redelivered after the restart (Telegram retries what it is unsure
	// of): still deduplicated.
	if status, err := sc.tg.Deliver(t.Context(), sc.token, update); err != nil || status != http.StatusOK {
		t.Fatalf("redelivery: %d, %v", status, err)
	}
	waitUntil(t, "the job to complete", 30*time.Second, func() bool {
		jobs, _ := sc.dbState(t)
		return jobs["completed"] == 1 && len(jobs) == 1
	})
	time.Sleep(500 * time.Millisecond) // a duplicate would have arrived by now
	if n := len(sc.tg.Sent()); n != 1 {
		t.Fatalf("%d replies, want exactly 1: %+v", n, sc.tg.Sent())
	}
	_, metrics := get(t, sc.srv.admin()+"/metrics")
	for _, want := range []string{`palisade_jobs_total{kind="inbound_message",outcome="completed"} 1`,
		`palisade_jobs_total{kind="inbound_message",outcome="discarded"} 0`, `palisade_channel_replies_total{channel="telegram",outcome="sent"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// testStoppedWhileAnswering: a clean stop whose time runs out while a job
// is held in the model call hands the job back (available, not running),
// so the restarted process answers at once instead of after the rescue
// delay of a crash.
func testStoppedWhileAnswering(t *testing.T, bin string, env map[string]string) {
	release := make(chan struct{})
	asked := make(chan struct{}, 16)
	sc := newCrashScenario(t, bin, env, func(llmtest.Received) string {
		asked <- struct{}{}
		<-release
		return "It ships tomorrow."
	})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	sc.srv.args = append(sc.srv.args, "--shutdown-timeout", "2s")
	sc.srv.terminate()
	sc.srv.start()

	if status, err := sc.tg.Deliver(t.Context(), sc.token, channeltest.TextUpdate(100000001, 42, 111111111, "Ann", "When does it ship?")); err != nil || status != http.StatusOK {
		t.Fatalf("delivery: %d, %v", status, err)
	}
	select {
	case <-asked:
	case <-time.After(30 * time.Second):
		t.Fatal("the model was never asked")
	}
	sc.srv.terminate()
	if jobs, _ := sc.dbState(t); jobs["available"] != 1 || len(jobs) != 1 {
		t.Fatalf("after the stop: jobs %v, want one available", jobs)
	}
	once.Do(func() { close(release) })
	began := time.Now()
	sc.srv.start()
	sc.tg.WaitSent(t, 1, 15*time.Second)
	t.Logf("answered %s after the restart", time.Since(began).Round(100*time.Millisecond))
	time.Sleep(500 * time.Millisecond)
	if sent := sc.tg.Sent(); len(sent) != 1 || sent[0].Text != "It ships tomorrow." {
		t.Fatalf("replies = %+v, want exactly one", sent)
	}
}

func waitUntil(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
	}
}

var parcelRE = regexp.MustCompile(`parcel #([0-9]+)`)

func testKilledDuringABurst(t *testing.T, bin string, env map[string]string) {
	const (
		messages = 50
		kills    = 3
		firstID  = 200000000
		firstTo  = 500000000
	)
	sc := newCrashScenario(t, bin, env, func(r llmtest.Received) string {
		// A short, varying model time, so the kills land at every stage:
		// before the model, inside it, inside the send and after it.
		time.Sleep(time.Duration(rand.IntN(60)) * time.Millisecond)
		m := parcelRE.FindStringSubmatch(r.Messages[len(r.Messages)-1].Content)
		if m == nil {
			return "no parcel number"
		}
		return "Answer to: #" + m[1]
	})

	var wg sync.WaitGroup
	sendErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range messages {
			update := channeltest.TextUpdate(firstID+int64(i), int64(i+1), firstTo+int64(i), "User", fmt.Sprintf("Where is parcel #%d", i))
			if err := sc.deliverUntilAcknowledged(t, update, 60*time.Second); err != nil {
				sendErr <- fmt.Errorf("delivery %d: %w", i, err)
				return
			}
			time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
		}
	}()
	// Each ref may be answered once more for each kill that found its send
	// begun and unfinished.
	mayRepeat := map[string]int{}
	for k := range kills {
		time.Sleep(time.Duration(150+rand.IntN(600)) * time.Millisecond)
		sc.srv.kill()
		_, pending := sc.dbState(t)
		for _, ref := range pending {
			mayRepeat[ref]++
		}
		t.Logf("kill %d: %d sends begun and unfinished", k+1, len(pending))
		sc.srv.start()
	}
	wg.Wait()
	select {
	case err := <-sendErr:
		t.Fatal(err)
	default:
	}

	began := time.Now()
	waitUntil(t, "every acknowledged message to be answered", job.RecoveryBound(crashJobTimeout)+30*time.Second, func() bool {
		jobs, _ := sc.dbState(t)
		return jobs["completed"] == messages
	})
	t.Logf("all answered %s after the burst", time.Since(began).Round(100*time.Millisecond))
	time.Sleep(500 * time.Millisecond) // a duplicate would have arrived by now
	byChat := map[int64][]channeltest.Sent{}
	for _, s := range sc.tg.Sent() {
		byChat[s.ChatID] = append(byChat[s.ChatID], s)
	}
	repeats := 0
	for i := range messages {
		ref := fmt.Sprint(firstID + i)
		got := byChat[int64(firstTo+i)]
		if len(got) == 0 {
			t.Errorf("message %d (update %s) was never answered", i, ref)
			continue
		}
		for _, s := range got {
			if s.Text != fmt.Sprintf("Answer to: #%d", i) {
				t.Errorf("message %d answered %q", i, s.Text)
			}
		}
		if extra := len(got) - 1; extra > mayRepeat[ref] {
			t.Errorf("message %d (update %s) answered %d times; only %d send(s) were unfinished at a kill", i, ref, len(got), mayRepeat[ref])
		} else {
			repeats += extra
		}
	}
	if n := len(sc.tg.Sent()); n != messages+repeats {
		t.Errorf("%d replies for %d messages and %d allowed repeats", n, messages, repeats)
	}
	t.Logf("%d messages answered exactly once, %d repeated after a kill inside the send call", messages-repeats, repeats)
}
