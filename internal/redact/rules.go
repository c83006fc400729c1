package redact

import (
	"encoding/base64"
	"regexp"
	"strings"
)

// A rule finds one format of secret. Its regexp is run only when the
// lower-cased text contains one of its keywords (or pre accepts it), so a
// typical log line costs a few substring searches rather than dozens of
// regexp scans. The secret is the first capture group that took part in the
// match, or the whole match for a pattern without groups; everything else the
// pattern matches (key names, delimiters) is context and stays.
type rule struct {
	kind     string
	pattern  string
	keywords []string
	kwIdx    []int // keywords as indexes into the Redactor's keywordIndex
	pre      func(s, lower string) bool
	// onLower runs the regexp over the ASCII-lower-cased text (same byte
	// offsets) so that a case-insensitive pattern can start with a literal,
	// which Go's regexp finds with a fast substring search.
	onLower bool
	// accept, when set, filters candidate secrets: s[start:end] is the
	// whole match, secret the part to replace.
	accept func(s string, start, end int, secret string) bool
	re     *regexp.Regexp
}

// delimiter is gitleaks' "followed by a delimiter" guard (protocols.md §7).
const delimiter = `(?:[\x60'"\s;]|\\[nr]|$)`

// The looser patterns have no boundary before the key at all: \b misses a
// key glued to a word ("/bot123:AAH…", "…\nsk-proj-…"), and a redacted
// identifier costs less than a leaked key.

// trail ends a fixed-alphabet key: the next character is not part of it.
const trail = `(?:[^A-Za-z0-9]|$)`

// base64Run is one character of a base64 secret, also when URL-escaped.
const base64Run = `(?:[A-Za-z0-9+/=_-]|%2[BbFf]|%3[Dd])`

// value matches the value after a key and a separator, in the forms log text
// takes: an escaped JSON string inside JSON (\"...\"), a quoted string, a
// single-quoted string, a bracketed list (fmt of http.Header) or a bare run.
// Each form has one capture group, so the value is the first group that took
// part in the match.
const (
	quotedValue = `\\"((?:[^"\\]|\\[^"])*)\\"|"((?:[^"\\]|\\.)*)"|'([^'\r\n]*)'|\[([^\]\r\n]*)\]`
	// A bare value of a key=value pair ends at the usual delimiters.
	kvValue = `(?:` + quotedValue + `|([^\s"'\\&,;}\])\[][^\s"'\\&,;}\])\[]*))`
	// A header value runs to the end of the line: "Authorization: Basic x".
	headerValue = `(?:` + quotedValue + `|([^\s"'\\\[][^"'\\\r\n]*))`
	// key then separator, also inside JSON and escaped JSON.
	separator = `(?:\\?["'])?\s*[:=]\s*`
)

// sensitiveWords are the endings of attribute and field names whose whole
// value is a secret, in normalized form (lower case, letters and digits
// only): "X-Api-Key", "api_key" and "apiKey" all end in "apikey".
func sensitiveWords() []string {
	return []string{
		"password", "passwd", "passphrase", "secret", "token", "apikey",
		"authorization", "cookie", "credential", "credentials", "privatekey",
		"accesskey", "secretkey", "masterkey", "signingkey",
	}
}

// builtinRules returns the patterns every Redactor uses. They are the secret
// formats of protocols.md §7, copied exactly, each followed where useful by a
// looser variant: gitleaks' guards and \b anchors miss keys inside URLs
// (…?key=AIza…&alt=sse, /bot123:AAH…/sendMessage), and for redaction a
// superset is what we want.
func builtinRules() []rule {
	anyOf := func(words ...string) []string { return words }
	return []rule{
		// OpenAI.
		{kind: "openai", keywords: anyOf("t3blbkfj"),
			pattern: `\b(sk-(?:proj|svcacct|admin)-(?:[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58})T3BlbkFJ(?:[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58})\b|sk-[a-zA-Z0-9]{20}T3BlbkFJ[a-zA-Z0-9]{20})` + delimiter},
		{kind: "openai", keywords: anyOf("sk-proj-", "sk-svcacct-", "sk-admin-"),
			pattern: `sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}`},
		{kind: "openai", keywords: anyOf("t3blbkfj"),
			pattern: `sk-[A-Za-z0-9_-]{8,}T3BlbkFJ[A-Za-z0-9_-]{8,}`},
		// Anthropic.
		{kind: "anthropic", keywords: anyOf("sk-ant-"),
			pattern: `\b(sk-ant-api03-[a-zA-Z0-9_\-]{93}AA)` + delimiter},
		{kind: "anthropic", keywords: anyOf("sk-ant-"),
			pattern: `\b(sk-ant-admin01-[a-zA-Z0-9_\-]{93}AA)` + delimiter},
		{kind: "anthropic", keywords: anyOf("sk-ant-"),
			pattern: `sk-ant-[A-Za-z0-9_-]{20,}`},
		// Other sk- keys of OpenAI-compatible providers (DeepSeek, legacy
		// OpenAI): long enough not to be a word.
		{kind: "api-key", keywords: anyOf("sk-"),
			pattern: `(sk-[A-Za-z0-9]{32,})` + trail},
		// Google (Gemini, AI Studio).
		{kind: "google", keywords: anyOf("aiza"),
			pattern: `\b(AIza[\w-]{35})` + delimiter},
		{kind: "google", keywords: anyOf("aiza"),
			pattern: `AIza[A-Za-z0-9_-]{35}`},
		// Groq and NVIDIA.
		{kind: "groq", keywords: anyOf("gsk_"),
			pattern: `\b(gsk_[a-zA-Z0-9]{52})\b`},
		{kind: "groq", keywords: anyOf("gsk_"),
			pattern: `gsk_[A-Za-z0-9]{52}`},
		{kind: "nvidia", keywords: anyOf("nvapi-"),
			pattern: `\b(nvapi-[a-zA-Z0-9_-]{64})\b`},
		{kind: "nvidia", keywords: anyOf("nvapi-"),
			pattern: `nvapi-[A-Za-z0-9_-]{64}`},
		// Telegram. gitleaks' rule needs a "telegr" keyword before the token
		// and everything it finds this context-free one finds too, at a
		// tenth of the cost, so it is left out. No \b before the digits, so
		// that /bot123:AAH…/sendMessage is caught; also URL-escaped.
		{kind: "telegram", pre: hasTelegramColon,
			pattern: `[0-9]{5,16}(?::|%3[Aa])A[A-Za-z0-9_-]{34,}`},
		// Slack.
		{kind: "slack", keywords: anyOf("xoxb-"), pattern: `xoxb-[0-9]{10,13}-[0-9]{10,13}[a-zA-Z0-9-]*`},
		{kind: "slack", keywords: anyOf("xoxb-"), pattern: `xoxb-[0-9]{8,14}-[a-zA-Z0-9]{18,26}`},
		{kind: "slack", keywords: anyOf("xoxp-", "xoxe-"), pattern: `xox[pe](?:-[0-9]{10,13}){3}-[a-zA-Z0-9-]{28,34}`},
		{kind: "slack", keywords: anyOf("xapp-"), pattern: `(?i)xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+`},
		{kind: "slack", keywords: anyOf("xoxe"), pattern: `(?i)xoxe.xox[bp]-\d-[A-Z0-9]{163,166}`},
		{kind: "slack", keywords: anyOf("xoxe-"), pattern: `(?i)xoxe-\d-[A-Z0-9]{146}`},
		{kind: "slack", keywords: anyOf("xoxo-", "xoxs-"), pattern: `xox[os]-\d+-\d+-\d+-[a-fA-F\d]+`},
		{kind: "slack", keywords: anyOf("xoxa-", "xoxr-"), pattern: `xox[ar]-(?:\d-)?[0-9a-zA-Z]{8,48}`},
		{kind: "slack", keywords: anyOf("hooks.slack.com"),
			pattern: `(?:https?://)?hooks.slack.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,56}`},
		{kind: "slack", keywords: anyOf("hooks.slack.com"),
			pattern: `hooks\.slack\.com(?:/|%2[Ff])(?:services|workflows|triggers)(?:/|%2[Ff])(?:[A-Za-z0-9+/]|%2[BbFf])+`},
		{kind: "slack", keywords: anyOf("xox"),
			pattern: `(?i)` + `(xox[a-z](?:\.xox[a-z])?-[A-Za-z0-9-]{10,})`},
		// GitHub.
		{kind: "github", keywords: anyOf("ghp_"), pattern: `ghp_[0-9a-zA-Z]{36}`},
		{kind: "github", keywords: anyOf("github_pat_"), pattern: `github_pat_\w{82}`},
		{kind: "github", keywords: anyOf("gho_"), pattern: `gho_[0-9a-zA-Z]{36}`},
		{kind: "github", keywords: anyOf("ghu_", "ghs_"), pattern: `(?:ghu|ghs)_[0-9a-zA-Z]{36}`},
		{kind: "github", keywords: anyOf("ghr_"), pattern: `ghr_[0-9a-zA-Z]{36}`},
		{kind: "github", keywords: anyOf("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
			pattern: `gh[pousr]_[0-9a-zA-Z]{30,}|github_pat_\w{40,}`},
		// Stripe.
		{kind: "stripe", keywords: anyOf("k_test_", "k_live_", "k_prod_"),
			pattern: `\b((?:sk|rk)_(?:test|live|prod)_[a-zA-Z0-9]{10,99})` + delimiter},
		{kind: "stripe", keywords: anyOf("k_test_", "k_live_", "k_prod_"),
			pattern: `(?:sk|rk)_(?:test|live|prod)_[A-Za-z0-9]{10,}`},
		// AWS. The bare secret access key pattern is too broad to redact
		// blindly; named it is caught by the key=value rule below.
		{kind: "aws", keywords: anyOf("a3t", "akia", "asia", "abia", "acca"),
			pattern: `\b((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b`},
		{kind: "aws", keywords: anyOf("akia", "abia", "acca"),
			pattern: `\b((?:AKIA|ABIA|ACCA)[A-Z0-9]{16})\b`},
		{kind: "aws", keywords: anyOf("absk"),
			pattern: `\b(ABSK[A-Za-z0-9+/]{109,269}={0,2})` + delimiter},
		{kind: "aws", keywords: anyOf("a3t", "akia", "asia", "abia", "acca"),
			pattern: `((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})` + trail},
		{kind: "aws", keywords: anyOf("absk"),
			pattern: `ABSK` + base64Run + `{109,}`},
		// Hugging Face.
		{kind: "huggingface", keywords: anyOf("hf_"),
			pattern: `\b(hf_(?i:[a-z]{34}))` + delimiter},
		{kind: "huggingface", keywords: anyOf("hf_"),
			pattern: `hf_[A-Za-z0-9]{34,}`},
		// Our own API keys: pal_ + at least 256 bits (R2).
		{kind: "palisade", keywords: anyOf("pal_"),
			pattern: `pal_[A-Za-z0-9_-]{20,}`, accept: acceptGluedRandom},
		// Standard Webhooks (Polar, Stripe) secrets and Polar tokens.
		{kind: "webhook-secret", keywords: anyOf("whsec_"),
			pattern: `whsec_` + base64Run + `{16,}`},
		{kind: "polar", keywords: anyOf("polar_"),
			pattern: `polar_[a-z]{2,4}_[A-Za-z0-9_-]{16,}`},
		// Meta (WhatsApp) access tokens: EAA then a long alphanumeric run.
		{kind: "meta", keywords: anyOf("eaa"),
			pattern: `EAA[A-Za-z0-9]{50,}`},
		// Discord bot tokens: base64 id, timestamp, HMAC.
		{kind: "discord", pre: hasDiscordShape,
			pattern: `[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}`},
		// JSON Web Tokens (OAuth access and id tokens).
		{kind: "jwt", keywords: anyOf("eyj"),
			pattern: `eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`},
		// PEM private keys, also when cut off before their END line.
		{kind: "private-key", keywords: anyOf("private key-----"),
			pattern: `-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----(?:[\s\S]*?-----END[A-Z0-9 ]*PRIVATE KEY-----|[\s\S]*)`},
		// Credentials in URLs: scheme://user:PASSWORD@host.
		{kind: "", pre: hasURLUserinfo,
			pattern: `[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s:@]*:([^/?#\s]+)@`},
		// Header-like values that are credentials as a whole
		// (Proxy-Authorization and Set-Cookie end the same way).
		{kind: "", keywords: anyOf("authorization"), onLower: true,
			pattern: `authorization` + separator + headerValue},
		{kind: "", keywords: anyOf("cookie"), onLower: true,
			pattern: `cookie` + separator + headerValue},
		// Bearer and Basic credentials wherever they appear. In prose
		// ("missing bearer token") the word after them is not a secret.
		{kind: "bearer", keywords: anyOf("bearer"), onLower: true,
			pattern: `\bbearer[ \t]+([^\s"'<>,;\\\]\[]+)`, accept: acceptBearer},
		{kind: "basic", keywords: anyOf("basic"), onLower: true,
			pattern: `\bbasic[ \t]+([a-z0-9+/]{4,}={0,2})`, accept: acceptBasic},
	}
}

// keyValueRules find key=value, "key": "value" and Key: value pairs whose
// key ends in a sensitive word, one rule per spelling of the word: a
// pattern that starts with a literal is a hundred times faster in Go's
// regexp than one alternation of them all.
func keyValueRules() []rule {
	var words []string
	for _, w := range sensitiveWords() {
		switch w {
		case "authorization", "cookie":
			continue // header rules, whose values run to the end of the line
		case "credential":
			continue // a prefix of "credentials": that rule takes the s as optional
		}
		words = append(words, w)
	}
	var rules []rule
	for _, w := range words {
		spellings := []string{w}
		if first, ok := strings.CutSuffix(w, "key"); ok && first != "" {
			// apikey is also api_key, api-key and api.key.
			for _, sep := range []string{"_", "-", "."} {
				spellings = append(spellings, first+sep+"key")
			}
		}
		for _, sp := range spellings {
			lit := regexp.QuoteMeta(sp)
			if sp == "credentials" {
				lit = "credentials?"
				sp = "credential"
			}
			rules = append(rules, rule{kind: "", keywords: []string{sp}, onLower: true,
				pattern: lit + separator + kvValue})
		}
	}
	return rules
}

// hasTelegramColon is the prefilter of the Telegram rule: the colon and the
// A that starts every token's secret half.
func hasTelegramColon(s, _ string) bool {
	return strings.Contains(s, ":A") || strings.Contains(s, "%3AA") || strings.Contains(s, "%3aA")
}

// hasURLUserinfo is the prefilter of the URL password rule.
func hasURLUserinfo(s, _ string) bool {
	return strings.Contains(s, "@") && strings.Contains(s, "://")
}

// acceptGluedRandom keeps a short prefix like pal_ from redacting
// identifiers that merely contain it ("principal_workspace_membership"):
// glued to a word, the key must look random (a digit and an upper-case
// letter, which 256 random bits in base64url all but always have).
func acceptGluedRandom(s string, start, _ int, secret string) bool {
	if start == 0 || !isAlnum(s[start-1]) {
		return true
	}
	var digit, upper bool
	for i := 0; i < len(secret); i++ {
		c := secret[i]
		digit = digit || c >= '0' && c <= '9'
		upper = upper || c >= 'A' && c <= 'Z'
	}
	return digit && upper
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// acceptBearer takes anything after the exact header spelling "Bearer ",
// and otherwise only what looks like a token rather than a word.
func acceptBearer(s string, start, _ int, secret string) bool {
	if strings.HasPrefix(s[start:], "Bearer") {
		return true
	}
	return looksLikeToken(secret)
}

// acceptBasic takes only base64 of user:password, so that "basic auth
// failed" is left alone.
func acceptBasic(_ string, _, _ int, secret string) bool {
	b, err := base64.StdEncoding.DecodeString(secret)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(secret)
	}
	return err == nil && strings.IndexByte(string(b), ':') >= 0
}

// looksLikeToken tells a credential from an English word: tokens carry
// digits or punctuation, or are longer than words are.
func looksLikeToken(s string) bool {
	if len(s) < 8 {
		return false
	}
	if len(s) >= 20 {
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return true
		}
	}
	return false
}

// hasDiscordShape is the prefilter of the Discord rule, which has no literal
// to search for: it looks for ".xxxxxx." (the six-character timestamp part).
func hasDiscordShape(_, s string) bool {
	for i := strings.IndexByte(s, '.'); i >= 0 && i+7 < len(s); {
		if i >= 23 && s[i+7] == '.' && allTokenChars(s[i+1:i+7]) && allTokenChars(s[i-23:i]) {
			return true
		}
		j := strings.IndexByte(s[i+1:], '.')
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}

func allTokenChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
