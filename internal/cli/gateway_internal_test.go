package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/palisadehq/palisade/internal/config"
	"github.com/palisadehq/palisade/internal/gateway"
	"github.com/palisadehq/palisade/internal/gatewayhttp"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/secret"
	"github.com/palisadehq/palisade/internal/servicetest"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/sqlite"
)

// TestGatewayHandlersShareNonces: two gateway processes as the wiring
// builds them, over one database, or one database and one Redis, refuse a
// call replayed from one to the other.
func TestGatewayHandlersShareNonces(t *testing.T) {
	t.Parallel()
	for name, withRedis := range map[string]bool{"database": false, "redis": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "p.db"), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			var rdb *redis.Client
			if withRedis {
				rdb, _ = servicetest.Redis(t)
			}
			tokens, err := gateway.NewTokens([]byte("0123456789abcdef0123456789abcdef"))
			if err != nil {
				t.Fatal(err)
			}
			ws, err := s.CreateWorkspace(t.Context(), store.CreateWorkspaceParams{Name: "A", Now: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			id := palisade.NewBotID()
			salt, hash := tokens.Issue(id)
			if _, err := s.CreateBot(t.Context(), palisade.ScopeFor(ws.ID), palisade.Bot{ID: id, Name: "B", Model: "gpt-4o-mini",
				GatewayTokenHash: hash, GatewayTokenSalt: salt, CreatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			cfg := config.Config{GatewayKeyID: "k1", GatewaySigningKey: secret.New("gateway-signing-key-0123456789abcdef")}
			gw := gateway.New(gateway.Options{Store: s})
			var servers []*httptest.Server
			for range 2 {
				h, err := gatewayHandler(cfg, gw, s, rdb, time.Now)
				if err != nil {
					t.Fatal(err)
				}
				srv := httptest.NewServer(h)
				t.Cleanup(srv.Close)
				servers = append(servers, srv)
			}
			var sent *http.Request
			var body []byte
			rec := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
				sent = r.Clone(context.Background())
				var err error
				if body, err = io.ReadAll(r.Body); err != nil {
					return nil, err
				}
				return nil, errors.New("captured")
			})}
			key := signingKeys(cfg)[0]
			_, _ = gatewayhttp.NewClient(servers[0].URL, key, rec, time.Now).Complete(t.Context(),
				gateway.Call{BotID: id, Token: tokens.Token(id, salt), Message: "hi"})
			status := func(srv *httptest.Server) int {
				r := sent.Clone(context.Background())
				r.Body = io.NopCloser(bytes.NewReader(body))
				r.URL.Host = srv.Listener.Addr().String()
				r.Host = r.URL.Host
				resp, err := srv.Client().Transport.RoundTrip(r)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			// The first delivery passes the signature and the token (and is
			// refused by the gateway, which has no provider for the bot's
			// model); the replay to the other process is refused for its
			// nonce.
			first, replay := status(servers[0]), status(servers[1])
			if first != http.StatusForbidden || replay != http.StatusUnauthorized {
				t.Fatalf("first %d, replay %d", first, replay)
			}
			if fresh, err := s.ClaimGatewayNonce(t.Context(), sent.Header.Get("X-Palisade-Nonce"), time.Now(), time.Now().Add(time.Minute)); err != nil || fresh != withRedis {
				t.Fatalf("the nonce in the database: fresh %v, %v; want it there only without Redis", fresh, err)
			}
		})
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
