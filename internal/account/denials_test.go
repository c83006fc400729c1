package account_test

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/ratelimit/ratelimittest"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// countingAudit is an audit.Recorder that keeps every entry written.
type countingAudit struct {
	mu      sync.Mutex
	entries []audit.Entry
}

var _ audit.Recorder = (*countingAudit)(nil)

func (a *countingAudit) Record(_ context.Context, _ palisade.Scope, e audit.Entry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, e)
	return nil
}

func (a *countingAudit) RecordPlatform(ctx context.Context, e audit.Entry) error {
	return a.Record(ctx, palisade.Scope{}, e)
}

// denied returns the denial entries written so far.
func (a *countingAudit) denied() []audit.Entry {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []audit.Entry
	for _, e := range a.entries {
		if e.Outcome == audit.OutcomeDenied {
			out = append(out, e)
		}
	}
	return out
}

// A flood of refused log-ins writes one audit entry per refusing limit,
// key and window, not one per refusal: from one address (refused by the
// address's limit) and from many addresses at one account (refused by the
// account's). The next window's entry carries how many refusals were not
// written, so the flood still leaves its size in the log.
func TestRefusedLoginFloodWritesBoundedAudit(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clk := ratelimittest.NewClock(ratelimittest.Start())
	rec := &countingAudit{}
	svc, err := account.New(account.Options{Store: s, Hasher: auth.NewInsecureTestHasher(), Tokens: testTokenKey(t), Mailer: discardMail{},
		Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{Clock: clk.Now}), Audit: rec, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	login := func(email, ip string) error {
		addr := netip.MustParseAddr(ip)
		_, err := svc.Login(ctx, email, "wrong password here", secret.Secret{}, account.Client{IP: ratelimit.IPKey(addr), Addr: addr})
		return err
	}
	refused := func(err error) bool { return palisade.ErrorCode(err) == palisade.CodeRateLimited }

	// One address, 500 attempts at many accounts: 5 failures, 495 refusals.
	n := 0
	for i := range 500 {
		if refused(login(fmt.Sprintf("user-%d@example.com", i), "203.0.113.9")) {
			n++
		}
	}
	if n != 495 {
		t.Fatalf("%d of 500 attempts from one address refused, want 495", n)
	}
	if d := rec.denied(); len(d) != 1 || d[0].Detail["limit"] != string(ratelimit.ClassLoginIP) || d[0].Action != audit.ActionLoginFailure {
		t.Fatalf("denials written for one address's flood: %+v, want exactly one login_ip entry", d)
	}

	// 300 addresses at one account: 5 failures, 295 refusals by the
	// account's limit, one entry.
	for i := range 300 {
		_ = login("victim@example.com", fmt.Sprintf("198.51.%d.%d", 100+i/200, i%200+1))
	}
	d := rec.denied()
	if len(d) != 2 || d[1].Detail["limit"] != string(ratelimit.ClassLoginAccount) {
		t.Fatalf("denials written after the account flood: %+v, want one more, by login_account", d)
	}

	// The next window: the first refusal writes again, with the count of
	// the refusals the last window did not write.
	clk.Advance(time.Minute)
	for range 6 {
		_ = login("someone@example.com", "203.0.113.9")
	}
	d = rec.denied()
	if len(d) != 3 || d[2].Detail["refusals_not_written"] != "494" {
		t.Fatalf("denials after the next window's refusal: %+v, want a third carrying refusals_not_written=494", d)
	}
	if total := len(rec.entries); total > 5+5+5+3 {
		t.Fatalf("%d audit entries for 806 attempts, at most 18 expected (failures and three denials)", total)
	}
}
