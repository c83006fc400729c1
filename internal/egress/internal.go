package egress

import (
	"errors"
	"fmt"
	"net/url"
)

// InternalServiceRule names the one rule of a client made by
// ForInternalService, in its denials and logs.
const InternalServiceRule = "internal-service"

// ForInternalService returns a client that reaches exactly one service of
// the deployment itself, at an address the operator configured — the
// gateway role's --gateway-url, such as http://gateway:8081 — and nothing
// else. It is the one sanctioned way to call an internal service: nothing
// outside this package builds an http.Client or http.Transport (a test at
// the module root fails on one), so that what an internal call may reach is
// decided here, in one place, as for every other outbound request.
//
// The client's policy is a single rule, named InternalServiceRule, for the
// URL's host and port, with every method and path, over https or, for an
// http URL, plain http (https stays allowed, as by every rule). Because the
// operator named the address and internal services live on private or
// loopback ones, the rule carries UnsafeAllowPrivateAddresses, and
// UnsafeAllowHTTP when the URL is http; metadata, unspecified, multicast
// and broadcast addresses stay refused. Any other host or port, and plain
// http to an https service, is refused like any request no rule allows, and
// no redirect is followed.
// The client shares c's logger, OnDeny hook, resolver, time-outs and
// response cap, so its denials are logged, counted and audited with the
// others; c's policy plays no part.
//
// serviceURL must come from the operator's configuration, never from a
// tenant, a bot or a request: the address check is lifted for it only
// because nobody else chooses where it points. It must be an origin (an
// optional path is allowed and ignored by the rule), with no user info,
// query or fragment.
func (c *Client) ForInternalService(serviceURL string) (*Client, error) {
	u, err := url.Parse(serviceURL)
	if err != nil {
		return nil, errors.New("egress: internal service URL: not a URL")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, errors.New("egress: internal service URL: a query or fragment has no place in a service's address")
	}
	t, d := parseTarget("GET", u, "")
	if d != nil {
		return nil, fmt.Errorf("egress: internal service URL: %s (%s)", d.Reason, d.Detail)
	}
	policy, err := NewPolicy(Rule{
		Name:                        InternalServiceRule,
		Host:                        t.host,
		Ports:                       []int{t.port},
		Methods:                     allowedMethods(),
		Paths:                       []string{"/**"},
		UnsafeAllowHTTP:             t.scheme == "http",
		UnsafeAllowPrivateAddresses: true,
	})
	if err != nil {
		return nil, fmt.Errorf("egress: internal service URL: %w", err)
	}
	opts := c.opts
	// An internal service has no reason to redirect, and following one
	// would only ever be refused by the one-origin policy anyway.
	opts.MaxRedirects = -1
	opts.internalService = true
	return New(policy, opts)
}
