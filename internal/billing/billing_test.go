package billing_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/billing"
	"github.com/palisadehq/palisade/internal/bot"
	"github.com/palisadehq/palisade/internal/conversation"
	"github.com/palisadehq/palisade/internal/knowledge"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/seal"
	"github.com/palisadehq/palisade/internal/seal/sealtest"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/stdwebhook"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	plansYAML = `
default: {name: free, bots: 1, messages_per_month: 2}
products:
  prod-pro: {name: pro, bots: 3, messages_per_month: 0}
`
)

type fixture struct {
	store *sqlite.Store
	svc   *billing.Service
	now   time.Time
	ws    palisade.Scope
}

func setup(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	mk, err := seal.NewMasterKey([]byte(strings.Repeat("k", seal.KeySize)))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := seal.NewKeyring(ctx, mk, sealtest.NewMemoryKeyStore(), seal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), store.Options{Sealer: kr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	plans, err := billing.ParsePlans([]byte(plansYAML))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: s, now: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	f.svc, err = billing.New(billing.Options{Store: s, Plans: plans, Secret: secret.New(vecSecret), CheckoutURL: "https://buy.polar.sh/polar_cl_abc?x=1",
		Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.CreateWorkspace(ctx, store.CreateWorkspaceParams{Name: "W", Now: f.now})
	if err != nil {
		t.Fatal(err)
	}
	f.ws = palisade.ScopeFor(w.ID)
	return f
}

// subscription is a Polar subscription event for the workspace.
func (f *fixture) subscription(typ, status string, modified time.Time) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "timestamp": modified, "data": map[string]any{
		"id": "sub-1", "status": status, "product_id": "prod-pro", "modified_at": modified, "created_at": f.now.Add(-time.Hour),
		"metadata": map[string]any{billing.MetadataKey: string(f.ws.Workspace())}}})
	return b
}

// headers signs body as Polar does, with the standard or the legacy key.
func (f *fixture) headers(id string, body []byte, legacy bool) http.Header {
	ts := strconv.FormatInt(f.now.Unix(), 10)
	var sig string
	if legacy {
		sig = "v1," + base64.StdEncoding.EncodeToString(stdwebhook.MAC(stdwebhook.LegacyKey(vecSecret), id, ts, body))
	} else {
		var err error
		sig, err = stdwebhook.Sign(vecSecret, id, f.now, body)
		if err != nil {
			panic(err)
		}
	}
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", sig)
	h.Set("user-agent", "polar.sh webhooks")
	return h
}

func (f *fixture) plan(t *testing.T) billing.Current {
	t.Helper()
	c, err := f.svc.Current(t.Context(), f.ws)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The reference vectors verify through the service, under both of
// Polar's schemes: the body has no event type, so a verified delivery is
// refused as invalid, never as unauthorized.
func TestVectorsVerifyThroughTheService(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.now = time.Unix(1614265330, 0)
	for _, sig := range []string{"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "v1,TcxlhK9b6UD6iVI1ZU2tTqp8PEVfYRseNNfa6b+LcUg="} {
		h := http.Header{}
		h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
		h.Set("webhook-timestamp", "1614265330")
		h.Set("webhook-signature", sig)
		_, err := f.svc.Receive(t.Context(), h, []byte(`{"test": 2432232314}`))
		if palisade.ErrorCode(err) != palisade.CodeInvalid {
			t.Errorf("%s: %v, want a verified but invalid event", sig, err)
		}
	}
}

func TestSubscriptionDrivesThePlan(t *testing.T) {
	t.Parallel()
	for _, legacy := range []bool{false, true} {
		t.Run("legacy="+strconv.FormatBool(legacy), func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			ctx := t.Context()
			if c := f.plan(t); c.Plan != "free" || c.Subscribed || c.Limits.Bots != 1 {
				t.Fatalf("before any event: %+v", c)
			}
			body := f.subscription("subscription.created", "active", f.now)
			r, err := f.svc.Receive(ctx, f.headers("evt-1", body, legacy), body)
			if err != nil || r.Duplicate || r.Workspace != f.ws.Workspace() {
				t.Fatalf("Receive = %+v, %v", r, err)
			}
			if c := f.plan(t); c.Plan != "pro" || !c.Subscribed || c.Limits.Bots != 3 || c.Limits.MessagesPerMonth != 0 {
				t.Fatalf("after subscription.created: %+v", c)
			}
			// A replay of the same webhook-id with a changed body (signed
			// anew) changes nothing.
			revoked := f.subscription("subscription.revoked", "canceled", f.now.Add(time.Minute))
			r, err = f.svc.Receive(ctx, f.headers("evt-1", revoked, legacy), revoked)
			if err != nil || !r.Duplicate {
				t.Fatalf("replay = %+v, %v", r, err)
			}
			if c := f.plan(t); c.Plan != "pro" {
				t.Fatalf("a replayed id changed the plan: %+v", c)
			}
			// canceled at period end keeps the plan; revoked ends it.
			canceled := f.subscription("subscription.canceled", "active", f.now.Add(time.Minute))
			if _, err := f.svc.Receive(ctx, f.headers("evt-2", canceled, legacy), canceled); err != nil {
				t.Fatal(err)
			}
			if c := f.plan(t); c.Plan != "pro" {
				t.Fatalf("after subscription.canceled (period not ended): %+v", c)
			}
			revoked = f.subscription("subscription.revoked", "canceled", f.now.Add(2*time.Minute))
			if _, err := f.svc.Receive(ctx, f.headers("evt-3", revoked, legacy), revoked); err != nil {
				t.Fatal(err)
			}
			if c := f.plan(t); c.Plan != "free" || c.Subscribed || c.Status != "revoked" {
				t.Fatalf("after subscription.revoked: %+v", c)
			}
		})
	}
}

func TestRefusedDeliveriesRecordNothing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := t.Context()
	body := f.subscription("subscription.created", "active", f.now)
	good := f.headers("evt-1", body, false)
	cases := map[string]func() (http.Header, []byte){
		"wrong signature": func() (http.Header, []byte) {
			h := good.Clone()
			h.Set("webhook-signature", "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=")
			return h, body
		},
		"altered body": func() (http.Header, []byte) { return good, append([]byte(nil), append(body, ' ')...) },
		"stale":        func() (http.Header, []byte) { return f.headersAt("evt-1", body, f.now.Add(-6*time.Minute)), body },
		"from the future": func() (http.Header, []byte) {
			return f.headersAt("evt-1", body, f.now.Add(6*time.Minute)), body
		},
		"no signature": func() (http.Header, []byte) {
			h := good.Clone()
			h.Del("webhook-signature")
			return h, body
		},
		"signed with another secret": func() (http.Header, []byte) {
			h := good.Clone()
			sig, _ := stdwebhook.Sign("whsec_"+base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 32))), "evt-1", f.now, body)
			h.Set("webhook-signature", sig)
			return h, body
		},
	}
	for name, mk := range cases {
		h, b := mk()
		_, err := f.svc.Receive(ctx, h, b)
		if !errors.Is(err, billing.ErrRejected) {
			t.Errorf("%s: %v, want ErrRejected", name, err)
		}
	}
	if c := f.plan(t); c.Subscribed {
		t.Fatalf("a refused delivery set the plan: %+v", c)
	}
	// Nothing recorded: the genuine delivery of the same id is still new.
	r, err := f.svc.Receive(ctx, good, body)
	if err != nil || r.Duplicate {
		t.Fatalf("genuine delivery after refusals = %+v, %v", r, err)
	}
}

func (f *fixture) headersAt(id string, body []byte, at time.Time) http.Header {
	saved := f.now
	f.now = at
	h := f.headers(id, body, false)
	f.now = saved
	return h
}

func TestLimits(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := t.Context()
	know := &knowledge.Service{Store: f.store, Now: time.Now}
	bots, err := bot.New(bot.Options{Store: f.store, Knowledge: know, Models: []string{"m"}, Limits: f.svc})
	if err != nil {
		t.Fatal(err)
	}
	name := func(s string) bot.Input { return bot.Input{Name: &s} }
	caller := palisade.Caller{Scope: f.ws, Actor: "test"}
	b1, err := bots.Create(ctx, caller, name("one"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = bots.Create(ctx, caller, name("two"))
	if palisade.ErrorCode(err) != palisade.CodeForbidden || !strings.Contains(err.Error(), "free plan allows 1 bots") {
		t.Fatalf("second bot on the free plan: %v", err)
	}

	conv := &conversation.Service{Store: f.store, Knowledge: know, Now: func() time.Time { return f.now }, Quota: f.svc}
	send := func(ref string) error {
		_, err := conv.Handle(ctx, f.ws, conversation.Inbound{BotID: b1.ID, Channel: "api", UserID: "u1", Text: "hello", InboundRef: ref})
		return err
	}
	for i := range 2 {
		if err := send("r" + strconv.Itoa(i)); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if err := send("r2"); palisade.ErrorCode(err) != palisade.CodeRateLimited {
		t.Fatalf("third message on the free plan: %v", err)
	}
	// A retried delivery already answered is not a new message.
	if err := send("r1"); err != nil {
		t.Fatalf("a retried delivery was refused: %v", err)
	}
	// Next month the count starts again.
	f.now = time.Date(2027, 1, 1, 0, 0, 1, 0, time.UTC)
	if err := send("r3"); err != nil {
		t.Fatalf("first message of the next month: %v", err)
	}

	// Subscribing lifts the limits to the plan's.
	body := f.subscription("subscription.active", "active", f.now)
	if _, err := f.svc.Receive(ctx, f.headers("evt-9", body, false), body); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := send("p" + strconv.Itoa(i)); err != nil {
			t.Fatalf("message %d on the pro plan: %v", i, err)
		}
	}
	if _, err := bots.Create(ctx, caller, name("two")); err != nil {
		t.Fatalf("second bot on the pro plan: %v", err)
	}
}

// Without billing there is no service, and nothing is limited.
func TestNoBillingNoLimits(t *testing.T) {
	t.Parallel()
	var none *billing.Service
	ctx := context.Background()
	scope := palisade.ScopeFor(palisade.NewWorkspaceID())
	if err := none.AllowBot(ctx, scope); err != nil {
		t.Fatal(err)
	}
	if err := none.AllowMessage(ctx, scope); err != nil {
		t.Fatal(err)
	}
	if c, err := none.Current(ctx, scope); err != nil || c.Plan != "" || c.Limits != (billing.Limits{}) {
		t.Fatalf("Current = %+v, %v", c, err)
	}
	f := setup(t)
	know := &knowledge.Service{Store: f.store, Now: time.Now}
	bots, err := bot.New(bot.Options{Store: f.store, Knowledge: know, Models: []string{"m"}, Limits: none})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		n := "b" + strconv.Itoa(i)
		if _, err := bots.Create(ctx, palisade.Caller{Scope: f.ws, Actor: "t"}, bot.Input{Name: &n}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheckoutURL(t *testing.T) {
	t.Parallel()
	f := setup(t)
	u, err := f.svc.CheckoutURL(f.ws)
	if err != nil {
		t.Fatal(err)
	}
	p, err := url.Parse(u)
	if err != nil || p.Host != "buy.polar.sh" || p.Query().Get("metadata[workspace_id]") != string(f.ws.Workspace()) || p.Query().Get("x") != "1" {
		t.Fatalf("CheckoutURL = %s", u)
	}
}

func TestParsePlans(t *testing.T) {
	t.Parallel()
	if _, err := billing.ParsePlans([]byte(`{"products": {"p1": {"name": "team", "bots": 5, "messages_per_month": 1000}}}`)); err != nil {
		t.Fatalf("JSON plans file: %v", err)
	}
	for name, bad := range map[string]string{
		"no products":    `default: {name: free}`,
		"negative":       `products: {p: {name: x, bots: -1}}`,
		"unknown field":  `products: {p: {name: x, seats: 3}}`,
		"no name":        `products: {p: {bots: 3}}`,
		"not a document": `[`,
	} {
		if _, err := billing.ParsePlans([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
