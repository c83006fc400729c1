// Package egress is the only outbound HTTP client of the platform (SPEC R5,
// conventions 10). Every request a provider adapter, channel adapter or
// knowledge fetcher sends goes through a Client, which enforces a
// deny-by-default Policy before anything reaches the wire:
//
//   - the request is checked against the policy's rules (host, port, scheme,
//     method and escaped path); a request no rule allows is refused;
//   - names are resolved by the client itself through an injected Resolver,
//     every resolved address is classified, and the connection is made to the
//     exact address that was checked (the transport never re-resolves); the
//     address is checked a second time in net.Dialer.Control;
//   - loopback, private, link-local (including cloud metadata), CGNAT,
//     unspecified, multicast, broadcast, reserved, unique-local and
//     IPv4-embedding IPv6 addresses are refused unless the matching rule says
//     unsafe_allow_private_addresses (metadata, unspecified, multicast and
//     broadcast addresses are refused even then, and loopback opens only
//     with Options.UnsafeAllowLoopback, which exists for tests);
//   - every redirect is checked again, and their number is limited;
//   - response size and total time are capped;
//   - proxies from the environment are ignored.
//
// Callers use Client.Do, which rewrites net/http's errors so they never
// quote a full URL. HTTPClient exists only for libraries that must be handed
// an *http.Client (ACME, provider adapters); its errors are not rewritten.
// Policy.Allows checks a configured endpoint at start-up without sending
// anything.
//
// A service of the deployment itself, at an address the operator configured
// (the gateway role), is reached through Client.ForInternalService, which
// allows exactly that origin, private and loopback addresses included. It is
// the only sanctioned way to call one: nothing outside this package builds
// an http.Client or http.Transport or uses net/http's default client, and a
// test at the module root fails on any that does.
//
// Every refusal is logged with its reason, passed to Options.OnDeny (where the
// caller counts it and writes the audit log) and returned as a *DenialError.
//
// This package must never log, return or panic with a full request URL: the
// Telegram bot token travels in the path, so only the host, the rule name, the
// method and a redacted path (see RedactPath) ever leave it. It must never use
// http.DefaultClient, http.DefaultTransport or a proxy from the environment,
// never let a transport resolve a name it did not check, and never loosen a
// check without a switch whose name starts with Unsafe.
//
// # Path patterns
//
// A rule's paths are matched against the escaped request path (what goes on
// the wire, without the query string), segment by segment:
//
//   - a pattern starts with "/" and is split on "/" into segments;
//   - within a segment, "*" matches any run of characters (possibly empty)
//     other than "/"; every other character matches itself, and percent
//     escapes compare case-insensitively on their hex digits;
//   - a final segment "**" matches the rest of the path: one or more segments;
//   - "/bot*/sendMessage" matches "/bot123:ABC/sendMessage" but not
//     "/bot1/x/sendMessage"; "/v1beta/models/*" matches
//     "/v1beta/models/gemini-2.0-flash:generateContent"; "/api/**" matches
//     "/api/a/b/c".
//
// Request paths containing "." or ".." segments (also percent-encoded, once
// or twice), an encoded slash or backslash, a raw backslash, control
// characters or empty interior segments ("//") are refused whatever the
// rules say.
//
// # Tests of other packages
//
// To reach an httptest server from a test, build a one-rule policy and turn on
// the loopback switch, which exists for tests only:
//
//	rule, err := egress.RuleForURL(srv.URL)
//	policy, err := egress.NewPolicy(rule)
//	client, err := egress.New(policy, egress.Options{UnsafeAllowLoopback: true})
//
// For an https test server, also pass Options.RootCAs with srv.Certificate().
package egress
