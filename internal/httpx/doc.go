// Package httpx holds the reusable pieces of Palisade's HTTP edge (SPEC.md
// R4): error-returning handlers and the one function that writes error
// responses, request ids and request-scoped loggers, security headers with
// per-request CSP nonces, body limits and framing checks, capped JSON
// decoding, panic recovery, the access log, client-IP resolution behind
// trusted proxies, and CORS for the widget API. It mounts no product route;
// internal/server composes these pieces per surface (see Edge).
//
// It must never send internal error text, stack traces, SQL or paths to a
// client (only what PublicError leaves of an error), never trust a
// forwarded header from a peer outside the configured proxy ranges, never log
// a query string, an Authorization or Cookie header or a request body, and
// never let a handler see a body larger than its limit.
package httpx
