package probe

import (
	"fmt"
	"strings"
)

// Severity is how much a failure of a check weakens a deployment.
type Severity string

// The severities, from a hint to a hole an attacker walks through.
const (
	Info     Severity = "info"
	Low      Severity = "low"
	Medium   Severity = "medium"
	High     Severity = "high"
	Critical Severity = "critical"
)

// Severities lists every severity, mildest first.
func Severities() []Severity { return []Severity{Info, Low, Medium, High, Critical} }

// family describes the checks of one category whose names start with
// prefix: what they prove, how bad a failure is, and the OWASP ASVS 5.0
// requirement or CWE they verify.
type family struct {
	category, prefix string
	severity         Severity
	reference        string
	description      string
}

// families describes the checks built in loops (one per route, per path,
// per channel), which would otherwise repeat the same three fields in
// every constructor. The first matching prefix wins, so longer prefixes
// come first where two overlap.
var families = []family{
	{CatHeaders, "csp-script-nonce", High, "V3.4.3", "Content-Security-Policy lets scripts run only with a per-response nonce (no unsafe-inline, unsafe-eval or wildcard)"},
	{CatHeaders, "csp-frame-ancestors-none", Medium, "V3.4.6", "Content-Security-Policy frame-ancestors 'none': no site can frame the page"},
	{CatHeaders, "csp-object-src-none", Medium, "V3.4.3", "Content-Security-Policy object-src 'none'"},
	{CatHeaders, "csp-base-uri-none", Medium, "V3.4.3", "Content-Security-Policy base-uri 'none': an injected <base> cannot redirect relative URLs"},
	{CatHeaders, "csp-nonce-fresh-per-response", High, "CWE-330", "two answers carry two different CSP nonces"},
	{CatHeaders, "x-frame-options-deny", Low, "V3.4.6", "X-Frame-Options: DENY for browsers without frame-ancestors"},
	{CatHeaders, "nosniff", Low, "V3.4.4", "X-Content-Type-Options: nosniff"},
	{CatHeaders, "hsts", Medium, "V3.4.1", "Strict-Transport-Security of at least a year over HTTPS, absent over plain HTTP"},
	{CatHeaders, "referrer-policy", Low, "V3.4.5", "a Referrer-Policy that does not leak paths to other sites"},
	{CatHeaders, "permissions-policy", Low, "CWE-693", "Permissions-Policy denies camera, microphone and geolocation"},
	{CatHeaders, "coop-same-origin", Low, "CWE-1021", "Cross-Origin-Opener-Policy: same-origin"},
	{CatHeaders, "corp-same-origin", Low, "CWE-693", "Cross-Origin-Resource-Policy: same-origin"},
	{CatHeaders, "cache-control-no-store", Medium, "CWE-525", "per-request answers carry Cache-Control: no-store"},

	{CatDisclosure, "git-", High, "V13.4.1", "the Git metadata is not served"},
	{CatDisclosure, "svn-", High, "V13.4.1", "the Subversion metadata is not served"},
	{CatDisclosure, "hg-", High, "V13.4.1", "the Mercurial metadata is not served"},
	{CatDisclosure, "no-directory-listing", Medium, "V13.4.3", "no directory is listed"},
	{CatDisclosure, "no-version-banner", Low, "V13.4.6", "no Server, X-Powered-By or version string names the software"},
	{CatDisclosure, "no-stack-trace", Medium, "V16.5.1", "a malformed request gets a generic refusal, no stack trace and no 5xx"},
	{CatDisclosure, "dotenv", Critical, "V13.4.7", "no environment file is served"},
	{CatDisclosure, "master-key", Critical, "V13.4.7", "no master key file is served"},
	{CatDisclosure, "ssh-key", Critical, "V13.4.7", "no SSH private key is served"},
	{CatDisclosure, "tls-key", Critical, "V13.4.7", "no TLS private key is served"},
	{CatDisclosure, "aws-credentials", Critical, "V13.4.7", "no cloud credentials file is served"},
	{CatDisclosure, "npmrc", High, "V13.4.7", "no package registry credentials file is served"},
	{CatDisclosure, "sqlite-", Critical, "V13.4.7", "the SQLite database is not served"},
	{CatDisclosure, "data-dir-database", Critical, "V13.4.7", "the data directory's database is not served"},
	{CatDisclosure, "sql-dump", Critical, "V13.4.7", "no database dump is served"},
	{CatDisclosure, "backup-", High, "V13.4.7", "no backup archive is served"},
	{CatDisclosure, "config-", High, "V13.4.7", "no configuration file is served"},
	{CatDisclosure, "limits-yaml", Medium, "V13.4.7", "the rate-limit configuration is not served"},
	{CatDisclosure, "docker-compose", Medium, "V13.4.7", "no deployment file is served"},
	{CatDisclosure, "ds-store", Low, "V13.4.7", "no .DS_Store file listing is served"},
	{CatDisclosure, "go-mod", Low, "V13.4.7", "the source tree's go.mod is not served"},

	{CatDebug, "not-public", High, "V13.4.5", "no debug, metrics or API explorer endpoint answers on the public address"},
	{CatDebug, "openapi-document-public", Info, "V13.4.5", "the API description, when public, is the intended one and names no internals"},

	{CatMethods, "trace-refused", Medium, "V13.4.4", "TRACE is refused and does not echo the request"},
	{CatMethods, "track-refused", Medium, "V13.4.4", "TRACK is refused and does not echo the request"},
	{CatMethods, "options-without-cors", Low, "V4.1.4", "OPTIONS without an Origin grants no CORS"},
	{CatMethods, "", Low, "V4.1.4", "an unsupported method is refused"},

	{CatCORS, "", High, "V3.4.2", "a foreign, null or look-alike Origin is not granted CORS"},

	{CatBody, "over-1mib", Medium, "CWE-770", "a body over 1 MiB is refused with 413 before it is read"},
	{CatBody, "null-byte", Medium, "CWE-158", "a NUL byte in a JSON field is refused, not stored"},
	{CatBody, "", Low, "CWE-150", "a control character in a JSON field is refused, not stored"},

	{CatWebhook, "", Critical, "CWE-345", "a webhook delivery without the channel's secret or signature is refused, and refusals look alike"},

	{CatAuth, "malformed-and-unknown-key-same-answer", Medium, "CWE-204", "a malformed and an unknown key get the same answer"},
	{CatAuth, "key-in-query-ignored", Medium, "CWE-598", "an API key in the query string is not accepted"},
	{CatAuth, "wrong-shape-id", Low, "CWE-20", "an id of the wrong kind is refused"},
	{CatAuth, "unknown-id", Low, "CWE-20", "an id naming nothing is 404"},
	{CatAuth, "key-works", Info, "CWE-287", "the API key given works, so the keyed checks prove something"},
	{CatAuth, "", Critical, "CWE-287", "the API refuses a request without a valid API key"},

	{CatCookies, "host-prefix", Medium, "V3.3.3", "cookies are named __Host-"},
	{CatCookies, "secure", Medium, "V3.3.1", "cookies are Secure"},
	{CatCookies, "httponly", Medium, "V3.3.4", "cookies are HttpOnly"},
	{CatCookies, "samesite", Medium, "V3.3.2", "cookies are SameSite Lax or Strict"},
	{CatCookies, "path-root-no-domain", Low, "V3.3.3", "cookies have Path=/ and no Domain"},

	{CatHost, "foreign-host", Medium, "CWE-20", "a foreign Host header is not used in redirects or links"},
	{CatHost, "", Medium, "V4.1.3", "a forwarding header naming another host is not reflected (cache poisoning)"},

	{CatRedirect, "", Medium, "V3.7.2", "a redirect parameter cannot send the browser off the site"},

	{CatInjection, "script-", High, "CWE-79", "a script in the input is not reflected unescaped"},
	{CatInjection, "sql-", High, "CWE-89", "SQL syntax in the input causes no error"},
	{CatInjection, "crlf-", High, "CWE-113", "CR LF in the path cannot inject a header"},
	{CatInjection, "path-traversal", Critical, "CWE-22", "an encoded ../ serves nothing outside the static root"},

	{CatSmuggling, "", High, "V4.2.1", "a request with ambiguous framing is refused, not guessed"},

	{CatProxyTrust, "", High, "V4.1.3", "a forwarding header from the client does not change its rate-limit identity"},
}

// annotate fills a check's severity, reference and description from its
// family where the constructor left them empty, and appends the route a
// looped check covers to the description.
func annotate(c Check) Check {
	if c.Severity != "" && c.Reference != "" && c.Description != "" {
		return c
	}
	base, route, _ := strings.Cut(c.Name, " ")
	for _, f := range families {
		if f.category != c.Category {
			continue
		}
		if !strings.HasPrefix(base, f.prefix) && !strings.HasPrefix(strings.TrimPrefix(base, webhookKind(base)), f.prefix) {
			continue
		}
		if c.Severity == "" {
			c.Severity = f.severity
		}
		if c.Reference == "" {
			c.Reference = f.reference
		}
		if c.Description == "" {
			c.Description = f.description
			if route != "" {
				c.Description += fmt.Sprintf(", on %s", route)
			}
		}
		break
	}
	return c
}

// webhookKind is the channel prefix of a webhook check's name ("slack-"),
// so a family can describe one check for every channel.
func webhookKind(name string) string {
	for _, k := range []string{"telegram-", "slack-", "whatsapp-", "discord-"} {
		if strings.HasPrefix(name, k) {
			return k
		}
	}
	return ""
}
