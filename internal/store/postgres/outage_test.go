package postgres_test

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/store"
	"github.com/palisadehq/palisade/internal/store/postgres"
)

// cutProxy forwards loopback connections to the database until cut, when
// it closes its listener and every connection, as a database that went
// down does; restore listens again on the same address.
type cutProxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func (p *cutProxy) listen() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestDatabaseOutageIsUnavailable: while the database cannot be reached,
// store calls fail with the unavailable code (answered 503, which clients
// and platforms retry) and a message that does not carry the cause; when
// it is back, the same store works again without being reopened.
func TestDatabaseOutageIsUnavailable(t *testing.T) {
	t.Parallel()
	_, appURL, _ := setup(t)
	u, err := url.Parse(appURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{t: t, addr: "127.0.0.1:0", target: u.Host}
	p.listen()
	t.Cleanup(p.cut)
	u.Host = p.addr
	s, err := postgres.Open(t.Context(), u.String(), store.Options{}, postgres.OpenOptions{ScopeKey: testScopeKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	scope := palisade.ScopeFor("ws_aaaaaaaaaaaaaaaaaaaaaaaaaa")
	if _, err := s.ListBots(t.Context(), scope); err != nil {
		t.Fatalf("before the outage: %v", err)
	}

	p.cut()
	for range 3 { // a broken pooled connection, then no connection at all
		_, err := s.ListBots(t.Context(), scope)
		if code := palisade.ErrorCode(err); code != palisade.CodeUnavailable {
			t.Fatalf("during the outage: code %q (%v), want %q", code, err, palisade.CodeUnavailable)
		}
		if msg := palisade.ErrorMessage(err); msg != "the database is unavailable; try again shortly" {
			t.Fatalf("during the outage the client reads %q", msg)
		}
	}

	p.listen()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.ListBots(t.Context(), scope)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store did not recover after the database came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A query that fails on a database that is up stays what it is.
	if _, err := s.GetBot(t.Context(), scope, "bot_aaaaaaaaaaaaaaaaaaaaaaaaaa"); palisade.ErrorCode(err) == palisade.CodeUnavailable {
		t.Fatalf("a missing bot reads as an outage: %v", err)
	}
}
