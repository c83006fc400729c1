package egress

import (
	"net"
	"net/netip"
	"testing"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	p := newAddrPolicy(false, false)
	cases := map[string]string{
		// Public.
		"8.8.8.8":              "",
		"1.1.1.1":              "",
		"2001:4860:4860::8888": "",
		"2606:4700::1111":      "",
		// IPv4 special ranges.
		"0.0.0.0":         "unspecified",
		"0.1.2.3":         "unspecified",
		"10.0.0.1":        "private",
		"172.16.0.1":      "private",
		"172.31.255.255":  "private",
		"172.32.0.1":      "",
		"192.168.1.1":     "private",
		"100.64.0.1":      "cgnat",
		"100.127.255.255": "cgnat",
		"100.128.0.1":     "",
		"127.0.0.1":       "loopback",
		"127.255.255.254": "loopback",
		"169.254.1.1":     "link_local",
		"169.254.169.254": "metadata",
		"169.254.170.2":   "metadata",
		"100.100.100.200": "metadata",
		"168.63.129.16":   "metadata",
		"192.0.0.192":     "metadata",
		"192.0.0.8":       "reserved",
		"192.0.2.1":       "documentation",
		"198.18.0.1":      "reserved",
		"224.0.0.1":       "multicast",
		"239.255.255.250": "multicast",
		"240.0.0.1":       "reserved",
		"255.255.255.255": "broadcast",
		// IPv6 special ranges.
		"::":                     "unspecified",
		"::1":                    "loopback",
		"::ffff:127.0.0.1":       "ipv4_mapped",
		"::ffff:8.8.8.8":         "ipv4_mapped",
		"::ffff:169.254.169.254": "metadata",
		"::127.0.0.1":            "ipv4_compatible",
		"::8.8.8.8":              "ipv4_compatible",
		"64:ff9b::a00:1":         "nat64",
		"64:ff9b::8.8.8.8":       "nat64",
		"64:ff9b:1::1":           "nat64",
		"2002:7f00:1::":          "6to4",
		"2001::1":                "teredo",
		"2001:0:4136:e378::1":    "teredo",
		"2001:db8::1":            "documentation",
		"fc00::1":                "unique_local",
		"fd00:ec2::254":          "metadata",
		"fd12:3456::1":           "unique_local",
		"fe80::1":                "link_local",
		"fec0::1":                "reserved",
		"ff02::1":                "multicast",
		"100::1":                 "reserved",
		"4000::1":                "reserved", // outside 2000::/3
		"fe80::1%eth0":           "zoned",
	}
	for in, want := range cases {
		if got := p.classify(netip.MustParseAddr(in)); got != want {
			t.Errorf("classify(%s) = %q, want %q", in, got, want)
		}
	}
	if got := p.classify(netip.Addr{}); got != "invalid" {
		t.Errorf("zero address: %q", got)
	}
}

func TestAddrPolicySwitches(t *testing.T) {
	t.Parallel()
	cases := []struct {
		addr                    string
		loopback, private, want bool
	}{
		{"127.0.0.1", false, false, false},
		{"127.0.0.1", true, false, true},
		{"::1", true, false, true},
		{"10.0.0.1", true, false, false},
		{"::ffff:127.0.0.1", true, false, false},
		{"10.0.0.1", false, true, true},
		{"192.168.1.10", false, true, true},
		{"fd12::1", false, true, true},
		{"100.64.1.1", false, true, true},
		{"64:ff9b::a00:1", false, true, true},
		// Never, whatever the switches say.
		{"169.254.169.254", true, true, false},
		{"fd00:ec2::254", true, true, false},
		{"::ffff:169.254.169.254", true, true, false},
		{"0.0.0.0", true, true, false},
		{"::", true, true, false},
		{"224.0.0.1", true, true, false},
		{"255.255.255.255", true, true, false},
		{"fe80::1%eth0", true, true, false},
		{"8.8.8.8", false, false, true},
	}
	for _, tc := range cases {
		p := newAddrPolicy(tc.loopback, tc.private)
		got := p.check(netip.MustParseAddr(tc.addr)) == ""
		if got != tc.want {
			t.Errorf("%s loopback=%v private=%v: allowed=%v, want %v", tc.addr, tc.loopback, tc.private, got, tc.want)
		}
	}
}

func TestAddrFromIP(t *testing.T) {
	t.Parallel()
	// net.IP stores IPv4 in 16 bytes: it must come out as plain IPv4, the
	// address actually dialed.
	a, ok := addrFromIP(net.ParseIP("127.0.0.1"), "")
	if !ok || !a.Is4() || a.String() != "127.0.0.1" {
		t.Fatalf("got %v %v", a, ok)
	}
	a, ok = addrFromIP(net.ParseIP("::ffff:10.0.0.1"), "")
	if !ok || a.String() != "10.0.0.1" {
		t.Fatalf("got %v %v", a, ok)
	}
	a, ok = addrFromIP(net.ParseIP("fe80::1"), "eth0")
	if !ok || a.Zone() != "eth0" {
		t.Fatalf("got %v %v", a, ok)
	}
	if _, ok := addrFromIP(net.IP{1, 2, 3}, ""); ok {
		t.Fatal("3-byte IP accepted")
	}
}
