package invalidate_test

import (
	"bufio"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/palisadehq/palisade/internal/invalidate"
	"github.com/palisadehq/palisade/internal/servicetest"
)

// backend is two processes' view of one bus, and a way to cut the second
// one's subscription from outside.
type backend struct {
	a, b invalidate.Bus
	drop func(t *testing.T)
}

func backends(t *testing.T) map[string]func(t *testing.T) backend {
	return map[string]func(t *testing.T) backend{
		"memory": func(t *testing.T) backend {
			m := invalidate.NewMemory()
			return backend{a: m, b: m}
		},
		"redis": func(t *testing.T) backend {
			rdb, prefix := servicetest.Redis(t)
			name := strings.ReplaceAll(servicetest.RandomName("palisadetestsub"), ":", "")
			o := *rdb.Options()
			o.ClientName = name
			other := redis.NewClient(&o)
			t.Cleanup(func() { _ = other.Close() })
			ch := prefix + "invalidate"
			return backend{a: invalidate.NewRedis(rdb, ch), b: invalidate.NewRedis(other, ch), drop: func(t *testing.T) { killRedisClient(t, rdb, name) }}
		},
		"fanout": func(t *testing.T) backend {
			rdb, prefix := servicetest.Redis(t)
			name := strings.ReplaceAll(servicetest.RandomName("palisadetestsub"), ":", "")
			o := *rdb.Options()
			o.ClientName = name
			other := redis.NewClient(&o)
			t.Cleanup(func() { _ = other.Close() })
			url := servicetest.Postgres(t)
			pool, err := pgxpool.New(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			ch := prefix + "invalidate"
			// A publishes on PostgreSQL only (a command beside the server);
			// B listens on Redis and PostgreSQL, and cutting its Redis
			// subscription alone must take its cache down.
			return backend{a: invalidate.NewPostgres(pool, "palisade_invalidate"),
				b:    invalidate.Fanout{invalidate.NewRedis(other, ch), invalidate.NewPostgres(pool, "palisade_invalidate")},
				drop: func(t *testing.T) { killRedisClient(t, rdb, name) }}
		},
		"postgres": func(t *testing.T) backend {
			url := servicetest.Postgres(t)
			pa, err := pgxpool.New(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pa.Close)
			pb, err := pgxpool.New(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pb.Close)
			return backend{a: invalidate.NewPostgres(pa, "palisade_invalidate"), b: invalidate.NewPostgres(pb, "palisade_invalidate"), drop: func(t *testing.T) {
				var n int
				if err := pa.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
					WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					t.Fatal("no listening connection to cut")
				}
			}}
		},
	}
}

// watch runs a hub for bus with one cache, and returns the events it hears.
func watch(t *testing.T, bus invalidate.Bus) (*invalidate.Hub, *invalidate.Cache[string], chan invalidate.Event) {
	events := make(chan invalidate.Event, 64)
	hub := invalidate.NewHub(bus, func(e invalidate.Event) { events <- e })
	c := invalidate.NewCache[string](invalidate.CacheOptions{})
	hub.Add(c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { hub.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return hub, c, events
}

func await(t *testing.T, events chan invalidate.Event, want func(invalidate.Event) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-events:
			if want(e) {
				return
			}
		case <-deadline:
			t.Fatal("the awaited notice never came")
		}
	}
}

func isUp(e invalidate.Event) bool   { return e.Scope == "" && e.Up }
func isDown(e invalidate.Event) bool { return e.Scope == "" && !e.Up }

// TestBusConformance: a change published by one process reaches the cache
// of another, which drops that workspace's entries and keeps the others';
// a lost subscription flushes and bypasses the cache until it is back.
func TestBusConformance(t *testing.T) {
	for name, mk := range backends(t) {
		t.Run(name, func(t *testing.T) {
			be := mk(t)
			hubA, _, eventsA := watch(t, be.a)
			_, cache, events := watch(t, be.b)
			await(t, eventsA, isUp)
			await(t, events, isUp)

			tk := cache.Begin()
			cache.Put(tk, "key1", "ws_one", "principal one")
			cache.Put(tk, "key2", "ws_two", "principal two")
			if _, ok := cache.Get("key1"); !ok {
				t.Fatal("a live cache did not keep its entry")
			}
			if err := hubA.Invalidate(t.Context(), "ws_one"); err != nil {
				t.Fatal(err)
			}
			await(t, events, func(e invalidate.Event) bool { return e.Scope == "ws_one" })
			if _, ok := cache.Get("key1"); ok {
				t.Fatal("the other process still serves an invalidated entry")
			}
			if _, ok := cache.Get("key2"); !ok {
				t.Fatal("a notice for one workspace dropped another's entry")
			}

			if be.drop == nil {
				return
			}
			be.drop(t)
			await(t, events, isDown)
			if _, ok := cache.Get("key2"); ok {
				t.Fatal("the cache served an entry after losing its subscription")
			}
			cache.Put(cache.Begin(), "key3", "ws_two", "principal three")
			if cache.Len() != 0 {
				t.Fatal("the cache kept an entry while its subscription was down")
			}
			await(t, events, isUp)
			cache.Put(cache.Begin(), "key3", "ws_two", "principal three")
			if _, ok := cache.Get("key3"); !ok {
				t.Fatal("the cache did not resume once subscribed again")
			}
			// Notices flow again after the resubscription.
			if err := hubA.Invalidate(t.Context(), invalidate.All); err != nil {
				t.Fatal(err)
			}
			await(t, events, func(e invalidate.Event) bool { return e.Scope == invalidate.All })
			if cache.Len() != 0 {
				t.Fatal("a notice for every workspace left an entry")
			}
		})
	}
}

// killRedisClient cuts the connections of the client named name.
func killRedisClient(t *testing.T, rdb *redis.Client, name string) {
	t.Helper()
	list, err := rdb.ClientList(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	sc := bufio.NewScanner(strings.NewReader(list))
	for sc.Scan() {
		var id string
		match := false
		for f := range strings.FieldsSeq(sc.Text()) {
			if v, ok := strings.CutPrefix(f, "id="); ok {
				id = v
			}
			if f == "name="+name {
				match = true
			}
		}
		if match {
			if err := rdb.Do(t.Context(), "CLIENT", "KILL", "ID", id).Err(); err != nil {
				t.Fatal(err)
			}
			killed++
		}
	}
	if killed == 0 {
		t.Fatal("no subscriber connection to cut")
	}
}
