package events_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/egress"
	"github.com/palisadehq/palisade/internal/events"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/servicetest"
	"github.com/palisadehq/palisade/internal/stdwebhook"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// receiver is a loopback HTTPS endpoint that answers failFirst requests
// with 500, then 204, and keeps every request it got.
type receiver struct {
	srv       *httptest.Server
	mu        sync.Mutex
	failFirst int
	got       []delivery
}

type delivery struct {
	Header http.Header
	Body   []byte
	At     time.Time
}

func newReceiver(t *testing.T, failFirst int) *receiver {
	r := &receiver{failFirst: failFirst}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, delivery{Header: req.Header.Clone(), Body: b, At: time.Now()})
		n := len(r.got)
		r.mu.Unlock()
		if n <= r.failFirst {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

type noMail struct{}

func (noMail) DeliverMail(context.Context, account.MailJob) error {
	return errors.New("no e-mail expected")
}

// backoff doubles the wait after each failed attempt, from 300ms.
type backoff struct{}

func (backoff) NextRetry(j *rivertype.JobRow) time.Time {
	return time.Now().Add(300 * time.Millisecond << (j.Attempt - 1))
}

type env struct {
	s     *sqlite.Store
	svc   *events.Service
	scope palisade.Scope
	logs  *syncBuffer
	key   *job.ArgsKey
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// setup opens a store, the events service (egress options eo) and, when
// run, the job runner with a doubling backoff.
func setup(t *testing.T, eo egress.Options, run bool) *env {
	t.Helper()
	ctx := t.Context()
	mk, err := seal.NewMasterKey(bytes.Repeat([]byte{7}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := seal.NewKeyring(ctx, mk, sealtest.NewMemoryKeyStore(), seal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), store.Options{Sealer: kr, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	key, err := job.NewArgsKey(bytes.Repeat([]byte{3}, job.ArgsKeySize))
	if err != nil {
		t.Fatal(err)
	}
	eo.Logger = logger
	svc, err := events.New(events.Options{Store: s, ArgsKey: key, Egress: eo, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.CreateWorkspace(ctx, store.CreateWorkspaceParams{Name: "W", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{s: s, svc: svc, scope: palisade.ScopeFor(w.ID), logs: logs, key: key}
	if run {
		conv := &conversation.Service{Store: s, Knowledge: &knowledge.Service{Store: s, Now: time.Now}, Now: time.Now}
		r, err := job.NewRunner(riversqlite.New(s.DB()), job.Deps{Store: s, ArgsKey: key, Sealer: kr, Conversations: conv, Mail: noMail{},
			Events: svc, Logger: logger}, job.RunnerOptions{PollOnly: true, PollInterval: 20 * time.Millisecond, RetryPolicy: backoff{}})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Stop(context.Background()) })
	}
	return e
}

func loopbackOptions(r *receiver) egress.Options {
	pool := x509.NewCertPool()
	pool.AddCert(r.srv.Certificate())
	return egress.Options{UnsafeAllowLoopback: true, RootCAs: pool}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An event emitted by a service reaches the endpoint, signed so that the
// official standardwebhooks package verifies it; a failing endpoint gets
// retries with backoff and the delivery log shows every attempt.
func TestEventReachesEndpointWithRetries(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, 2)
	e := setup(t, loopbackOptions(rcv), true)
	ctx := t.Context()
	c := palisade.Caller{Scope: e.scope, Actor: "key_test"}
	created, err := e.svc.Create(ctx, c, events.Input{URL: rcv.srv.URL + "/hooks/palisade", Events: []string{palisade.EventReplySent}})
	if err != nil {
		t.Fatal(err)
	}
	sec := created.Secret.Reveal()
	if !strings.HasPrefix(sec, "whsec_") {
		t.Fatalf("secret %q", sec)
	}
	// Not subscribed: nothing is sent.
	e.svc.Emit(ctx, e.scope, palisade.EventMessageReceived, map[string]any{"message_id": "msg_x"})
	e.svc.Emit(ctx, e.scope, palisade.EventReplySent, map[string]any{"bot_id": "bot_1", "message_id": "msg_y"})

	waitFor(t, "three attempts", func() bool { return len(rcv.deliveries()) >= 3 })
	got := rcv.deliveries()
	waitFor(t, "the delivery log", func() bool {
		log, err := e.svc.Deliveries(ctx, e.scope, created.ID, 10)
		return err == nil && len(log) == 3
	})
	log, _ := e.svc.Deliveries(ctx, e.scope, created.ID, 10)
	for i, want := range []struct{ attempt, status int }{{3, 204}, {2, 500}, {1, 500}} {
		d := log[i]
		if d.Attempt != want.attempt || d.Status != want.status || d.EventType != palisade.EventReplySent || d.EventID != got[0].Header.Get("webhook-id") {
			t.Errorf("log[%d] = %+v, want attempt %d status %d", i, d, want.attempt, want.status)
		}
		if (want.status == 500) != (d.Error != "") {
			t.Errorf("log[%d] error %q", i, d.Error)
		}
	}
	// Backoff: no retry comes before its wait, which doubles.
	if gap1, gap2 := got[1].At.Sub(got[0].At), got[2].At.Sub(got[1].At); gap1 < 300*time.Millisecond || gap2 < 600*time.Millisecond {
		t.Errorf("retry gaps %v then %v, want at least 300ms then 600ms", gap1, gap2)
	}
	// Every attempt carries the same id and its own signature; each
	// verifies with our verifier.
	key, _ := stdwebhook.KeyFromSecret(sec)
	for i, d := range got {
		if d.Header.Get("webhook-id") != got[0].Header.Get("webhook-id") || !palisade.ValidID(palisade.PrefixEvent, d.Header.Get("webhook-id")) {
			t.Errorf("attempt %d: webhook-id %q", i, d.Header.Get("webhook-id"))
		}
		if err := stdwebhook.Verify([][]byte{key}, stdwebhook.HeadersFrom(d.Header), d.Body, time.Now()); err != nil {
			t.Errorf("attempt %d does not verify: %v", i, err)
		}
	}
	var p struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(got[2].Body, &p); err != nil || p.Type != palisade.EventReplySent || p.Data["message_id"] != "msg_y" {
		t.Fatalf("payload %s", got[2].Body)
	}
	verifyWithNode(t, sec, got[2])

	// The secret is never shown again, nor logged.
	list, err := e.svc.List(ctx, e.scope)
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v", list, err)
	}
	if b, _ := json.Marshal(list); bytes.Contains(b, []byte(sec)) {
		t.Fatal("the listing shows the secret")
	}
	if strings.Contains(e.logs.String(), sec) || strings.Contains(e.logs.String(), strings.TrimPrefix(sec, "whsec_")) {
		t.Fatal("the secret is in the logs")
	}
}

// verifyWithNode runs the official standardwebhooks npm package over one
// delivery.
func verifyWithNode(t *testing.T, sec string, d delivery) {
	t.Helper()
	t.Run("official standardwebhooks npm package", func(t *testing.T) { nodeVerify(t, sec, d) })
}

func nodeVerify(t *testing.T, sec string, d delivery) {
	dir, _ := filepath.Abs(filepath.Join("testdata", "node"))
	node, err := exec.LookPath("node")
	if _, statErr := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks")); err != nil || statErr != nil {
		if servicetest.Required() {
			t.Fatalf("node or %s/node_modules is missing (run npm ci there; .ci/run does)", dir)
		}
		t.Skip("node or testdata/node/node_modules is missing: run npm ci in internal/events/testdata/node (or set PALISADE_TEST_REQUIRE_SERVICES=1 to fail)")
	}
	in, _ := json.Marshal(map[string]any{"secret": sec, "body": string(d.Body), "headers": map[string]string{
		"webhook-id": d.Header.Get("webhook-id"), "webhook-timestamp": d.Header.Get("webhook-timestamp"), "webhook-signature": d.Header.Get("webhook-signature")}})
	cmd := exec.CommandContext(t.Context(), node, "verify.js")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("standardwebhooks (node) refused the delivery: %v: %s", err, stderr.String())
	}
	if strings.TrimSpace(string(out)) != palisade.EventReplySent {
		t.Fatalf("node printed %q", out)
	}
	// And the same package refuses it under another secret.
	bad, _ := json.Marshal(map[string]any{"secret": "whsec_" + strings.Repeat("QUFB", 11), "body": string(d.Body), "headers": map[string]string{
		"webhook-id": d.Header.Get("webhook-id"), "webhook-timestamp": d.Header.Get("webhook-timestamp"), "webhook-signature": d.Header.Get("webhook-signature")}})
	cmd = exec.CommandContext(t.Context(), node, "verify.js")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(bad)
	if err := cmd.Run(); err == nil {
		t.Fatal("standardwebhooks (node) accepted a delivery under another secret")
	}
}

// Without the unsafe switch, a loopback endpoint is refused at dial time:
// the receiver gets nothing and the log records the refusal.
func TestPrivateAddressRefused(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, 0)
	opts := loopbackOptions(rcv)
	opts.UnsafeAllowLoopback = false
	e := setup(t, opts, false)
	ctx := t.Context()
	c := palisade.Caller{Scope: e.scope, Actor: "key_test"}
	created, err := e.svc.Create(ctx, c, events.Input{URL: rcv.srv.URL + "/in"})
	if err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{"https://10.0.0.1/in", "https://169.254.169.254/latest"} {
		if _, err := e.svc.Create(ctx, c, events.Input{URL: url}); err != nil {
			t.Fatalf("creating %s: %v (refused when dialled, not here)", url, err)
		}
	}
	args, err := job.SignEvent(e.key, job.EventArgs{Workspace: e.scope.Workspace(), EndpointID: created.ID, EventID: palisade.NewID(palisade.PrefixEvent),
		Type: palisade.EventTest, Payload: []byte(`{"type":"webhook.test"}`)})
	if err != nil {
		t.Fatal(err)
	}
	err = e.svc.SendEvent(ctx, e.scope, args, 1)
	if err == nil || !strings.Contains(err.Error(), "egress") {
		t.Fatalf("SendEvent to loopback = %v", err)
	}
	if n := len(rcv.deliveries()); n != 0 {
		t.Fatalf("the loopback receiver got %d requests", n)
	}
	log, err := e.svc.Deliveries(ctx, e.scope, created.ID, 10)
	if err != nil || len(log) != 1 || log[0].Status != 0 || !strings.Contains(log[0].Error, "egress") {
		t.Fatalf("delivery log = %+v, %v", log, err)
	}
}

func TestCreateValidates(t *testing.T) {
	t.Parallel()
	e := setup(t, egress.Options{}, false)
	c := palisade.Caller{Scope: e.scope, Actor: "key_test"}
	for name, in := range map[string]events.Input{
		"http":          {URL: "http://example.com/in"},
		"credentials":   {URL: "https://u:p@example.com/in"},
		"relative":      {URL: "/in"},
		"unknown event": {URL: "https://example.com/in", Events: []string{"bot.deleted"}},
		"long line":     {URL: "https://example.com/in", Description: "a\nb"},
	} {
		if _, err := e.svc.Create(t.Context(), c, in); palisade.ErrorCode(err) != palisade.CodeInvalid {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Another workspace sees nothing.
	created, err := e.svc.Create(t.Context(), c, events.Input{URL: "https://example.com/in"})
	if err != nil {
		t.Fatal(err)
	}
	other := palisade.ScopeFor(palisade.NewWorkspaceID())
	if _, err := e.svc.Deliveries(t.Context(), other, created.ID, 10); palisade.ErrorCode(err) != palisade.CodeNotFound {
		t.Fatalf("Deliveries from another workspace: %v", err)
	}
	if _, err := e.svc.Test(t.Context(), palisade.Caller{Scope: other}, created.ID); palisade.ErrorCode(err) != palisade.CodeNotFound {
		t.Fatalf("Test from another workspace: %v", err)
	}
}
