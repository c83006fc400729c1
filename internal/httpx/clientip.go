package httpx

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds the X-Forwarded-For walk; a real chain of proxies
// is a handful of hops, and a longer header is a client's invention.
const maxForwardedHops = 32

// TrustedProxies decides which peers may speak for the client through
// X-Forwarded-For and X-Forwarded-Proto (SPEC.md R4). A nil *TrustedProxies
// trusts nobody: the TCP peer is always the client.
type TrustedProxies struct {
	prefixes []netip.Prefix
}

// NewTrustedProxies parses CIDRs ("10.0.0.0/8", "fd00::/8") or single
// addresses ("192.0.2.7", taken as /32 or /128).
func NewTrustedProxies(cidrs []string) (*TrustedProxies, error) {
	p := &TrustedProxies{}
	for _, c := range cidrs {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if strings.Contains(c, "/") {
			pfx, err := netip.ParsePrefix(c)
			if err != nil {
				return nil, fmt.Errorf("parsing trusted proxy range %q: %w", c, err)
			}
			if pfx.Addr().Is4In6() {
				return nil, fmt.Errorf("parsing trusted proxy range %q: write IPv4 ranges in IPv4 form", c)
			}
			p.prefixes = append(p.prefixes, pfx.Masked())
			continue
		}
		a, err := netip.ParseAddr(c)
		if err != nil {
			return nil, fmt.Errorf("parsing trusted proxy address %q: %w", c, err)
		}
		a = a.Unmap()
		p.prefixes = append(p.prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	return p, nil
}

// Trusted reports whether a is inside a trusted range.
func (p *TrustedProxies) Trusted(a netip.Addr) bool {
	if p == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, pfx := range p.prefixes {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

// PeerTrusted reports whether the TCP peer of r is a trusted proxy.
func (p *TrustedProxies) PeerTrusted(r *http.Request) bool {
	return p != nil && len(p.prefixes) > 0 && p.Trusted(peerAddr(r))
}

// ClientIP returns the address of the client. X-Forwarded-For is read only
// when the TCP peer is trusted, walking from the right (the entry our own
// proxy appended) and skipping trusted hops; the first untrusted hop is the
// client. A malformed entry stops the walk at the hop that reported it,
// since nothing to its left can be believed.
func (p *TrustedProxies) ClientIP(r *http.Request) netip.Addr {
	peer := peerAddr(r)
	if !p.PeerTrusted(r) {
		return peer
	}
	hops := forwardedFor(r.Header.Values("X-Forwarded-For"))
	client := peer
	for i := len(hops) - 1; i >= 0 && len(hops)-i <= maxForwardedHops; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			return client
		}
		client = a
		if !p.Trusted(a) {
			return a
		}
	}
	return client
}

// ForwardedTLS reports whether a trusted proxy says the client connected
// over TLS (X-Forwarded-Proto: https, the value its own hop appended).
func (p *TrustedProxies) ForwardedTLS(r *http.Request) bool {
	if !p.PeerTrusted(r) {
		return false
	}
	vals := r.Header.Values("X-Forwarded-Proto")
	if len(vals) == 0 {
		return false
	}
	last := vals[len(vals)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	return strings.EqualFold(strings.TrimSpace(last), "https")
}

func peerAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func forwardedFor(values []string) []string {
	var hops []string
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			hops = append(hops, strings.TrimSpace(part))
		}
	}
	return hops
}

// parseHop accepts an address, optionally with a port or in brackets, as
// some proxies write them.
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Zone() == "" {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}
