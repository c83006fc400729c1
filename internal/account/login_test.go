package account_test

import (
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/account"
	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/ratelimit"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// A failed log-in does the same store work and the same password work for
// an account that exists and one that does not, with or without a device
// cookie (of another account, or unknown): the device is looked up
// whatever the address typed.
func TestFailedLoginWorkDoesNotRevealAccounts(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var queries atomic.Int64
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), store.Options{QueryHook: func(string) { queries.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hasher := auth.NewInsecureTestHasher()
	svc, err := account.New(account.Options{Store: s, Hasher: hasher, Tokens: testTokenKey(t), Mailer: discardMail{},
		Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{}), Now: time.Now, DeviceKey: secret.New("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := hasher.Hash("correct horse battery staple")
	for _, e := range []string{"known@example.com", "mallory@example.com"} {
		if _, _, err := s.CreateOwner(ctx, store.CreateOwnerParams{Email: e, Name: "O", PasswordHash: hash, WorkspaceName: "W", Now: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	addr := netip.MustParseAddr("192.0.2.1")
	// Mallory's own device token, and one that names nothing.
	is, err := svc.Login(ctx, "mallory@example.com", "correct horse battery staple", secret.Secret{}, account.Client{IP: "192.0.2.99", Addr: addr})
	if err != nil || is.Device.IsZero() {
		t.Fatalf("Mallory's log-in: %v, device %v", err, !is.Device.IsZero())
	}
	unknownDevice := auth.NewToken()
	for name, dev := range map[string]secret.Secret{"no cookie": {}, "another account's device": is.Device, "unknown device": unknownDevice} {
		work := func(email string, i int) (int64, uint64) {
			c := account.Client{IP: "192.0.2." + string(rune('1'+i)), Addr: addr, Device: dev}
			q, d := queries.Load(), hasher.Derivations()
			if _, err := svc.Login(ctx, email, "not the password at all", secret.Secret{}, c); err == nil {
				t.Fatalf("%s: %s signed in with a wrong password", name, email)
			}
			return queries.Load() - q, hasher.Derivations() - d
		}
		kq, kd := work("known@example.com", 0)
		uq, ud := work("nobody@example.com", 1)
		if kq != uq || kd != ud || kd != 1 {
			t.Errorf("%s: existing account %d queries, %d derivations; unknown account %d queries, %d derivations", name, kq, kd, uq, ud)
		}
	}
}
