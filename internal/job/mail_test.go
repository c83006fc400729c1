package job_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/job"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/mail"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// noMail is the account mail of tests that queue none.
type noMail struct{}

func (noMail) DeliverMail(context.Context, account.MailJob) error {
	return errors.New("no account e-mail was expected")
}

// outbox is a mail.Sender that keeps messages.
type outbox struct {
	mu   sync.Mutex
	msgs []mail.Message
}

func (o *outbox) Send(_ context.Context, m mail.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.msgs = append(o.msgs, m)
	return nil
}

func (o *outbox) to(addr string) []mail.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []mail.Message
	for _, m := range o.msgs {
		if m.To == addr {
			out = append(out, m)
		}
	}
	return out
}

func (o *outbox) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.msgs)
}

// countingQueue counts the jobs enqueued through it.
type countingQueue struct {
	store.JobQueue
	n atomic.Int64
}

func (q *countingQueue) Enqueue(ctx context.Context, args store.JobArgs) error {
	q.n.Add(1)
	return q.JobQueue.Enqueue(ctx, args)
}

func testUserSealer(t *testing.T) store.UserSealer {
	t.Helper()
	mk, err := seal.NewMasterKey(bytes.Repeat([]byte{0x24}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	u, err := seal.NewUserSealer(mk)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// rawJobArgs returns the arguments of every job of kind as stored.
func rawJobArgs(t *testing.T, s store.Store, kind string) []string {
	return rawJobColumn(t, s, kind, "args")
}

// rawJobColumn returns one column, as text, of every job of kind; column
// is a constant of the caller's.
func rawJobColumn(t *testing.T, s store.Store, kind, column string) []string {
	t.Helper()
	var out []string
	switch st := s.(type) {
	case *sqlite.Store:
		rows, err := st.DB().QueryContext(t.Context(), `SELECT CAST(`+column+` AS TEXT) FROM river_job WHERE kind = ?`, kind)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var a string
			if err := rows.Scan(&a); err != nil {
				t.Fatal(err)
			}
			out = append(out, a)
		}
	case *postgres.Store:
		rows, err := st.Pool().Query(t.Context(), `SELECT `+column+`::text FROM river_job WHERE kind = $1`, kind)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var a string
			if err := rows.Scan(&a); err != nil {
				t.Fatal(err)
			}
			out = append(out, a)
		}
	}
	return out
}

var resetLinkRE = regexp.MustCompile(`https://ui\.example/reset/([A-Za-z0-9_-]{43})`)

// A password-reset request does the same work for an address with an
// account and one without (the same store queries, one queued job, no
// e-mail sent in the request), and leaves no address or link in clear in
// the jobs table. The job worker then sends the reset link to the account,
// and nothing to the unknown address; the link works.
func TestResetRequestWorkIsTheSameAndTheJobSendsTheMail(t *testing.T) {
	t.Parallel()
	for name, open := range jobOpeners {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var queries atomic.Int64
			us := testUserSealer(t)
			s := open(t, store.Options{UserSealer: us, QueryHook: func(string) { queries.Add(1) }})
			defer s.Close()
			ctx := t.Context()
			hasher := auth.NewInsecureTestHasher()
			sent := &outbox{}
			jobs := &countingQueue{JobQueue: s.Jobs()}
			svc, err := account.New(account.Options{Store: s, Hasher: hasher, Tokens: testTokenKey(t), Mailer: sent, Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{}),
				Jobs: jobs, MailSealer: us, Now: time.Now, BaseURL: "https://ui.example"})
			if err != nil {
				t.Fatal(err)
			}
			h, _ := hasher.Hash("correct horse battery staple")
			if _, _, err := s.CreateOwner(ctx, store.CreateOwnerParams{Email: "known@example.com", Name: "K", PasswordHash: h,
				WorkspaceName: "W", Now: time.Now()}); err != nil {
				t.Fatal(err)
			}

			work := func(email string) (int64, int64) {
				q, j := queries.Load(), jobs.n.Load()
				if err := svc.RequestReset(ctx, email, account.Client{IP: "192.0.2.1"}); err != nil {
					t.Fatalf("RequestReset(%s): %v", email, err)
				}
				return queries.Load() - q, jobs.n.Load() - j
			}
			kq, kj := work("known@example.com")
			uq, uj := work("nobody@example.com")
			if kq != uq || kj != 1 || uj != 1 {
				t.Fatalf("request work: existing account %d queries, %d jobs; unknown address %d queries, %d jobs; want equal, one job each",
					kq, kj, uq, uj)
			}
			if n := sent.count(); n != 0 {
				t.Fatalf("%d e-mails sent within the requests", n)
			}
			args := rawJobArgs(t, s, account.MailJob{}.Kind())
			if len(args) != 2 {
				t.Fatalf("%d account mail jobs stored, want 2", len(args))
			}
			for _, a := range args {
				if strings.Contains(a, "example.com") || strings.Contains(a, "/reset/") || strings.Contains(a, "192.0.2.1") {
					t.Fatalf("a queued e-mail holds an address or link in clear: %s", a)
				}
			}

			conv := &conversation.Service{Store: s, Knowledge: &knowledge.Service{Store: s, Now: time.Now}, Now: time.Now}
			runner := newRunner(t, s, job.Deps{Store: s, ArgsKey: testArgsKey(t), Conversations: conv, Mail: svc, Now: time.Now,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err := runner.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer func() {
				stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = runner.Stop(stopCtx)
			}()
			deadline := time.Now().Add(30 * time.Second)
			for len(sent.to("known@example.com")) == 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			msgs := sent.to("known@example.com")
			if len(msgs) != 1 {
				t.Fatalf("%d reset e-mails to the account, want 1", len(msgs))
			}
			m := resetLinkRE.FindStringSubmatch(msgs[0].Body)
			if m == nil {
				t.Fatalf("the e-mail carries no reset link:\n%s", msgs[0].Body)
			}
			// Once both jobs are done, the unknown address has got nothing.
			for time.Now().Before(deadline) {
				if st := rawJobColumn(t, s, account.MailJob{}.Kind(), "state"); len(st) == 2 && st[0] == "completed" && st[1] == "completed" {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if st := rawJobColumn(t, s, account.MailJob{}.Kind(), "state"); len(st) != 2 || st[0] != "completed" || st[1] != "completed" {
				t.Fatalf("account mail jobs: %v, want both completed", st)
			}
			if n := len(sent.to("nobody@example.com")); n != 0 {
				t.Fatalf("%d e-mails to an address without an account", n)
			}
			if err := svc.ResetPassword(ctx, secret.New(m[1]), "a brand new passphrase 77", account.Client{IP: "192.0.2.1"}); err != nil {
				t.Fatalf("following the mailed link: %v", err)
			}
		})
	}
}

// testTokenKey keys the stored hashes of session and one-time tokens.
func testTokenKey(t *testing.T) *auth.TokenKey {
	t.Helper()
	k, err := auth.NewTokenKey(bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
