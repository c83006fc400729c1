package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Defaults for the zero fields of Options.
const (
	DefaultTimeout               = 5 * time.Minute
	DefaultDialTimeout           = 10 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = 2 * time.Minute
	DefaultMaxResponseBytes      = 16 << 20
	DefaultMaxRedirects          = 5
)

// maxResponseHeaderBytes caps response headers; no API we call sends more
// than a few kilobytes.
const maxResponseHeaderBytes = 256 << 10

// ErrResponseTooLarge is returned (wrapped) when a response body exceeds
// Options.MaxResponseBytes, from Do when the declared length is too large
// and from reading the body otherwise.
var ErrResponseTooLarge = errors.New("egress: response body too large")

// Resolver resolves host names. *net.Resolver satisfies it; tests pass a
// fake that answers with chosen addresses.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Options configures a Client. The zero value is usable: defaults apply to
// zero fields.
type Options struct {
	// Logger receives denials (warn) and allowed requests (debug). Nil
	// discards.
	Logger *slog.Logger
	// OnDeny is called synchronously for every refusal, after it is
	// logged: wire metrics and the audit log here.
	OnDeny func(ctx context.Context, d Denial)
	// Resolver resolves names; nil uses net.DefaultResolver.
	Resolver Resolver
	// Timeout caps a whole exchange, reading the body included
	// (default DefaultTimeout). A request's context can only shorten it.
	Timeout time.Duration
	// DialTimeout caps each connection attempt (default DefaultDialTimeout).
	DialTimeout time.Duration
	// TLSHandshakeTimeout (default DefaultTLSHandshakeTimeout).
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout caps the wait for response headers after the
	// request is written (default DefaultResponseHeaderTimeout).
	ResponseHeaderTimeout time.Duration
	// MaxResponseBytes caps every response body after decompression
	// (default DefaultMaxResponseBytes).
	MaxResponseBytes int64
	// MaxRedirects is how many redirects are followed (default
	// DefaultMaxRedirects); negative refuses every redirect.
	MaxRedirects int
	// RootCAs replaces the system roots, for tests with an https fake.
	RootCAs *x509.CertPool
	// UnsafeAllowLoopback lets loopback addresses be dialed by every rule.
	// It exists for tests that talk to httptest servers; never set it in
	// production.
	UnsafeAllowLoopback bool

	// internalService marks the client ForInternalService builds: the
	// operator named its one address, loopback included.
	internalService bool
}

// Client sends HTTP requests that the policy allows. It is safe for
// concurrent use. There is deliberately no accessor for an *http.Client:
// its errors quote the full URL, and Do rewrites them.
type Client struct {
	opts         Options // as given to New, for ForInternalService
	policy       *Policy
	log          *slog.Logger
	onDeny       func(context.Context, Denial)
	resolver     Resolver
	maxBody      int64
	maxRedirects int
	hc           *http.Client
	// Connections are pooled per address policy, so that a connection
	// dialed under a rule's unsafe flag is never reused by a rule without
	// it.
	strict, private *http.Transport
	// Their dialers, kept so tests can reach the connect-time check.
	strictDial, privateDial *addrDialer
}

// New builds a Client enforcing policy.
func New(policy *Policy, opts Options) (*Client, error) {
	if policy == nil {
		return nil, errors.New("egress: nil policy")
	}
	for name, d := range map[string]time.Duration{
		"Timeout": opts.Timeout, "DialTimeout": opts.DialTimeout,
		"TLSHandshakeTimeout": opts.TLSHandshakeTimeout, "ResponseHeaderTimeout": opts.ResponseHeaderTimeout,
	} {
		if d < 0 {
			return nil, fmt.Errorf("egress: options: %s is negative", name)
		}
	}
	if opts.MaxResponseBytes < 0 {
		return nil, errors.New("egress: options: MaxResponseBytes is negative")
	}
	c := &Client{
		opts:         opts,
		policy:       policy,
		log:          opts.Logger,
		onDeny:       opts.OnDeny,
		resolver:     opts.Resolver,
		maxBody:      orDefault(opts.MaxResponseBytes, DefaultMaxResponseBytes),
		maxRedirects: opts.MaxRedirects,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.resolver == nil {
		c.resolver = net.DefaultResolver
	}
	if c.maxRedirects == 0 {
		c.maxRedirects = DefaultMaxRedirects
	}
	c.strict, c.strictDial = c.newTransport(newAddrPolicy(opts.UnsafeAllowLoopback, false), opts)
	c.private, c.privateDial = c.newTransport(newAddrPolicy(opts.UnsafeAllowLoopback || opts.internalService, true), opts)
	c.hc = &http.Client{
		Transport:     policyTransport{c: c},
		CheckRedirect: c.checkRedirect,
		Timeout:       orDefault(opts.Timeout, DefaultTimeout),
	}
	return c, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (c *Client) newTransport(ap *addrPolicy, opts Options) (*http.Transport, *addrDialer) {
	d := &addrDialer{
		c:  c,
		ap: ap,
		dialer: net.Dialer{
			Timeout:   orDefault(opts.DialTimeout, DefaultDialTimeout),
			KeepAlive: 30 * time.Second,
		},
	}
	d.dialer.ControlContext = d.control
	return &http.Transport{
		// Never a proxy from the environment: it would dial for us.
		Proxy:                  nil,
		DialContext:            d.dialContext,
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: opts.RootCAs},
		TLSHandshakeTimeout:    orDefault(opts.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout),
		ResponseHeaderTimeout:  orDefault(opts.ResponseHeaderTimeout, DefaultResponseHeaderTimeout),
		ExpectContinueTimeout:  time.Second,
		IdleConnTimeout:        90 * time.Second,
		MaxIdleConnsPerHost:    8,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}, d
}

// CloseIdleConnections closes pooled connections.
func (c *Client) CloseIdleConnections() {
	c.strict.CloseIdleConnections()
	c.private.CloseIdleConnections()
}

// Do sends req if the policy allows it and returns the response, whose body
// is capped at MaxResponseBytes. A refusal is a *DenialError (errors.As
// sees through the *url.Error wrapper). Errors never quote the request's
// path or query.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, scrubError(req, err)
	}
	return resp, nil
}

// deny logs a refusal and hands it to OnDeny.
func (c *Client) deny(ctx context.Context, d Denial) {
	c.log.LogAttrs(ctx, slog.LevelWarn, "egress request denied", d.LogAttrs()...)
	if c.onDeny != nil {
		c.onDeny(ctx, d)
	}
}

// requestInfo travels in the request context from RoundTrip to the dialer,
// only to describe a dial-time refusal; no decision is taken from it.
type requestInfo struct {
	rule, method, scheme, path string
}

type requestInfoKey struct{}

// policyTransport is the enforcement point: every request, first or
// redirected, passes here before a connection is sought.
type policyTransport struct {
	c *Client
	// upgrade hands a 101 Switching Protocols answer over as it is: its
	// body is the connection itself, which a cap would make read-only.
	upgrade bool
}

func (pt policyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c := pt.c
	cr, t, d := c.policy.check(req.Method, req.URL, req.Host)
	if d != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		c.deny(req.Context(), *d)
		return nil, &DenialError{Denial: *d}
	}
	info := &requestInfo{rule: cr.rule.Name, method: t.method, scheme: t.scheme, path: t.path}
	out := req.WithContext(context.WithValue(req.Context(), requestInfoKey{}, info))
	tr := c.strict
	if cr.rule.UnsafeAllowPrivateAddresses {
		tr = c.private
	}
	resp, err := tr.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	resp.Request = req
	c.log.LogAttrs(req.Context(), slog.LevelDebug, "egress request",
		slog.String("rule", info.rule), slog.String("method", info.method),
		slog.String("host", t.host), slog.String("path", info.path),
		slog.Int("status", resp.StatusCode))
	if pt.upgrade && resp.StatusCode == http.StatusSwitchingProtocols {
		return resp, nil
	}
	if req.Method != http.MethodHead && resp.ContentLength > c.maxBody {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("egress: response from %s (rule %q) declares %d bytes, over the %d-byte cap: %w",
			t.host, info.rule, resp.ContentLength, c.maxBody, ErrResponseTooLarge)
	}
	resp.Body = &cappedBody{rc: resp.Body, left: c.maxBody, max: c.maxBody, host: t.host, rule: info.rule}
	return resp, nil
}

func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if c.maxRedirects < 0 || len(via) > c.maxRedirects {
		_, t, _ := c.policy.check(req.Method, req.URL, req.Host)
		detail := "too many redirects"
		if c.maxRedirects < 0 {
			detail = "redirects are not followed"
		}
		d := t.denial(ReasonRedirect, detail)
		c.deny(req.Context(), *d)
		return &DenialError{Denial: *d}
	}
	if _, _, d := c.policy.check(req.Method, req.URL, req.Host); d != nil {
		rd := *d
		rd.Reason = ReasonRedirect
		rd.Detail = string(d.Reason)
		if d.Detail != "" {
			rd.Detail += ": " + d.Detail
		}
		c.deny(req.Context(), rd)
		return &DenialError{Denial: rd}
	}
	return nil
}

// addrDialer resolves, checks and dials. The transport hands it
// "host:port" and never resolves anything itself.
type addrDialer struct {
	c      *Client
	ap     *addrPolicy
	dialer net.Dialer
}

func (ad *addrDialer) dialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("egress: dial: %w", err)
	}
	port, ok := parsePort(portStr)
	if !ok {
		return nil, errors.New("egress: dial: malformed port")
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ips, err := ad.c.resolver.LookupIPAddr(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("egress: resolving %s: %w", host, err)
		}
		for _, ip := range ips {
			if a, ok := addrFromIP(ip.IP, ip.Zone); ok {
				addrs = append(addrs, a)
			}
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("egress: resolving %s: no addresses", host)
		}
	}
	// One refused address refuses the name: a public name that also
	// resolves somewhere private is a misconfiguration or an attack, and
	// failing closed is easier to reason about than skipping it.
	for _, a := range addrs {
		if cat := ad.ap.check(a); cat != "" {
			return nil, ad.refuse(ctx, host, port, a, cat)
		}
	}
	var firstErr error
	for _, a := range addrs {
		// Dial the very address that was checked, never the name.
		conn, err := ad.dialer.DialContext(ctx, network, netip.AddrPortFrom(a, uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		var de *DenialError
		if errors.As(err, &de) || ctx.Err() != nil {
			return nil, err
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// control is the second layer: it sees the socket address right before
// connect(2), whatever path led there.
func (ad *addrDialer) control(ctx context.Context, network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("egress: dial: unparsable address: %w", err)
	}
	if cat := ad.ap.check(ap.Addr()); cat != "" {
		return ad.refuse(ctx, ap.Addr().String(), int(ap.Port()), ap.Addr(), cat+" (at connect)")
	}
	return nil
}

func (ad *addrDialer) refuse(ctx context.Context, host string, port int, a netip.Addr, detail string) error {
	d := Denial{Reason: ReasonPrivateAddress, Detail: detail, Host: host, Port: port, Address: a}
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		d.Rule, d.Method, d.Scheme, d.Path = info.rule, info.method, info.scheme, info.path
	}
	ad.c.deny(ctx, d)
	return &DenialError{Denial: d}
}

// cappedBody fails a read once more than max bytes have arrived.
type cappedBody struct {
	rc         io.ReadCloser
	left, max  int64
	host, rule string
	err        error
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.left <= 0 {
		// At the cap: one more byte means over it.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			b.err = fmt.Errorf("egress: response from %s (rule %q) exceeds the %d-byte cap: %w",
				b.host, b.rule, b.max, ErrResponseTooLarge)
			return 0, b.err
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// scrubError replaces the URL that net/http puts in its errors with the
// origin and redacted path, and withholds the inner error's text if it
// still quotes a part of the path or query that RedactPath would remove.
func scrubError(req *http.Request, err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) || req.URL == nil {
		return err
	}
	u := req.URL
	safe := &url.Error{
		Op:  ue.Op,
		URL: u.Scheme + "://" + u.Host + RedactPath(u.EscapedPath()),
		Err: ue.Err,
	}
	if quotesSecret(ue.Err.Error(), u) {
		safe.Err = &withheldError{err: ue.Err}
	}
	return safe
}

func quotesSecret(msg string, u *url.URL) bool {
	var parts []string
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		if seg != "" && !keepSegment(seg) {
			parts = append(parts, seg)
			if dec, err := url.PathUnescape(seg); err == nil {
				parts = append(parts, dec)
			}
		}
	}
	for _, kv := range strings.Split(u.RawQuery, "&") {
		_, v, _ := strings.Cut(kv, "=")
		parts = append(parts, v)
		if dec, err := url.QueryUnescape(v); err == nil {
			parts = append(parts, dec)
		}
	}
	for _, p := range parts {
		if len(p) >= 4 && strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// withheldError keeps errors.Is and errors.As working while its text
// withholds what quoted the URL.
type withheldError struct{ err error }

func (e *withheldError) Error() string {
	return "request failed (details withheld: they quote the request URL)"
}
func (e *withheldError) Unwrap() error { return e.err }

// HTTPClient returns an *http.Client whose every request goes through Do,
// for libraries that take a client (the LLM providers). Redirects are
// followed (and checked) inside Do; the outer client never follows one.
// The outer client wraps errors in *url.Error, which quotes the URL: use it
// only for endpoints whose URLs carry no secret (providers take their keys
// in headers), and Do for the rest (Telegram puts its token in the path).
func (c *Client) HTTPClient() *http.Client {
	return &http.Client{
		Transport:     roundTripper{c: c},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type roundTripper struct{ c *Client }

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return rt.c.Do(req) }

// WebSocketClient returns an *http.Client for WebSocket handshakes (the
// HTTPClient of github.com/coder/websocket's DialOptions; wss:// is dialed
// as https://). Every handshake passes the policy and the resolved-address
// checks at dial and connect time, as Do's requests do; the 101 answer's
// body, the connection itself, is handed over uncapped (the WebSocket
// library bounds each message), and redirects are never followed. There is
// no overall time-out: the handshake is bounded by its context and the
// connection lives as long as the caller keeps it. Its errors quote the
// URL (the outer client wraps them): use it only for URLs that carry no
// secret.
func (c *Client) WebSocketClient() *http.Client {
	return &http.Client{
		Transport:     policyTransport{c: c, upgrade: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
