package servicetest

import (
	"context"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres creates a fresh, randomly named database on the test server and
// returns an admin URL to it (the configured URL's role, which owns it). The
// database is dropped when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		missing(t, "PostgreSQL", EnvPostgres, EnvPostgres+" is empty")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		missing(t, "PostgreSQL", EnvPostgres, "connect failed: "+err.Error())
	}
	defer conn.Close(ctx)
	name := RandomName("palisade_test_")
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("dropping test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			t.Logf("dropping test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parsing %s: %v", EnvPostgres, err)
	}
	u.Path = "/" + name
	return u.String()
}

// PostgresRole returns a fresh random role name, dropped when the test ends
// (after the databases it has privileges in are gone).
func PostgresRole(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	name := RandomName("palisade_app_")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, `DROP ROLE IF EXISTS `+pgx.Identifier{name}.Sanitize())
	})
	return name
}

// WithUser returns rawURL with its user replaced (trust authentication on
// the test server needs no password).
func WithUser(t testing.TB, rawURL, user string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("parsing URL: %v", err)
	}
	u.User = url.User(user)
	return u.String()
}
