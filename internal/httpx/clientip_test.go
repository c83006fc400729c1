package httpx

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	proxies, err := NewTrustedProxies([]string{"10.0.0.0/8", "192.0.2.7", " fd00::/8 ", ""})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"no proxy", "203.0.113.9:5555", nil, "203.0.113.9"},
		{"untrusted peer's header ignored", "203.0.113.9:5555", []string{"1.1.1.1"}, "203.0.113.9"},
		{"trusted peer, one hop", "10.1.1.1:80", []string{"198.51.100.4"}, "198.51.100.4"},
		{"client-forged left entries skipped", "10.1.1.1:80", []string{"6.6.6.6, 198.51.100.4"}, "198.51.100.4"},
		{"trusted hops skipped from the right", "10.1.1.1:80", []string{"198.51.100.4, 10.2.2.2, 192.0.2.7"}, "198.51.100.4"},
		{"several header lines", "10.1.1.1:80", []string{"6.6.6.6", "198.51.100.4, 10.9.9.9"}, "198.51.100.4"},
		{"single address trust", "192.0.2.7:80", []string{"198.51.100.4"}, "198.51.100.4"},
		{"neighbour of single address not trusted", "192.0.2.8:80", []string{"198.51.100.4"}, "192.0.2.8"},
		{"garbage stops at the reporting hop", "10.1.1.1:80", []string{"198.51.100.4, not-an-ip"}, "10.1.1.1"},
		{"garbage further left", "10.1.1.1:80", []string{"junk, 198.51.100.4"}, "198.51.100.4"},
		{"all trusted", "10.1.1.1:80", []string{"10.3.3.3, 10.2.2.2"}, "10.3.3.3"},
		{"empty header", "10.1.1.1:80", []string{""}, "10.1.1.1"},
		{"with port", "10.1.1.1:80", []string{"198.51.100.4:1234"}, "198.51.100.4"},
		{"ipv6", "[fd00::1]:80", []string{"2001:db8::5"}, "2001:db8::5"},
		{"bracketed ipv6", "[fd00::1]:80", []string{"[2001:db8::5]"}, "2001:db8::5"},
		{"bracketed ipv6 with port", "[fd00::1]:80", []string{"[2001:db8::5]:443"}, "2001:db8::5"},
		{"mapped ipv4 peer", "[::ffff:10.1.1.1]:80", []string{"198.51.100.4"}, "198.51.100.4"},
		{"mapped ipv4 hop", "10.1.1.1:80", []string{"::ffff:198.51.100.4"}, "198.51.100.4"},
		{"zone refused", "10.1.1.1:80", []string{"fe80::1%eth0"}, "10.1.1.1"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := proxies.ClientIP(r); got != netip.MustParseAddr(tt.want) {
			t.Errorf("%s: ClientIP = %v, want %s", tt.name, got, tt.want)
		}
	}
	var none *TrustedProxies
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.1.1.1:80"
	r.Header.Set("X-Forwarded-For", "1.2.3.4")
	if got := none.ClientIP(r); got != netip.MustParseAddr("10.1.1.1") {
		t.Errorf("nil proxies trusted a header: %v", got)
	}
	empty, _ := NewTrustedProxies(nil)
	if got := empty.ClientIP(r); got != netip.MustParseAddr("10.1.1.1") {
		t.Errorf("empty proxies trusted a header: %v", got)
	}
}

func TestNewTrustedProxiesErrors(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"10.0.0.0/33", "not-a-cidr", "10.0.0.1/8/8", "::ffff:10.0.0.0/104", "1.2.3.4.5"} {
		if _, err := NewTrustedProxies([]string{bad}); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// FuzzClientIP: whatever the header says, an untrusted peer is the client,
// and the answer is always a valid address.
func FuzzClientIP(f *testing.F) {
	proxies, _ := NewTrustedProxies([]string{"10.0.0.0/8"})
	f.Fuzz(func(t *testing.T, xff string, trustedPeer bool) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "203.0.113.1:1"
		if trustedPeer {
			r.RemoteAddr = "10.0.0.1:1"
		}
		r.Header.Set("X-Forwarded-For", xff)
		got := proxies.ClientIP(r)
		if !got.IsValid() {
			t.Fatalf("invalid client IP for %q", xff)
		}
		if !trustedPeer && got != netip.MustParseAddr("203.0.113.1") {
			t.Fatalf("untrusted peer's header believed: %q -> %v", xff, got)
		}
	})
}
