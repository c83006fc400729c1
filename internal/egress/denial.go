package egress

import (
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
)

// Reason says why a request was refused. The set is closed; metrics and the
// audit log may use it as a label.
type Reason string

const (
	// ReasonInvalidRequest: the URL is malformed or ambiguous (user info,
	// opaque URL, a Host header that differs from the URL, a non-ASCII or
	// malformed host, a bad port).
	ReasonInvalidRequest Reason = "invalid_request"
	// ReasonNoRule: no rule names the host.
	ReasonNoRule Reason = "no_rule"
	// ReasonScheme: the scheme is not https (or http where a rule allows it).
	ReasonScheme Reason = "scheme"
	// ReasonPort: a rule names the host, but not this port.
	ReasonPort Reason = "port"
	// ReasonMethod: a rule names the host and port, but not this method.
	ReasonMethod Reason = "method"
	// ReasonPath: no rule's path patterns match, or the path is unsafe.
	ReasonPath Reason = "path"
	// ReasonPrivateAddress: the address dialed (resolved or literal) is in
	// a refused range. Denial.Detail names the range.
	ReasonPrivateAddress Reason = "private_address"
	// ReasonRedirect: a redirect target is refused by the policy
	// (Denial.Detail holds the underlying reason) or there were too many.
	ReasonRedirect Reason = "redirect"
)

// Reasons lists every Reason, for metrics that pre-register their labels.
func Reasons() []Reason {
	return []Reason{
		ReasonInvalidRequest, ReasonNoRule, ReasonScheme, ReasonPort,
		ReasonMethod, ReasonPath, ReasonPrivateAddress, ReasonRedirect,
	}
}

// Denial describes one refused request. No field ever holds a full URL or
// an unredacted path: it is safe to log, count and write to the audit log.
type Denial struct {
	Reason Reason
	// Detail refines the reason: the address range for private_address
	// ("loopback", "private", "metadata", ...), the policy reason behind a
	// redirect refusal, or a short description of what was wrong.
	Detail string
	// Rule is the name of the rule that matched the host, if one did.
	Rule   string
	Method string
	Scheme string
	Host   string
	Port   int
	// Path is the request path after RedactPath.
	Path string
	// Address is the refused address for private_address denials.
	Address netip.Addr
}

// LogAttrs returns the denial as structured log attributes.
func (d Denial) LogAttrs() []slog.Attr {
	attrs := []slog.Attr{
		slog.String("reason", string(d.Reason)),
		slog.String("host", d.Host),
	}
	if d.Detail != "" {
		attrs = append(attrs, slog.String("detail", d.Detail))
	}
	if d.Rule != "" {
		attrs = append(attrs, slog.String("rule", d.Rule))
	}
	if d.Method != "" {
		attrs = append(attrs, slog.String("method", d.Method))
	}
	if d.Scheme != "" {
		attrs = append(attrs, slog.String("scheme", d.Scheme))
	}
	if d.Port != 0 {
		attrs = append(attrs, slog.Int("port", d.Port))
	}
	if d.Path != "" {
		attrs = append(attrs, slog.String("path", d.Path))
	}
	if d.Address.IsValid() {
		attrs = append(attrs, slog.String("address", d.Address.String()))
	}
	return attrs
}

// DenialError is the error returned for every refused request; test for it
// with errors.As.
type DenialError struct {
	Denial Denial
}

func (e *DenialError) Error() string {
	d := e.Denial
	var b strings.Builder
	b.WriteString("egress: request denied: ")
	b.WriteString(string(d.Reason))
	if d.Detail != "" {
		b.WriteString(" (")
		b.WriteString(d.Detail)
		b.WriteString(")")
	}
	b.WriteString(":")
	if d.Method != "" {
		b.WriteString(" ")
		b.WriteString(d.Method)
	}
	b.WriteString(" ")
	if d.Scheme != "" {
		b.WriteString(d.Scheme)
		b.WriteString("://")
	}
	b.WriteString(d.Host)
	if d.Port != 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(d.Port))
	}
	b.WriteString(d.Path)
	if d.Address.IsValid() {
		b.WriteString(" address ")
		b.WriteString(d.Address.String())
	}
	if d.Rule != "" {
		b.WriteString(" rule ")
		b.WriteString(strconv.Quote(d.Rule))
	}
	return b.String()
}

// maxKeptSegment bounds the segments RedactPath keeps: long ones are more
// likely to be identifiers or credentials than API method names.
const maxKeptSegment = 32

// RedactPath returns an escaped path with every segment that could carry an
// identifier or a credential replaced by "*". A segment is kept only when it
// is at most 32 characters of ASCII letters, '.', '_' and '-', with no digit:
// API method names ("sendMessage", "chat.postMessage", "completions") stay
// readable, while tokens ("bot123:AA..."), ids, versions and anything
// percent-encoded do not survive. The query string is never included.
func RedactPath(escapedPath string) string {
	if escapedPath == "" {
		return "/"
	}
	if i := strings.IndexAny(escapedPath, "?#"); i >= 0 {
		escapedPath = escapedPath[:i]
	}
	segs := strings.Split(strings.TrimPrefix(escapedPath, "/"), "/")
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		if keepSegment(s) {
			b.WriteString(s)
		} else if s != "" {
			b.WriteByte('*')
		}
	}
	return b.String()
}

func keepSegment(s string) bool {
	if s == "" || len(s) > maxKeptSegment {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
