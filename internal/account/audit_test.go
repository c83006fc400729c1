package account_test

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/audit"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/mail"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

type discardMail struct{}

func (discardMail) Send(context.Context, mail.Message) error { return nil }

// Every log-in outcome reaches the platform audit chain in the audit log's
// own vocabulary, a rate-limited attempt as a denial, with the client's
// address as the edge resolved it (an IPv6 address whole, not the /64 the
// limiter counts).
func TestLoginOutcomesReachTheAuditLog(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	limits := ratelimit.Defaults()
	svc, err := account.New(account.Options{Store: s, Hasher: auth.NewInsecureTestHasher(), Tokens: testTokenKey(t), Mailer: discardMail{},
		Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{}), Limits: limits, Audit: audit.New(s, audit.Options{}), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	hasher := auth.NewInsecureTestHasher()
	hash, _ := hasher.Hash("correct horse battery staple")
	if _, _, err := s.CreateOwner(ctx, store.CreateOwnerParams{Email: "owner@example.com", Name: "O", PasswordHash: hash,
		EmailVerified: true, WorkspaceName: "W", Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr("2001:db8::9")
	c := account.Client{IP: ratelimit.IPKey(addr), Addr: addr, RequestID: "req-1"}
	if _, err := svc.Login(ctx, "nobody@example.com", "wrong password here", secret.Secret{}, c); err == nil {
		t.Fatal("unknown account signed in")
	}
	is, err := svc.Login(ctx, "owner@example.com", "correct horse battery staple", secret.Secret{}, c)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := svc.Authenticate(ctx, is.Token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ChangePassword(ctx, cur, "correct horse battery staple", "another long passphrase 42", c); err != nil {
		t.Fatal(err)
	}
	// Spend the per-account budget, then one more is refused.
	var limited *account.RateLimitError
	for i := 0; i < 20 && !errors.As(err, &limited); i++ {
		_, err = svc.Login(ctx, "owner@example.com", "wrong password here", secret.Secret{}, c)
	}
	if !errors.As(err, &limited) {
		t.Fatalf("log-in never rate-limited: %v", err)
	}
	got, err := s.ListPlatformAudit(ctx, store.ListAuditParams{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	type pair struct{ action, outcome string }
	seen := map[pair]int{}
	for _, e := range got {
		seen[pair{e.Action, e.Outcome}]++
		if e.IP != addr.String() || e.RequestID != "req-1" {
			t.Errorf("%s: ip %q request %q, want %s req-1", e.Action, e.IP, e.RequestID, addr)
		}
	}
	for _, w := range []pair{
		{string(audit.ActionLoginFailure), string(audit.OutcomeFailure)},
		{string(audit.ActionLoginSuccess), string(audit.OutcomeSuccess)},
		{string(audit.ActionPasswordChanged), string(audit.OutcomeSuccess)},
		{string(audit.ActionLoginFailure), string(audit.OutcomeDenied)},
	} {
		if seen[w] == 0 {
			t.Errorf("no %s/%s entry in %v", w.action, w.outcome, seen)
		}
	}
}
