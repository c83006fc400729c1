package egress

import (
	"net"
	"net/netip"
)

// Address categories, reported in Denial.Detail for private_address.
const (
	catLoopback       = "loopback"
	catPrivate        = "private"
	catLinkLocal      = "link_local"
	catMetadata       = "metadata"
	catCGNAT          = "cgnat"
	catUnspecified    = "unspecified"
	catMulticast      = "multicast"
	catBroadcast      = "broadcast"
	catReserved       = "reserved"
	catDocumentation  = "documentation"
	catUniqueLocal    = "unique_local"
	catIPv4Mapped     = "ipv4_mapped"
	catIPv4Compatible = "ipv4_compatible"
	catNAT64          = "nat64"
	cat6to4           = "6to4"
	catTeredo         = "teredo"
	catZone           = "zoned"
	catInvalid        = "invalid"
)

type prefixCategory struct {
	prefix   netip.Prefix
	category string
}

// The tables are ordered: the first matching prefix names the category, so
// narrow prefixes come before the wide ones that contain them. They are
// rebuilt per classifier rather than held in package variables so that no
// package state exists at all.
func ipv4Table() []prefixCategory {
	return []prefixCategory{
		{netip.MustParsePrefix("255.255.255.255/32"), catBroadcast},
		{netip.MustParsePrefix("0.0.0.0/8"), catUnspecified}, // "this network"
		{netip.MustParsePrefix("10.0.0.0/8"), catPrivate},
		{netip.MustParsePrefix("100.64.0.0/10"), catCGNAT},
		{netip.MustParsePrefix("127.0.0.0/8"), catLoopback},
		{netip.MustParsePrefix("169.254.0.0/16"), catLinkLocal},
		{netip.MustParsePrefix("172.16.0.0/12"), catPrivate},
		{netip.MustParsePrefix("192.0.0.0/24"), catReserved}, // IETF protocol assignments
		{netip.MustParsePrefix("192.0.2.0/24"), catDocumentation},
		{netip.MustParsePrefix("192.88.99.0/24"), catReserved}, // 6to4 relay anycast
		{netip.MustParsePrefix("192.168.0.0/16"), catPrivate},
		{netip.MustParsePrefix("198.18.0.0/15"), catReserved}, // benchmarking
		{netip.MustParsePrefix("198.51.100.0/24"), catDocumentation},
		{netip.MustParsePrefix("203.0.113.0/24"), catDocumentation},
		{netip.MustParsePrefix("224.0.0.0/4"), catMulticast},
		{netip.MustParsePrefix("240.0.0.0/4"), catReserved},
	}
}

func ipv6Table() []prefixCategory {
	return []prefixCategory{
		{netip.MustParsePrefix("::/128"), catUnspecified},
		{netip.MustParsePrefix("::1/128"), catLoopback},
		{netip.MustParsePrefix("::ffff:0:0/96"), catIPv4Mapped},
		{netip.MustParsePrefix("::/96"), catIPv4Compatible},
		{netip.MustParsePrefix("64:ff9b::/96"), catNAT64},
		{netip.MustParsePrefix("64:ff9b:1::/48"), catNAT64},
		{netip.MustParsePrefix("100::/64"), catReserved}, // discard-only
		{netip.MustParsePrefix("2001::/32"), catTeredo},
		{netip.MustParsePrefix("2001:10::/28"), catReserved}, // ORCHID
		{netip.MustParsePrefix("2001:20::/28"), catReserved}, // ORCHIDv2
		{netip.MustParsePrefix("2001:db8::/32"), catDocumentation},
		{netip.MustParsePrefix("2002::/16"), cat6to4},
		{netip.MustParsePrefix("3fff::/20"), catDocumentation},
		{netip.MustParsePrefix("fc00::/7"), catUniqueLocal},
		{netip.MustParsePrefix("fe80::/10"), catLinkLocal},
		{netip.MustParsePrefix("fec0::/10"), catReserved}, // deprecated site-local
		{netip.MustParsePrefix("ff00::/8"), catMulticast},
	}
}

// metadataAddrs are cloud instance-metadata and host-agent endpoints. They
// are never a legitimate destination, so no rule flag unlocks them. The
// Azure wire server is public address space and would otherwise pass.
func metadataAddrs() []netip.Addr {
	return []netip.Addr{
		netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack, DigitalOcean
		netip.MustParseAddr("169.254.170.2"),   // AWS ECS task metadata
		netip.MustParseAddr("fd00:ec2::254"),   // AWS IPv6 metadata
		netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
		netip.MustParseAddr("192.0.0.192"),     // Oracle Cloud
		netip.MustParseAddr("168.63.129.16"),   // Azure wire server
	}
}

// addrPolicy decides which addresses may be dialed. It is immutable after
// construction and safe for concurrent use.
type addrPolicy struct {
	v4, v6   []prefixCategory
	global6  netip.Prefix
	metadata []netip.Addr
	// allowLoopback lets loopback through (Options.UnsafeAllowLoopback).
	allowLoopback bool
	// allowPrivate lifts every refusal except neverAllowed ones and
	// loopback (a rule's unsafe_allow_private_addresses): loopback is the
	// platform's own host, opened only by allowLoopback.
	allowPrivate bool
}

func newAddrPolicy(allowLoopback, allowPrivate bool) *addrPolicy {
	return &addrPolicy{
		v4:            ipv4Table(),
		v6:            ipv6Table(),
		global6:       netip.MustParsePrefix("2000::/3"),
		metadata:      metadataAddrs(),
		allowLoopback: allowLoopback,
		allowPrivate:  allowPrivate,
	}
}

// classify returns the category of a refused-by-default address, or "" for
// a public unicast address.
func (p *addrPolicy) classify(a netip.Addr) string {
	if !a.IsValid() {
		return catInvalid
	}
	if a.Zone() != "" {
		return catZone
	}
	// Unmap so that a mapped literal of a metadata address is still
	// recognised when a rule lifts the check on mapped addresses.
	for _, m := range p.metadata {
		if a.Unmap() == m {
			return catMetadata
		}
	}
	table := p.v6
	if a.Is4() {
		table = p.v4
	}
	for _, pc := range table {
		if pc.prefix.Contains(a) {
			return pc.category
		}
	}
	if a.Is6() && !p.global6.Contains(a) {
		// Only 2000::/3 is allocated for global unicast; the rest is
		// unassigned or special.
		return catReserved
	}
	return ""
}

// neverAllowed lists categories no rule flag unlocks: there is no legitimate
// service at these addresses, and the metadata endpoints are the prize of
// every SSRF.
func neverAllowed(category string) bool {
	switch category {
	case catMetadata, catUnspecified, catMulticast, catBroadcast, catZone, catInvalid:
		return true
	}
	return false
}

// check returns "" when a may be dialed, else the category that refuses it.
func (p *addrPolicy) check(a netip.Addr) string {
	cat := p.classify(a)
	switch {
	case cat == "":
		return ""
	case neverAllowed(cat):
		return cat
	case cat == catLoopback:
		if p.allowLoopback {
			return ""
		}
		return cat
	case p.allowPrivate:
		return ""
	}
	return cat
}

// addrFromIP converts a resolver answer. net.IP cannot tell an A record from
// an IPv4-mapped AAAA record, so both are treated as the IPv4 address they
// carry, which is also the address that would be dialed.
func addrFromIP(ip net.IP, zone string) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}, false
	}
	a = a.Unmap()
	if zone != "" {
		a = a.WithZone(zone)
	}
	return a, true
}
