package config

import (
	"strings"
	"testing"
)

// TestDatabaseNeedsVerifiedTLSOffThisMachine: a PostgreSQL URL to another
// machine is refused unless it verifies the server's certificate and name;
// loopback and Unix sockets need nothing; the unsafe switch lets it pass.
func TestDatabaseNeedsVerifiedTLSOffThisMachine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url    string
		unsafe bool
		ok     bool
	}{
		{"postgres://app@127.0.0.1:5432/palisade?sslmode=disable", false, true},
		{"postgres://app@localhost/palisade", false, true},
		{"postgres://app@[::1]:5432/palisade", false, true},
		{"postgres:///palisade?host=/var/run/postgresql", false, true},
		{"postgres://app@/palisade", false, true},
		{"postgres://app@db.internal/palisade?sslmode=verify-full", false, true},
		{"postgres://app@db.internal/palisade?sslmode=verify-full&sslrootcert=/etc/ca.pem", false, true},
		{"postgres://app@db.internal/palisade", false, false},
		{"postgres://app@db.internal/palisade?sslmode=require", false, false},
		{"postgres://app@db.internal/palisade?sslmode=verify-ca", false, false},
		{"postgres://app@10.0.0.5:5432/palisade?sslmode=disable", false, false},
		{"postgres://app@127.0.0.1,db2.internal/palisade?sslmode=prefer", false, false},
		{"postgres:///palisade?host=db.internal", false, false},
		{"postgres://app@db.internal/palisade?sslmode=disable", true, true},
	} {
		err := checkDatabaseTransport(tc.url, tc.unsafe)
		if (err == nil) != tc.ok {
			t.Errorf("%s (unsafe=%v): %v, want ok=%v", tc.url, tc.unsafe, err, tc.ok)
		}
		if err != nil && (!strings.Contains(err.Error(), "verify-full") || !strings.Contains(err.Error(), "--unsafe-database-without-verified-tls")) {
			t.Errorf("%s: the message does not say what to do: %v", tc.url, err)
		}
	}
}

// TestRedisNeedsTLSOffThisMachine: plain redis:// only to this machine,
// rediss:// anywhere as long as certificates are checked.
func TestRedisNeedsTLSOffThisMachine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url    string
		unsafe bool
		ok     bool
	}{
		{"redis://127.0.0.1:6379/0", false, true},
		{"redis://localhost:6379", false, true},
		{"unix:///run/redis.sock", false, true},
		{"rediss://cache.internal:6380/0", false, true},
		{"redis://cache.internal:6379/0", false, false},
		{"redis://:pw@10.1.2.3:6379", false, false},
		{"rediss://cache.internal:6380/0?skip_verify=true", false, false},
		{"redis://cache.internal:6379/0", true, true},
	} {
		c, err := load(t, []string{"--redis-url", tc.url, "--unsafe-redis-without-tls=" + map[bool]string{true: "true", false: "false"}[tc.unsafe]}, nil)
		if (err == nil) != tc.ok {
			t.Errorf("%s (unsafe=%v): %v, want ok=%v", tc.url, tc.unsafe, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("the error shows the password: %v", err)
		}
		_ = c
	}
}

// TestDatabaseTransportThroughTheLoader: the refusal reaches every command
// that opens the data, as one of the reported settings.
func TestDatabaseTransportThroughTheLoader(t *testing.T) {
	t.Parallel()
	_, err := load(t, []string{"--database-url", "postgres://app:hunter2@db.example.com/palisade"}, nil)
	if err == nil || !strings.Contains(err.Error(), "db.example.com") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("remote database without TLS: %v", err)
	}
	if _, err := load(t, []string{"--database-url", "postgres://app:hunter2@db.example.com/palisade", "--unsafe-database-without-verified-tls"}, nil); err != nil {
		t.Fatalf("with the unsafe switch: %v", err)
	}
}

func TestSecurityContacts(t *testing.T) {
	t.Parallel()
	c, err := load(t, []string{"--security-contact", "mailto:security@example.com, https://example.com/security"}, nil)
	if err != nil || len(c.SecurityContacts) != 2 || c.SecurityContacts[1] != "https://example.com/security" {
		t.Fatalf("%+v %v", c.SecurityContacts, err)
	}
	for _, bad := range []string{"security@example.com", "http://example.com/sec", "mailto:", "javascript:alert(1)", "https://user@example.com/"} {
		if _, err := load(t, []string{"--security-contact", bad}, nil); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
