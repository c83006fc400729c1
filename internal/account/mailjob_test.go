package account_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/mail"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// heldQueue keeps the jobs enqueued, for the test to work by hand.
type heldQueue struct {
	mu   sync.Mutex
	jobs []store.JobArgs
}

var _ store.JobQueue = (*heldQueue)(nil)

func (q *heldQueue) Enqueue(_ context.Context, a store.JobArgs) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.jobs = append(q.jobs, a)
	return nil
}

func (q *heldQueue) Count(context.Context, string) (int, error) { return len(q.jobs), nil }

// keptMail keeps the messages sent.
type keptMail struct {
	mu   sync.Mutex
	msgs []mail.Message
}

func (k *keptMail) Send(_ context.Context, m mail.Message) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.msgs = append(k.msgs, m)
	return nil
}

// A queued e-mail opens only as the job it was queued as: moved to another
// purpose or another job's reference, or altered, it is refused for good
// (ErrBadMailJob) and sends nothing; as queued, it is sent.
func TestQueuedMailOpensOnlyAsItsOwnJob(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mk, _ := seal.NewMasterKey(bytes.Repeat([]byte{7}, seal.KeySize))
	us, _ := seal.NewUserSealer(mk)
	q, sent := &heldQueue{}, &keptMail{}
	svc, err := account.New(account.Options{Store: s, Hasher: auth.NewInsecureTestHasher(), Tokens: testTokenKey(t), Mailer: sent,
		Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{}), Jobs: q, MailSealer: us, Now: time.Now, BaseURL: "https://ui.example"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := account.New(account.Options{Store: s, Hasher: auth.NewInsecureTestHasher(), Tokens: testTokenKey(t), Mailer: sent,
		Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{}), Jobs: q}); err == nil {
		t.Fatal("a mail queue without a sealer was accepted")
	}
	if _, _, err := s.CreateOwner(ctx, store.CreateOwnerParams{Email: "k@example.com", Name: "K", PasswordHash: "x", WorkspaceName: "W", Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"k@example.com", "other@example.com"} {
		if err := svc.RequestReset(ctx, e, account.Client{IP: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
	}
	if len(q.jobs) != 2 || len(sent.msgs) != 0 {
		t.Fatalf("%d jobs queued and %d e-mails sent in the requests, want 2 and 0", len(q.jobs), len(sent.msgs))
	}
	j, other := q.jobs[0].(account.MailJob), q.jobs[1].(account.MailJob)
	flipped := append([]byte(nil), j.Sealed...)
	flipped[len(flipped)-1] ^= 1
	for name, bad := range map[string]account.MailJob{
		"another purpose":         {Purpose: account.MailVerifyEmail, Ref: j.Ref, Sealed: j.Sealed},
		"another job's ref":       {Purpose: j.Purpose, Ref: other.Ref, Sealed: j.Sealed},
		"an altered payload":      {Purpose: j.Purpose, Ref: j.Ref, Sealed: flipped},
		"an unknown purpose":      {Purpose: "exfiltrate", Ref: j.Ref, Sealed: j.Sealed},
		"no payload":              {Purpose: j.Purpose, Ref: j.Ref},
		"a purpose without a ref": {Purpose: j.Purpose, Sealed: j.Sealed},
	} {
		if err := svc.DeliverMail(ctx, bad); !errors.Is(err, account.ErrBadMailJob) {
			t.Errorf("%s: %v, want ErrBadMailJob", name, err)
		}
	}
	if len(sent.msgs) != 0 {
		t.Fatalf("a refused job sent %d e-mails", len(sent.msgs))
	}
	if err := svc.DeliverMail(ctx, j); err != nil {
		t.Fatal(err)
	}
	if err := svc.DeliverMail(ctx, other); err != nil {
		t.Fatal(err)
	}
	if len(sent.msgs) != 1 || sent.msgs[0].To != "k@example.com" || !strings.Contains(sent.msgs[0].Body, "https://ui.example/reset/") {
		t.Fatalf("sent %+v, want one reset link to the account and nothing to the unknown address", sent.msgs)
	}
}
