// Package redact removes secrets from everything the process writes to its
// logs (SPEC.md R3). A Redactor knows the formats of the keys and tokens the
// platform handles (provider keys, channel tokens, webhook secrets, bearer
// and basic credentials, passwords in URLs and key=value text, pal_ API keys)
// and any secret value registered with it at run time. It is used three ways:
//
//   - Handler wraps the slog.Handler every logger of the process goes
//     through, and redacts the message, every attribute value (groups,
//     errors, Stringers and values of any other kind) and the whole value of
//     attributes whose key names a secret (password, token, api_key, ...);
//   - Writer wraps line-oriented output that bypasses slog, such as
//     http.Server.ErrorLog;
//   - String redacts one string, for error text and the like.
//
// A Redactor is built with New and passed in; there is no global one.
//
// It must never log, print or return a secret it has seen, keep the text it
// redacts, or trade a missed secret for speed: when a registered secret cannot
// be removed cleanly it fails closed and returns only a marker.
package redact
