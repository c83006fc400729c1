package probe_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/palisadehq/palisade/internal/probe"
)

// provedElsewhere lists the checks without an entry below, each with the
// reason, which TestEveryCheckHasAViolation accepts only for the checks
// named here. A check that no server can fail would be a bug in the check;
// none is. The checks named here need what this lab cannot give a run or
// a violation cannot change: a second workspace's API key, a channel's
// secrets, an account, an outgoing webhook API, or a TLS configuration
// and certificate of their own. Each reason names the test that fails
// every one of them against a server built to break it, and passes it
// against one that does not.
var provedElsewhere = map[string]string{
	"tls/refuses-tls-1.0":                              reasonTLS,
	"tls/refuses-tls-1.1":                              reasonTLS,
	"tls/offers-tls-1.3":                               reasonTLS,
	"tls/refuses-cbc-suites":                           reasonTLS,
	"tls/refuses-rsa-key-exchange":                     reasonTLS,
	"tls/refuses-3des":                                 reasonTLS,
	"tls/refuses-rc4":                                  reasonTLS,
	"tls/certificate-trusted":                          reasonTLS,
	"tls/certificate-hostname-matches":                 reasonTLS,
	"tls/certificate-not-expired":                      reasonTLS,
	"tls/certificate-not-expiring":                     reasonTLS,
	"tls/certificate-lifetime-sensible":                reasonTLS,
	"tls/certificate-key-strength":                     reasonTLS,
	"tls/certificate-signature-not-sha1":               reasonTLS,
	"tls/plain-http-same-port-not-served":              reasonTLS,
	"tls/plain-http-redirects-or-closed":               reasonTLS,
	"session/login-issues-fresh-session":               reasonLogin,
	"idor/bots a-to-b":                                 reasonIDOR,
	"idor/bots b-to-a":                                 reasonIDOR,
	"idor/documents a-to-b":                            reasonIDOR,
	"idor/documents b-to-a":                            reasonIDOR,
	"idor/channels a-to-b":                             reasonIDOR,
	"idor/channels b-to-a":                             reasonIDOR,
	"idor/conversations a-to-b":                        reasonIDOR,
	"idor/conversations b-to-a":                        reasonIDOR,
	"idor/keys a-to-b":                                 reasonIDOR,
	"idor/keys b-to-a":                                 reasonIDOR,
	"idor/webhooks a-to-b":                             reasonIDOR,
	"idor/webhooks b-to-a":                             reasonIDOR,
	"idor/provider-keys a-to-b":                        reasonIDOR,
	"idor/provider-keys b-to-a":                        reasonIDOR,
	"idor/keys-are-different-workspaces":               reasonIDOR,
	"ssrf/webhook-url loopback-v4":                     reasonSSRF,
	"ssrf/webhook-url loopback-v6":                     reasonSSRF,
	"ssrf/webhook-url localhost-name":                  reasonSSRF,
	"ssrf/webhook-url cloud-metadata":                  reasonSSRF,
	"ssrf/webhook-url private-10":                      reasonSSRF,
	"ssrf/webhook-url private-192-168":                 reasonSSRF,
	"ssrf/webhook-url unspecified":                     reasonSSRF,
	"ssrf/webhook-url mapped-v6-loopback":              reasonSSRF,
	"webhook-replay/telegram-signed-delivery-accepted": reasonReplay,
	"webhook-replay/telegram-replay-deduplicated":      reasonReplay,
	"webhook-replay/slack-signed-delivery-accepted":    reasonReplay,
	"webhook-replay/slack-replay-deduplicated":         reasonReplay,
	"webhook-replay/slack-tampered-body-refused":       reasonReplay,
	"webhook-replay/slack-stale-timestamp-refused":     reasonReplay,
	"webhook-replay/slack-future-timestamp-refused":    reasonReplay,
	"webhook-replay/whatsapp-signed-delivery-accepted": reasonReplay,
	"webhook-replay/whatsapp-replay-deduplicated":      reasonReplay,
	"webhook-replay/whatsapp-tampered-body-refused":    reasonReplay,
	"webhook-replay/discord-signed-delivery-accepted":  reasonReplay,
	"webhook-replay/discord-replay-deduplicated":       reasonReplay,
	"webhook-replay/discord-tampered-body-refused":     reasonReplay,
	"webhook-replay/discord-stale-timestamp-refused":   reasonReplay,
	"webhook-replay/discord-future-timestamp-refused":  reasonReplay,
}

// The reasons of provedElsewhere, by what the lab lacks.
const (
	reasonTLS = "the lab serves one TLS configuration and certificate, which a wrapped handler cannot change: " +
		"TestTLSChecks (checks_tls_test.go) fails it against a server or certificate that breaks it"
	reasonIDOR = "needs API keys of two workspaces and the lab gives one: " +
		"TestIDORChecks (checks_idor_test.go) fails it against an API that lets that kind through to the other workspace"
	reasonSSRF = "needs an outgoing webhook API, which the correct server does not have (it would skip): " +
		"TestSSRFChecks (checks_idor_test.go) fails it against a deployment that dials or reaches the address"
	reasonReplay = "needs the channel's secret (--secrets), which the lab does not give: " +
		"TestReplayChecks (checks_replay_test.go) fails it against a receiver that skips what it tests"
	reasonLogin = "needs an account's credentials (login in --secrets), which the lab does not give: " +
		"TestLoginIssuesFreshSession (checks_new_test.go) fails it against a server that keeps the planted session id"
)

// violations is the table: one entry per check or family of checks, each
// building a server that breaks exactly the check it is given.
//
// A new check needs an entry (TestEveryCheckHasAViolation names the
// checks without one). Read what the check sends and what it counts as a
// failure, then wrap the correct server (correctServer) so that only that
// request gets a failing answer: when answers the requests it matches
// itself, editHeaders edits the headers of the correct answer, learn says
// which requests a check sends when its name does not, and naive puts a
// front before the server that guesses the length of ambiguous requests.
// A family of generated names ("<check> <route>") shares one entry
// through each, kinds or where; the entry gets the varying part as arg.
// The server must fail its check and no other check of the category;
// list in alsoFails those that judge the very same answer. If the correct
// server fails or skips the new check, teach correctServer first.
var violations = []violation{
	// Security headers, each weakened on the one route the check reads.
	{match: each("headers/csp-script-nonce"), how: "lets script-src run inline scripts",
		build: editAt(func(h http.Header) { setCSP(h, "script-src", csp(h, "script-src")+" 'unsafe-inline'") })},
	{match: each("headers/csp-frame-ancestors-none"), how: "lets same-origin pages frame it",
		build: editAt(func(h http.Header) { setCSP(h, "frame-ancestors", "'self'") })},
	{match: each("headers/csp-object-src-none"), how: "allows plugins from its origin",
		build: editAt(func(h http.Header) { setCSP(h, "object-src", "'self'") })},
	{match: each("headers/csp-base-uri-none"), how: "lets a <base> tag move relative URLs",
		build: editAt(func(h http.Header) { setCSP(h, "base-uri", "'self'") })},
	{match: each("headers/x-frame-options-deny"), how: "sends X-Frame-Options SAMEORIGIN",
		build: editAt(func(h http.Header) { h.Set("X-Frame-Options", "SAMEORIGIN") })},
	{match: each("headers/nosniff"), how: "drops X-Content-Type-Options",
		build: editAt(func(h http.Header) { h.Del("X-Content-Type-Options") })},
	{match: each("headers/hsts"), how: "keeps HSTS for a day only",
		build: editAt(func(h http.Header) { h.Set("Strict-Transport-Security", "max-age=86400") })},
	{match: each("headers/referrer-policy"), how: "sends full URLs as referrers",
		build: editAt(func(h http.Header) { h.Set("Referrer-Policy", "unsafe-url") })},
	{match: each("headers/permissions-policy"), how: "leaves geolocation allowed",
		build: editAt(func(h http.Header) { h.Set("Permissions-Policy", "camera=(), microphone=()") })},
	{match: each("headers/coop-same-origin"), how: "shares its browsing context group",
		build: editAt(func(h http.Header) { h.Set("Cross-Origin-Opener-Policy", "unsafe-none") })},
	{match: each("headers/corp-same-origin"), how: "lets any site embed its answers",
		build: editAt(func(h http.Header) { h.Set("Cross-Origin-Resource-Policy", "cross-origin") })},
	{match: each("headers/cache-control-no-store"), how: "lets shared caches keep per-request answers",
		build: editAt(func(h http.Header) { h.Set("Cache-Control", "public, max-age=600") })},
	{match: is("headers/csp-nonce-fresh-per-response"), how: "sends the same nonce in every answer",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return editHeaders(at("/login"), func(_ *http.Request, h http.Header) {
				h.Set("Content-Security-Policy", nonce.ReplaceAllString(h.Get("Content-Security-Policy"), "'nonce-c3RhbGUtbm9uY2UtZm9yLWV2ZXI'"))
			})
		})},

	// Disclosure.
	{match: where("disclosure/<file>", func(cat, name string) bool {
		return cat == probe.CatDisclosure && !strings.HasPrefix(name, "no-")
	}), how: "serves the file the check asks for",
		build: func(x subject) fixture {
			asked := learn(x)
			return fixture{wrap: when(func(r *http.Request) bool { return asked[r.Method+" "+r.URL.Path] }, func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "ref: refs/heads/main\nPALISADE_MASTER_KEY=c2VjcmV0\n")
			})}
		}},
	{match: each("disclosure/no-directory-listing"), how: "lists the directory",
		build: wrap(func(x subject) func(http.Handler) http.Handler {
			return when(at(x.arg), func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				fmt.Fprintf(w, "<html><head><title>Index of %s</title></head><body><pre><a href=\"HEAD\">HEAD</a>\n</pre></body></html>", x.arg)
			})
		})},
	{match: each("disclosure/no-version-banner"), how: "names its server and version",
		build: wrap(func(x subject) func(http.Handler) http.Handler {
			return editHeaders(at(x.arg), func(_ *http.Request, h http.Header) { h.Set("Server", "nginx/1.25.3") })
		})},
	{match: is("disclosure/no-stack-trace invalid-json"), how: "panics on a JSON syntax error and prints the trace",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return when(func(r *http.Request) bool {
				return r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") && !json.Valid(bodyOf(r))
			}, stackTrace)
		})},
	{match: is("disclosure/no-stack-trace bad-percent-escape"), how: "crashes on a NUL byte in the path",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return when(func(r *http.Request) bool { return strings.Contains(r.URL.Path, "\x00") }, stackTrace)
		})},
	{match: is("disclosure/no-stack-trace huge-header"), how: "fails with a server error on a large header",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return when(func(r *http.Request) bool {
				for _, vs := range r.Header {
					for _, v := range vs {
						if len(v) > 8<<10 {
							return true
						}
					}
				}
				return false
			}, func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "internal error", http.StatusInternalServerError)
			})
		})},
	{match: is("disclosure/no-stack-trace wrong-content-type"), how: "fails with a server error on a multipart body without a boundary",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return when(func(r *http.Request) bool {
				return r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/")
			}, func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "mime: no boundary", http.StatusInternalServerError)
			})
		})},

	// Debug endpoints.
	{match: each("debug/not-public"), how: "serves the debug page to anyone",
		build: wrap(func(x subject) func(http.Handler) http.Handler {
			return when(at(x.arg), func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "debug page\n")
			})
		})},
	{match: is("debug/openapi-document-public"), how: "publishes an API description with a stack trace in it",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return when(at("/api/v1/openapi.json"), func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, `{"openapi":"3.1.0","info":{"title":"x","description":"panic: nil map\n\ngoroutine 1 [running]:\nmain.go:12"}}`)
			})
		})},

	// Methods.
	{match: where("methods/<verb>-refused <path>", func(cat, name string) bool {
		return cat == probe.CatMethods && strings.Contains(name, "-refused ")
	}), how: "answers the verb and echoes the request headers",
		build: func(x subject) fixture {
			asked := learn(x)
			return fixture{wrap: when(func(r *http.Request) bool { return asked[r.Method+" "+r.URL.Path] }, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "message/http")
				_ = r.Header.Write(w)
			})}
		}},
	{match: each("methods/options-without-cors"), how: "lists CORS methods to any OPTIONS",
		build: wrap(func(x subject) func(http.Handler) http.Handler {
			return editHeaders(func(r *http.Request) bool {
				return r.Method == http.MethodOptions && r.URL.Path == x.arg && r.Header.Get("Origin") == ""
			}, func(_ *http.Request, h http.Header) { h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE") })
		})},

	// CORS: each a flawed origin test, on the one path.
	{match: each("cors/foreign-origin"), how: "allows a foreign site in its origin list",
		build: allowOrigin(func(r *http.Request, origin string) bool { return origin == "https://evil.example" })},
	{match: each("cors/null-origin"), how: "allows the null origin",
		build: allowOrigin(func(r *http.Request, origin string) bool { return origin == "null" })},
	{match: each("cors/lookalike-suffix"), how: "accepts any origin that starts with its own",
		build: allowOrigin(func(r *http.Request, origin string) bool {
			return strings.HasPrefix(origin, "https://"+hostname(r.Host))
		})},
	{match: each("cors/lookalike-prefix"), how: "accepts any https origin that ends with its host name",
		build: allowOrigin(func(r *http.Request, origin string) bool {
			return strings.HasPrefix(origin, "https://") && strings.HasSuffix(origin, hostname(r.Host))
		})},
	{match: each("cors/scheme-downgrade"), how: "compares the origin's host but not its scheme",
		build: allowOrigin(func(r *http.Request, origin string) bool {
			_, host, _ := strings.Cut(origin, "://")
			return host == r.Host
		})},
	{match: each("cors/preflight-foreign"), how: "allows any origin's preflight, with credentials",
		build: wrap(func(x subject) func(http.Handler) http.Handler {
			return editHeaders(func(r *http.Request) bool {
				return r.Method == http.MethodOptions && r.URL.Path == x.arg && r.Header.Get("Access-Control-Request-Method") != ""
			}, func(r *http.Request, h http.Header) {
				h.Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
				h.Set("Access-Control-Allow-Credentials", "true")
			})
		})},

	// Body limits.
	{match: is("body-limits/over-1mib-anonymous /api/v1/bots"), how: "authenticates before it limits the body",
		build: unlimited(func(r *http.Request) bool { return r.URL.Path == "/api/v1/bots" && !authorized(r) }, http.StatusUnauthorized)},
	{match: is("body-limits/over-1mib-with-key /api/v1/bots"), how: "lifts the body limit for a valid key",
		build: unlimited(func(r *http.Request) bool { return r.URL.Path == "/api/v1/bots" && authorized(r) }, http.StatusBadRequest)},
	{match: is("body-limits/over-1mib /login"), how: "has no body limit on the sign-in form",
		build: unlimited(func(r *http.Request) bool { return r.URL.Path == "/login" }, http.StatusUnauthorized)},
	{match: is("body-limits/over-1mib /hooks/telegram"), how: "has no body limit on webhooks",
		build: unlimited(func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/hooks/telegram/") }, http.StatusNotFound)},
	{match: is("body-limits/null-byte-in-json-field"), how: "stores a name with a NUL byte",
		build: acceptsName("\x00")},
	{match: is("body-limits/control-character-in-json-field"), how: "stores a name with a BEL character",
		build: acceptsName("\a")},
	{match: is("body-limits/escape-sequence-in-json-field"), how: "stores a name with an ANSI escape sequence",
		build: acceptsName("\x1b[")},

	// Webhooks: unverified deliveries to a well-formed bot id accepted.
	{match: is("webhook-forgery/telegram-no-secret"), how: "accepts a Telegram update without the secret token",
		build: acceptsHook("telegram", "update_id", func(h http.Header) bool { return h.Get("X-Telegram-Bot-Api-Secret-Token") == "" })},
	{match: is("webhook-forgery/telegram-wrong-secret"), how: "accepts a Telegram update with any secret token",
		build: acceptsHook("telegram", "update_id", func(h http.Header) bool { return h.Get("X-Telegram-Bot-Api-Secret-Token") != "" })},
	{match: is("webhook-forgery/slack-no-signature"), how: "accepts an unsigned Slack event",
		build: acceptsHook("slack", "event_callback", func(h http.Header) bool { return h.Get("X-Slack-Signature") == "" })},
	{match: is("webhook-forgery/slack-wrong-signature"), how: "accepts a Slack event with any signature",
		build: acceptsHook("slack", "event_callback", func(h http.Header) bool { return h.Get("X-Slack-Signature") != "" })},
	{match: is("webhook-forgery/slack-url-verification-unsigned"), how: "answers an unsigned Slack URL verification",
		build: acceptsHook("slack", "url_verification", func(h http.Header) bool { return h.Get("X-Slack-Signature") == "" })},
	{match: is("webhook-forgery/whatsapp-no-signature"), how: "accepts an unsigned WhatsApp delivery",
		build: acceptsHook("whatsapp", "whatsapp_business_account", func(h http.Header) bool { return h.Get("X-Hub-Signature-256") == "" })},
	{match: is("webhook-forgery/whatsapp-wrong-signature"), how: "accepts a WhatsApp delivery with any signature",
		build: acceptsHook("whatsapp", "whatsapp_business_account", func(h http.Header) bool { return h.Get("X-Hub-Signature-256") != "" })},
	{match: is("webhook-forgery/discord-no-signature"), how: "answers an unsigned Discord ping",
		build: acceptsHook("discord", `"type":1`, func(h http.Header) bool { return h.Get("X-Signature-Ed25519") == "" })},
	{match: is("webhook-forgery/discord-wrong-signature"), how: "answers a Discord ping with any signature",
		build: acceptsHook("discord", `"type":1`, func(h http.Header) bool { return h.Get("X-Signature-Ed25519") != "" })},
	{match: kinds(probe.CatWebhook, "-malformed-bot-id"), how: "forbids, instead of refusing as not found, every id not of another kind",
		build: hookID(func(id string) bool { return !strings.HasPrefix(id, "wsp_") && !strings.Contains(id, "..") }, http.StatusForbidden)},
	{match: kinds(probe.CatWebhook, "-wrong-prefix-id"), how: "fails with a server error on an id of another kind",
		build: hookID(func(id string) bool { return strings.HasPrefix(id, "wsp_") }, http.StatusInternalServerError)},
	{match: kinds(probe.CatWebhook, "-traversal-bot-id"), how: "redirects a path with dot segments to the cleaned path",
		build: wrap(func(x subject) func(http.Handler) http.Handler {
			return when(func(r *http.Request) bool {
				return strings.HasPrefix(r.URL.Path, "/hooks/"+x.arg+"/") && strings.Contains(r.URL.Path, "..")
			}, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, path.Clean(r.URL.Path), http.StatusMovedPermanently)
			})
		})},
	{match: kinds(probe.CatWebhook, "-refusals-indistinguishable"), how: "tells a malformed bot id from an unknown one",
		build: hookID(func(id string) bool {
			return !botID.MatchString(id) && !strings.HasPrefix(id, "wsp_") && !strings.Contains(id, "..")
		}, http.StatusBadRequest)},
	{match: is("webhook-forgery/whatsapp-verify-wrong-token"), how: "answers the WhatsApp subscription challenge without checking the token",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return when(func(r *http.Request) bool {
				return r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/hooks/whatsapp/") && r.URL.Query().Get("hub.mode") == "subscribe"
			}, func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, r.URL.Query().Get("hub.challenge"))
			})
		})},
	{match: is("webhook-forgery/unknown-platform"), how: "fails with a server error for a platform it has no adapter for",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return when(func(r *http.Request) bool {
				platform, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/hooks/"), "/")
				return strings.HasPrefix(r.URL.Path, "/hooks/") && !strings.Contains("telegram slack whatsapp discord", platform)
			}, func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "no adapter", http.StatusInternalServerError)
			})
		})},

	// Authentication.
	{match: is("authentication/no-key /api/v1/bots"), how: "lists bots without a key",
		build: apiAnswers(func(r *http.Request) bool {
			return r.URL.Path == "/api/v1/bots" && r.URL.RawQuery == "" && r.Header.Get("Authorization") == ""
		}, http.StatusOK)},
	{match: is("authentication/no-key /v1/models"), how: "lists models without a key",
		build: apiAnswers(func(r *http.Request) bool { return r.URL.Path == "/v1/models" && r.Header.Get("Authorization") == "" }, http.StatusOK)},
	{match: is("authentication/malformed-key"), how: "answers a malformed key 400 instead of 401",
		build:     apiAnswers(func(r *http.Request) bool { return bearerOf(r) != "" && !strings.HasPrefix(bearerOf(r), "pal_") }, http.StatusBadRequest),
		alsoFails: []string{"authentication/malformed-and-unknown-key-same-answer"}},
	{match: is("authentication/unknown-key"), how: "accepts any well-formed key on /api/v1/bots",
		build: apiAnswers(func(r *http.Request) bool {
			return r.URL.Path == "/api/v1/bots" && strings.HasPrefix(bearerOf(r), "pal_")
		}, http.StatusOK),
		alsoFails: []string{"authentication/malformed-and-unknown-key-same-answer"}},
	{match: is("authentication/unknown-key /v1/models"), how: "accepts any well-formed key on /v1/models",
		build: apiAnswers(func(r *http.Request) bool {
			return r.URL.Path == "/v1/models" && strings.HasPrefix(bearerOf(r), "pal_")
		}, http.StatusOK)},
	{match: is("authentication/empty-bearer"), how: "takes an empty bearer token for no authentication needed",
		build: apiAnswers(func(r *http.Request) bool { return strings.TrimSpace(r.Header.Get("Authorization")) == "Bearer" }, http.StatusOK)},
	{match: is("authentication/basic-scheme"), how: "accepts default Basic credentials",
		build: apiAnswers(func(r *http.Request) bool { u, p, ok := r.BasicAuth(); return ok && u == "admin" && p == "admin" }, http.StatusOK)},
	{match: is("authentication/key-in-query-ignored"), how: "takes a key in the query by its shape",
		build: apiAnswers(func(r *http.Request) bool { return strings.HasPrefix(r.URL.Query().Get("api_key"), "pal_") }, http.StatusOK)},
	{match: is("authentication/no-key single bot"), how: "looks the bot up before it authenticates",
		build: apiAnswers(func(r *http.Request) bool {
			return strings.HasPrefix(r.URL.Path, "/api/v1/bots/") && r.Header.Get("Authorization") == "" && botID.MatchString(path.Base(r.URL.Path))
		}, http.StatusNotFound)},
	{match: is("authentication/malformed-and-unknown-key-same-answer"), how: "words the refusal of a malformed key differently",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return when(func(r *http.Request) bool { return bearerOf(r) != "" && !strings.HasPrefix(bearerOf(r), "pal_") }, func(w http.ResponseWriter, r *http.Request) {
				jsonError(w, http.StatusUnauthorized, "unauthenticated", "", "that is not an API key")
			})
		})},
	{match: is("authentication/wrong-shape-id"), how: "fails with a server error on an id of another kind",
		build: apiAnswers(func(r *http.Request) bool {
			return authorized(r) && strings.HasPrefix(r.URL.Path, "/api/v1/bots/") && !strings.HasPrefix(path.Base(r.URL.Path), "bot_")
		}, http.StatusInternalServerError)},
	{match: is("authentication/unknown-id"), how: "forbids an unknown bot instead of not finding it",
		build: apiAnswers(func(r *http.Request) bool {
			return authorized(r) && strings.HasPrefix(r.URL.Path, "/api/v1/bots/") && botID.MatchString(path.Base(r.URL.Path))
		}, http.StatusForbidden)},
	{match: is("authentication/key-works"), how: "refuses the valid key",
		build: apiAnswers(func(r *http.Request) bool {
			return authorized(r) && r.URL.Path == "/api/v1/bots" && r.Method == http.MethodGet
		}, http.StatusForbidden)},

	// Cookies of the sign-in page.
	{match: is("cookies/host-prefix"), how: "names its cookie without __Host-",
		build: loginCookie("palisade_csrf=x; Path=/; Secure; HttpOnly; SameSite=Strict")},
	{match: is("cookies/secure"), how: "lets its cookie travel over plain HTTP",
		build: loginCookie("__Host-palisade_csrf=x; Path=/; HttpOnly; SameSite=Strict")},
	{match: is("cookies/httponly"), how: "lets scripts read its cookie",
		build: loginCookie("__Host-palisade_csrf=x; Path=/; Secure; SameSite=Strict")},
	{match: is("cookies/samesite"), how: "sends its cookie on cross-site requests",
		build: loginCookie("__Host-palisade_csrf=x; Path=/; Secure; HttpOnly; SameSite=None")},
	{match: is("cookies/path-root-no-domain"), how: "scopes its cookie to a sub-path",
		build: loginCookie("__Host-palisade_csrf=x; Path=/admin; Secure; HttpOnly; SameSite=Strict")},

	// Host header.
	{match: is("host-header/x-forwarded-host-not-reflected"), how: "builds links from X-Forwarded-Host", build: reflectsHeader("X-Forwarded-Host")},
	{match: is("host-header/x-host-not-reflected"), how: "builds links from X-Host", build: reflectsHeader("X-Host")},
	{match: is("host-header/x-forwarded-server-not-reflected"), how: "builds links from X-Forwarded-Server", build: reflectsHeader("X-Forwarded-Server")},
	{match: is("host-header/forwarded-not-reflected"), how: "builds links from Forwarded", build: reflectsHeader("Forwarded")},
	{match: is("host-header/foreign-host-not-reflected"), how: "builds links from the Host it is sent",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return when(at("/"), func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, `<a href="https://%s/login">Sign in</a>`, r.Host)
			})
		})},

	// Open redirects: each parameter on each page followed off the site.
	{match: where("open-redirect/<param> <path>", func(cat, _ string) bool { return cat == probe.CatRedirect }), how: "redirects wherever the parameter says",
		build: wrap(func(x subject) func(http.Handler) http.Handler {
			param, page, _ := strings.Cut(x.arg, " ")
			return when(func(r *http.Request) bool { return r.URL.Path == page && r.URL.Query().Has(param) }, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", r.URL.Query().Get(param))
				w.WriteHeader(http.StatusFound)
			})
		})},

	// Injection.
	{match: is("injection/script-in-404-path"), how: "prints the path it could not find",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return when(func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/palisade-probe-does-not-exist/") }, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusNotFound)
				_, _ = io.WriteString(w, "<p>No page at "+r.URL.Path+"</p>")
			})
		})},
	{match: is("injection/script-in-login-query"), how: "fills the sign-in form from the query unescaped",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return when(func(r *http.Request) bool {
				return r.Method == http.MethodGet && r.URL.Path == "/login" && r.URL.Query().Has("email")
			}, func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, `<form method="post"><input name="email" value="`+r.URL.Query().Get("email")+`"></form>`)
			})
		})},
	{match: is("injection/script-in-api-id"), how: "names the id it refused unescaped",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return when(func(r *http.Request) bool {
				return strings.HasPrefix(r.URL.Path, "/api/v1/bots/") && strings.Contains(r.URL.Path, "<")
			}, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, `{"error":"no access to `+strings.TrimPrefix(r.URL.Path, "/api/v1/bots/")+`"}`)
			})
		})},
	{match: is("injection/script-in-login-form"), how: "repeats the email it was sent unescaped",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return when(func(r *http.Request) bool {
				return r.Method == http.MethodPost && r.URL.Path == "/login" && strings.Contains(formEmail(r), "<")
			}, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, "<p>No account for "+formEmail(r)+"</p>")
			})
		})},
	{match: is("injection/sql-quote-in-login-form"), how: "breaks its SQL on a quote in the email",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return when(func(r *http.Request) bool {
				return r.Method == http.MethodPost && r.URL.Path == "/login" && strings.Contains(formEmail(r), "'")
			}, sqlError)
		})},
	{match: is("injection/sql-quote-in-api-id"), how: "breaks its SQL on a quote in the id",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return when(func(r *http.Request) bool {
				return strings.HasPrefix(r.URL.Path, "/api/v1/bots/") && strings.Contains(r.URL.Path, "'")
			}, sqlError)
		})},
	{match: is("injection/crlf-in-path"), how: "copies header lines from the path into its answer",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return when(func(r *http.Request) bool { return strings.Contains(r.URL.Path, "\r\n") }, func(w http.ResponseWriter, r *http.Request) {
				for _, line := range strings.Split(r.URL.Path, "\r\n")[1:] {
					if k, v, ok := strings.Cut(line, ": "); ok {
						w.Header().Add(k, v)
					}
				}
				w.WriteHeader(http.StatusNotFound)
			})
		})},
	{match: each("injection/path-traversal"), how: "serves the file the dot segments reach",
		build: wrap(func(x subject) func(http.Handler) http.Handler {
			return when(func(r *http.Request) bool { return r.RequestURI == x.arg }, func(w http.ResponseWriter, r *http.Request) {
				switch p := strings.ReplaceAll(r.URL.Path, `\`, "/"); {
				case strings.HasSuffix(p, "/passwd"):
					_, _ = io.WriteString(w, "root:x:0:0:root:/root:/bin/sh\n")
				case strings.HasSuffix(p, "/go.mod"):
					_, _ = io.WriteString(w, "module github.com/palisadehq/palisade\n")
				case strings.HasSuffix(p, "/win.ini"):
					_, _ = io.WriteString(w, "; for 16-bit app support\n[fonts]\n[extensions]\n")
				}
			})
		})},

	// Request smuggling: a front that guesses the length of one kind of
	// ambiguous request (and refuses the others).
	{match: is("request-smuggling/content-length-and-chunked"), how: "reads a request with both lengths",
		build: naive(func(f framing) bool { return len(f.contentLength) > 0 && len(f.transferEncoding) > 0 })},
	{match: is("request-smuggling/duplicate-content-length"), how: "takes one of two Content-Length lines",
		build: naive(func(f framing) bool { return len(f.contentLength) > 1 })},
	{match: is("request-smuggling/content-length-list"), how: "takes the first of a Content-Length list",
		build: naive(func(f framing) bool { return len(f.contentLength) == 1 && strings.Contains(f.contentLength[0], ",") })},
	{match: is("request-smuggling/obfuscated-te-identity"), how: "reads a Transfer-Encoding list as chunked",
		build: naive(func(f framing) bool {
			return len(f.contentLength) == 0 && len(f.transferEncoding) == 1 && strings.Contains(f.transferEncoding[0], ",")
		})},
	{match: is("request-smuggling/obfuscated-te-unknown"), how: "reads an unknown Transfer-Encoding as chunked",
		build: naive(func(f framing) bool {
			te := f.transferEncoding
			return len(f.contentLength) == 0 && len(te) == 1 && !strings.Contains(te[0], ",") && !strings.EqualFold(te[0], "chunked")
		})},
	{match: is("request-smuggling/obfuscated-te-duplicate"), how: "takes one of two Transfer-Encoding lines",
		build: naive(func(f framing) bool { return len(f.contentLength) == 0 && len(f.transferEncoding) > 1 })},
	{match: is("request-smuggling/negative-content-length"), how: "reads a negative Content-Length as no body",
		build: naive(func(f framing) bool { return len(f.contentLength) == 1 && strings.HasPrefix(f.contentLength[0], "-") })},

	// Proxy trust: a rate limiter that counts by a header the client sets.
	{match: is("proxy-trust/x-forwarded-for-spoof"), how: "counts its rate limit by X-Forwarded-For", build: trusts("X-Forwarded-For")},
	{match: is("proxy-trust/x-real-ip-spoof"), how: "counts its rate limit by X-Real-Ip", build: trusts("X-Real-Ip")},
	{match: is("proxy-trust/forwarded-for-spoof"), how: "counts its rate limit by Forwarded", build: trusts("Forwarded")},
	{match: is("proxy-trust/true-client-ip-spoof"), how: "counts its rate limit by True-Client-Ip", build: trusts("True-Client-Ip")},
	// Session: the sign-in pages and the account page of a server that
	// takes the ids a browser brings or hands out the same one to all.
	{match: is("session/planted-session-cookie-refused"), how: "signs in whoever sends a session cookie",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return when(func(r *http.Request) bool {
				_, err := r.Cookie("__Host-palisade_session")
				return r.URL.Path == "/account" && err == nil
			}, func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "<!doctype html><title>Your account</title>")
			})
		})},
	{match: is("session/planted-cookies-not-adopted"), how: "sets back the session id a browser brought to the sign-in page",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return editHeaders(func(r *http.Request) bool { return r.URL.Path == "/login" }, func(r *http.Request, h http.Header) {
				if c, err := r.Cookie("__Host-palisade_session"); err == nil {
					h.Add("Set-Cookie", (&http.Cookie{Name: "__Host-palisade_session", Value: c.Value, Path: "/", Secure: true, HttpOnly: true}).String())
				}
			})
		})},
	{match: is("session/pre-session-fresh-per-browser"), how: "gives every browser the same sign-in cookie",
		build: loginCookie("__Host-palisade_csrf=0123456789abcdef; Path=/; Secure; HttpOnly; SameSite=Strict")},
	{match: is("session/session-cookies-host-prefixed"), how: "names its sign-in cookie without the __Host- prefix",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return editHeaders(func(r *http.Request) bool { return r.Method == http.MethodGet && r.URL.Path == "/login" }, func(_ *http.Request, h http.Header) {
				h.Set("Set-Cookie", (&http.Cookie{Name: "palisade_csrf", Value: randomHex(), Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode}).String())
			})
		})},
	{match: is("session/logout-needs-csrf"), how: "starts a session on a cross-site POST /logout without a token",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return when(at("/logout"), func(w http.ResponseWriter, r *http.Request) {
				http.SetCookie(w, &http.Cookie{Name: "__Host-palisade_session", Value: randomHex(), Path: "/", Secure: true, HttpOnly: true})
				http.Redirect(w, r, "/login", http.StatusSeeOther)
			})
		})},

	// Gateway: a gateway route reachable from outside for the one kind of
	// call each check sends.
	{match: is("gateway/no-token"), how: "answers a gateway call without a token",
		build: gatewayAnswers(func(r *http.Request) bool { return r.Header.Get("Authorization") == "" })},
	{match: is("gateway/forged-token-and-signature"), how: "answers a gateway call with any fresh signature",
		build: gatewayAnswers(func(r *http.Request) bool {
			return r.Header.Get("X-Palisade-Signature") != "" && signedWithin(r, 5*time.Minute)
		})},
	{match: is("gateway/token-without-signature"), how: "answers a gateway call that has a token and no signature",
		build: gatewayAnswers(func(r *http.Request) bool {
			b := bearerOf(r)
			return b != "" && !strings.HasPrefix(b, "pal_") && r.Header.Get("X-Palisade-Signature") == ""
		})},
	{match: is("gateway/stale-signature"), how: "answers a gateway call signed an hour ago",
		build: gatewayAnswers(func(r *http.Request) bool {
			return r.Header.Get("X-Palisade-Signature") != "" && !signedWithin(r, 30*time.Minute)
		})},
	{match: is("gateway/api-key-is-not-a-gateway-token"), how: "takes an API key as a gateway token",
		build: gatewayAnswers(func(r *http.Request) bool { return strings.HasPrefix(bearerOf(r), "pal_") })},
	{match: each("gateway/get-refused"), how: "serves the gateway's route to a GET from outside",
		build: wrap(func(x subject) func(http.Handler) http.Handler {
			return when(func(r *http.Request) bool { return r.Method == http.MethodGet && r.URL.Path == x.arg }, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"data":[{"id":"gpt-4o-mini"}]}`)
			})
		})},

	// Rate limits: the limited routes without their 429, or with a 429
	// that lacks one of its parts.
	{match: is("rate-limits/api-burst-meets-429"), how: "never limits keyed API reads",
		build: apiAnswers(func(r *http.Request) bool {
			return r.Method == http.MethodGet && r.URL.Path == "/api/v1/bots" && authorized(r)
		}, http.StatusOK),
		alsoFails: []string{"rate-limits/api-429-retry-after", "rate-limits/api-429-ratelimit-headers", "rate-limits/api-429-json-error"}},
	{match: is("rate-limits/api-429-retry-after"), how: "limits keyed API reads without Retry-After",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return editHeaders(keyedBots, func(_ *http.Request, h http.Header) { h.Del("Retry-After") })
		})},
	{match: is("rate-limits/api-429-ratelimit-headers"), how: "limits keyed API reads without RateLimit fields",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return editHeaders(keyedBots, func(_ *http.Request, h http.Header) { h.Del("RateLimit"); h.Del("RateLimit-Policy") })
		})},
	{match: is("rate-limits/api-429-json-error"), how: "limits keyed API reads with a plain-text 429",
		build: wrap(func(subject) func(http.Handler) http.Handler { return textLimit(keyedBots) })},
	{match: is("rate-limits/login-burst-meets-429"), how: "never limits sign-in attempts",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return when(func(r *http.Request) bool { return r.Method == http.MethodPost && r.URL.Path == "/login" }, login)
		}),
		alsoFails: []string{"rate-limits/login-429-retry-after", "rate-limits/login-429-ratelimit-headers"}},
	{match: is("rate-limits/login-429-retry-after"), how: "limits sign-in attempts without Retry-After",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return editHeaders(signInPost, func(_ *http.Request, h http.Header) { h.Del("Retry-After") })
		})},
	{match: is("rate-limits/login-429-ratelimit-headers"), how: "limits sign-in attempts without RateLimit fields",
		build: wrap(func(subject) func(http.Handler) http.Handler {
			return editHeaders(signInPost, func(_ *http.Request, h http.Header) { h.Del("RateLimit"); h.Del("RateLimit-Policy") })
		})},
}

// at matches requests for path.
func at(path string) func(*http.Request) bool {
	return func(r *http.Request) bool { return r.URL.Path == path }
}

// when answers the requests pred accepts with h, and passes the others on.
func when(pred func(*http.Request) bool, h http.HandlerFunc) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if pred(r) {
				h(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// editHeaders lets the correct server answer, and edits the headers of
// the answers to the requests pred accepts before they are sent.
func editHeaders(pred func(*http.Request) bool, edit func(r *http.Request, h http.Header)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !pred(r) {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			res := rec.Result()
			edit(r, res.Header)
			maps.Copy(w.Header(), res.Header)
			w.WriteHeader(res.StatusCode)
			_, _ = w.Write(rec.Body.Bytes())
		})
	}
}

// editAt edits the headers of the answer to a GET of the family's route.
func editAt(edit func(h http.Header)) func(subject) fixture {
	return wrap(func(x subject) func(http.Handler) http.Handler {
		return editHeaders(at(x.arg), func(_ *http.Request, h http.Header) { edit(h) })
	})
}

var nonce = regexp.MustCompile(`'nonce-[^']*'`)

// csp returns the value of one directive of h's policy.
func csp(h http.Header, dir string) string {
	for _, d := range strings.Split(h.Get("Content-Security-Policy"), ";") {
		if f := strings.Fields(d); len(f) > 0 && strings.EqualFold(f[0], dir) {
			return strings.Join(f[1:], " ")
		}
	}
	return ""
}

// setCSP replaces (or adds) one directive of h's policy.
func setCSP(h http.Header, dir, value string) {
	var out []string
	found := false
	for _, d := range strings.Split(h.Get("Content-Security-Policy"), ";") {
		f := strings.Fields(d)
		if len(f) == 0 {
			continue
		}
		if strings.EqualFold(f[0], dir) {
			d, found = dir+" "+value, true
		}
		out = append(out, strings.TrimSpace(d))
	}
	if !found {
		out = append(out, dir+" "+value)
	}
	h.Set("Content-Security-Policy", strings.Join(out, "; "))
}

// bodyOf reads r's body and puts it back for the next handler.
func bodyOf(r *http.Request) []byte {
	if r.Body == nil {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(r.Body, 2*oneMiB))
	r.Body = io.NopCloser(bytes.NewReader(b))
	return b
}

// formEmail is the email field of a posted form, read as far as it
// parses (a semicolon in the body is an error for net/http, but the
// fields before it are still read).
func formEmail(r *http.Request) string {
	_ = r.ParseForm()
	return r.PostForm.Get("email")
}

func stackTrace(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, "panic: runtime error: invalid memory address\n\ngoroutine 42 [running]:\nmain.(*api).createBot(...)\n\t/src/api/bots.go:88 +0x1d\n")
}

func sqlError(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, "SQL logic error: near \"OR\": syntax error")
}

func hostname(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// learn returns the requests the check sends to the correct server, as
// "METHOD path": a violation of a family whose names do not carry the
// path serves exactly what its check asks for.
func learn(x subject) map[string]bool {
	x.t.Helper()
	var mu sync.Mutex
	asked := map[string]bool{}
	base := x.lab.serve(x.t, fixture{wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			asked[r.Method+" "+r.URL.Path] = true
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	}})
	if _, err := probe.Run(x.t.Context(), base, []probe.Check{x.check}, x.lab.options(true)); err != nil {
		x.t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) == 0 {
		x.t.Fatalf("%s sent no request to learn from", x.check.Name)
	}
	return maps.Clone(asked)
}

// allowOrigin reflects the Origin of GETs of the family's path that ok
// accepts, with credentials.
func allowOrigin(ok func(r *http.Request, origin string) bool) func(subject) fixture {
	return wrap(func(x subject) func(http.Handler) http.Handler {
		return editHeaders(func(r *http.Request) bool {
			return r.Method == http.MethodGet && r.URL.Path == x.arg && r.Header.Get("Origin") != "" && ok(r, r.Header.Get("Origin"))
		}, func(r *http.Request, h http.Header) {
			h.Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
			h.Set("Access-Control-Allow-Credentials", "true")
		})
	})
}

// unlimited reads whole bodies of the POSTs pred accepts and answers
// status: no 413, whatever the size.
func unlimited(pred func(*http.Request) bool, status int) func(subject) fixture {
	return wrap(func(subject) func(http.Handler) http.Handler {
		return when(func(r *http.Request) bool { return r.Method == http.MethodPost && pred(r) }, func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			jsonError(w, status, "refused", "", "not this body")
		})
	})
}

// acceptsName stores a bot whose name contains bad (the correct server
// answers the check's cleanup DELETE).
func acceptsName(bad string) func(subject) fixture {
	return wrap(func(subject) func(http.Handler) http.Handler {
		return when(func(r *http.Request) bool {
			if r.Method != http.MethodPost || r.URL.Path != "/api/v1/bots" || !authorized(r) {
				return false
			}
			var in struct{ Name string }
			return json.Unmarshal(bodyOf(r), &in) == nil && strings.Contains(in.Name, bad)
		}, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"id":"bot_aaaaaaaaaaaaaaaaaaaaaaaaaa"}`)
		})
	})
}

// acceptsHook answers 200 to a delivery to a well-formed bot id of
// platform whose body contains marker and whose headers unverified
// accepts: a webhook that does not verify what it is sent.
func acceptsHook(platform, marker string, unverified func(http.Header) bool) func(subject) fixture {
	return wrap(func(subject) func(http.Handler) http.Handler {
		return when(func(r *http.Request) bool {
			id, ok := strings.CutPrefix(r.URL.Path, "/hooks/"+platform+"/")
			return ok && r.Method == http.MethodPost && botID.MatchString(id) && unverified(r.Header) && bytes.Contains(bodyOf(r), []byte(marker))
		}, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok":true}`)
		})
	})
}

// hookID answers status to POSTs to the family's platform whose bot id
// pred accepts.
func hookID(pred func(id string) bool, status int) func(subject) fixture {
	return wrap(func(x subject) func(http.Handler) http.Handler {
		return when(func(r *http.Request) bool {
			id, ok := strings.CutPrefix(r.URL.Path, "/hooks/"+x.arg+"/")
			return ok && r.Method == http.MethodPost && pred(id)
		}, func(w http.ResponseWriter, r *http.Request) {
			jsonError(w, status, "refused", "", "refused")
		})
	})
}

func bearerOf(r *http.Request) string {
	v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	return v
}

// apiAnswers answers status to the API requests pred accepts, past (or
// before) authentication.
func apiAnswers(pred func(*http.Request) bool, status int) func(subject) fixture {
	return wrap(func(subject) func(http.Handler) http.Handler {
		return when(pred, func(w http.ResponseWriter, r *http.Request) {
			if status == http.StatusOK {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"data":[]}`)
				return
			}
			jsonError(w, status, "refused", "", http.StatusText(status))
		})
	})
}

// loginCookie sets cookie instead of the sign-in page's own.
func loginCookie(cookie string) func(subject) fixture {
	return wrap(func(subject) func(http.Handler) http.Handler {
		return editHeaders(func(r *http.Request) bool { return r.Method == http.MethodGet && r.URL.Path == "/login" }, func(_ *http.Request, h http.Header) {
			h.Set("Set-Cookie", cookie)
		})
	})
}

// reflectsHeader builds the pages' links from header when it is sent.
func reflectsHeader(header string) func(subject) fixture {
	return wrap(func(subject) func(http.Handler) http.Handler {
		return when(func(r *http.Request) bool { return r.Header.Get(header) != "" }, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `<link rel="canonical" href="https://%s%s">`, r.Header.Get(header), r.URL.Path)
		})
	})
}

// naive puts a front before the correct server that answers 200 to the
// requests whose framing accept matches.
func naive(accept func(framing) bool) func(subject) fixture {
	return func(subject) fixture { return fixture{naive: accept} }
}

// trusts counts the rate limit of API answers by header when a request
// carries it: each new value is a fresh budget.
func trusts(header string) func(subject) fixture {
	return wrap(func(subject) func(http.Handler) http.Handler {
		var mu sync.Mutex
		used := map[string]int{}
		return editHeaders(func(r *http.Request) bool { return r.Header.Get(header) != "" }, func(r *http.Request, h http.Header) {
			if h.Get("RateLimit") == "" {
				return
			}
			mu.Lock()
			used[r.Header.Get(header)]++
			n := used[r.Header.Get(header)]
			mu.Unlock()
			h.Set("RateLimit", fmt.Sprintf(`"api";r=%d;t=60`, 1000000-n))
		})
	})
}

// randomHex is a fresh random value for a cookie.
func randomHex() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// gatewayAnswers answers the gateway calls pred accepts with a model's
// answer: a gateway reachable from outside.
func gatewayAnswers(pred func(*http.Request) bool) func(subject) fixture {
	return wrap(func(subject) func(http.Handler) http.Handler {
		return when(func(r *http.Request) bool {
			return r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/gateway/") && pred(r)
		}, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"hello"}}]}`)
		})
	})
}

// signedWithin reports whether a gateway call's timestamp is within d of
// now.
func signedWithin(r *http.Request, d time.Duration) bool {
	ts, err := strconv.ParseInt(r.Header.Get("X-Palisade-Timestamp"), 10, 64)
	if err != nil {
		return false
	}
	age := time.Since(time.Unix(ts, 0))
	return age < d && age > -d
}

func keyedBots(r *http.Request) bool {
	return r.Method == http.MethodGet && r.URL.Path == "/api/v1/bots" && authorized(r)
}

func signInPost(r *http.Request) bool { return r.Method == http.MethodPost && r.URL.Path == "/login" }

// textLimit lets the correct server answer the requests pred accepts and
// turns its 429s into plain text.
func textLimit(pred func(*http.Request) bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !pred(r) {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			res := rec.Result()
			maps.Copy(w.Header(), res.Header)
			if res.StatusCode != http.StatusTooManyRequests {
				w.WriteHeader(res.StatusCode)
				_, _ = w.Write(rec.Body.Bytes())
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, "slow down")
		})
	}
}
