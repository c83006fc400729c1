package validate

import (
	"io/fs"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Charset is the set of ASCII characters a Token may contain.
type Charset string

// Charsets of the tokens Palisade handles.
const (
	Digits       Charset = "0123456789"
	HexLower     Charset = "0123456789abcdef"
	Alphanumeric Charset = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	// Base64URL is the unpadded URL-safe base64 alphabet.
	Base64URL Charset = Alphanumeric + "-_"
	// Base32Lower is the alphabet of Palisade's ids.
	Base32Lower Charset = "abcdefghijklmnopqrstuvwxyz234567"
)

func (c Charset) describe() string {
	switch c {
	case Digits:
		return "digits"
	case HexLower:
		return "lowercase hexadecimal digits"
	case Alphanumeric:
		return "ASCII letters and digits"
	case Base64URL:
		return "ASCII letters, digits, '-' and '_'"
	case Base32Lower:
		return "lowercase letters and the digits 2 to 7"
	}
	if len(c) <= 16 {
		return "the characters " + strconv.Quote(string(c))
	}
	return "the accepted characters"
}

// Token checks a machine token (a verification code, a key prefix, an
// opaque state): between min and max characters, all from charset.
func Token(field, s string, charset Charset, min, max int) error {
	if len(s) < min {
		if min == 1 {
			return errorf(field, "must not be empty")
		}
		return errorf(field, "must be at least %d characters", min)
	}
	if len(s) > max {
		return errorf(field, "must be at most %d characters", max)
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || strings.IndexByte(string(charset), s[i]) < 0 {
			return errorf(field, "must contain only %s", charset.describe())
		}
	}
	return nil
}

// Slug checks a URL-safe handle: lowercase ASCII letters and digits in
// groups joined by single hyphens ("acme", "acme-support-2"), at most max
// characters.
func Slug(field, s string, max int) error {
	if s == "" {
		return errorf(field, "must not be empty")
	}
	if len(s) > max {
		return errorf(field, "must be at most %d characters", max)
	}
	prevHyphen := true // so a leading hyphen is refused
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
			prevHyphen = false
		case c == '-' && !prevHyphen:
			prevHyphen = true
		default:
			return errorf(field, "must be lowercase letters and digits separated by single hyphens")
		}
	}
	if prevHyphen {
		return errorf(field, "must not end with a hyphen")
	}
	return nil
}

// Limits of e-mail addresses (RFC 5321) and host names (RFC 1035).
const (
	maxEmail     = 254
	maxLocalPart = 64
	maxHost      = 253
	maxLabel     = 63
)

// Email checks an e-mail address in the plain form every mail system
// accepts: an unquoted dot-atom local part and a DNS host name with a dot.
// Quoted local parts, comments, IP-literal domains and non-ASCII addresses
// are refused; they are legal but serve no user and hide tricks.
func Email(field, s string) error {
	if s == "" {
		return errorf(field, "must not be empty")
	}
	if len(s) > maxEmail {
		return errorf(field, "must be at most %d characters", maxEmail)
	}
	if err := checkText(field, s, maxEmail, rules{}); err != nil {
		return err
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || strings.Contains(domain, "@") {
		return errorf(field, "must be an e-mail address like name@example.com")
	}
	if local == "" || len(local) > maxLocalPart || local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return errorf(field, "must be an e-mail address like name@example.com")
	}
	for i := 0; i < len(local); i++ {
		if !isAtext(local[i]) && local[i] != '.' {
			return errorf(field, "must be an e-mail address like name@example.com")
		}
	}
	if !validHostname(strings.ToLower(domain)) {
		return errorf(field, "must be an e-mail address like name@example.com")
	}
	return nil
}

// isAtext reports RFC 5322 atext characters.
func isAtext(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// validHostname accepts lowercase DNS names of at least two labels of
// letters, digits and inner hyphens, whose last label is not all digits (so
// no IPv4 address passes as a name). IDNs must be in punycode ("xn--").
func validHostname(h string) bool {
	if h == "" || len(h) > maxHost {
		return false
	}
	labels := strings.Split(h, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > maxLabel || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}

// Domain checks an allowed domain of a widget: a lowercase host name
// ("shop.example.com") or an https origin ("https://shop.example.com",
// "https://shop.example.com:8443"), exactly as the browser will send it in
// an Origin header. No wildcards, paths, IP addresses or plain http; these
// values go into CSP frame-ancestors and exact CORS matches, so anything
// looser widens who may embed a bot.
func Domain(field, s string) error {
	if s == "" {
		return errorf(field, "must not be empty")
	}
	if err := checkText(field, s, 300, rules{}); err != nil {
		return err
	}
	host, isOrigin := strings.CutPrefix(s, "https://")
	if !isOrigin && strings.Contains(s, "://") {
		return errorf(field, "must be a host name or an https:// origin")
	}
	if isOrigin {
		if strings.ContainsAny(host, "/?#@") {
			return errorf(field, "must be an origin without a path, query or user")
		}
		if h, port, ok := strings.Cut(host, ":"); ok {
			if !validPort(port) {
				return errorf(field, "must have a port between 1 and 65535")
			}
			host = h
		}
	}
	if strings.Contains(host, "*") {
		return errorf(field, "must not contain wildcards")
	}
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 {
			return errorf(field, "must be ASCII (write international names in punycode, xn--)")
		}
		if 'A' <= host[i] && host[i] <= 'Z' {
			return errorf(field, "must be lowercase")
		}
	}
	if !validHostname(host) {
		return errorf(field, "must be a host name like shop.example.com")
	}
	return nil
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 || p[0] == '0' {
		return false
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && strings.Trim(p, "0123456789") == ""
}

// URLOptions loosens URL. The zero value is the strict default.
type URLOptions struct {
	// AllowHTTP accepts http:// besides https:// (a local model server).
	AllowHTTP bool
	// MaxLength in bytes; 0 means 2048.
	MaxLength int
}

// URL checks an absolute URL the platform will call or link to: https (or
// http when allowed), a host name or IP address, an optional port, no user
// information, ASCII only (non-ASCII must be percent-encoded, names in
// punycode), no spaces or backslashes, at most MaxLength bytes. Whether the
// address may be reached is for the egress policy to decide at dial time.
func URL(field, s string, opts URLOptions) error {
	max := opts.MaxLength
	if max <= 0 {
		max = 2048
	}
	if s == "" {
		return errorf(field, "must not be empty")
	}
	if len(s) > max {
		return errorf(field, "must be at most %d characters", max)
	}
	if err := checkText(field, s, max, rules{}); err != nil {
		return err
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f {
			return errorf(field, "must be ASCII without spaces (percent-encode anything else)")
		}
		if c == '\\' {
			return errorf(field, "must not contain backslashes")
		}
	}
	if _, rest, ok := strings.Cut(s, "://"); ok {
		authority := rest
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			authority = rest[:i]
		}
		if strings.Contains(authority, "%") {
			return errorf(field, "must not percent-encode the host")
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" {
		return errorf(field, "must be an absolute URL like https://example.com/path")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && opts.AllowHTTP:
	case opts.AllowHTTP:
		return errorf(field, "must start with https:// or http://")
	default:
		return errorf(field, "must start with https://")
	}
	if !strings.HasPrefix(s, u.Scheme+"://") {
		return errorf(field, "must be an absolute URL like https://example.com/path")
	}
	if u.User != nil {
		return errorf(field, "must not contain a user name or password")
	}
	host := u.Hostname()
	if host == "" {
		return errorf(field, "must name a host")
	}
	if port := u.Port(); port != "" && !validPort(port) {
		return errorf(field, "must have a port between 1 and 65535")
	}
	if strings.HasSuffix(u.Host, ":") {
		return errorf(field, "must have a port between 1 and 65535")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return errorf(field, "must not contain an IPv6 zone")
		}
		if strings.Contains(u.Host, "[") != a.Is6() {
			return errorf(field, "must name a host")
		}
		return nil
	}
	if !validHostname(strings.ToLower(host)) {
		if strings.Trim(host, "0123456789.") == "" {
			return errorf(field, "must name a host (this is not a valid IPv4 address)")
		}
		return errorf(field, "must name a host like example.com")
	}
	return nil
}

// Limits of a relative path.
const (
	maxPath        = 1024
	maxPathSegment = 255
)

// Path checks a relative, slash-separated path (a knowledge document's
// name in an archive, a static asset): no "..", "." or empty segments, no
// leading or trailing slash, no backslashes, colons or percent signs (so
// neither Windows forms nor encoded traversal like "..%2f" get through), at
// most 1024 bytes and 255 per segment.
func Path(field, s string) error {
	if s == "" {
		return errorf(field, "must not be empty")
	}
	if len(s) > maxPath {
		return errorf(field, "must be at most %d bytes", maxPath)
	}
	if err := checkText(field, s, maxPath, rules{}); err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(s, "/"):
		return errorf(field, "must be a relative path")
	case strings.Contains(s, "\\"):
		return errorf(field, "must not contain backslashes")
	case strings.Contains(s, "%"):
		return errorf(field, "must not contain percent-encoding")
	case strings.Contains(s, ":"):
		return errorf(field, "must not contain colons")
	}
	for seg := range strings.SplitSeq(s, "/") {
		switch {
		case seg == "..":
			return errorf(field, "must not contain '..'")
		case seg == "." || seg == "":
			return errorf(field, "must not contain empty or '.' segments")
		case len(seg) > maxPathSegment:
			return errorf(field, "must have segments of at most %d bytes", maxPathSegment)
		}
	}
	if !fs.ValidPath(s) {
		// Belt and braces: the checks above are stricter than fs.ValidPath.
		return errorf(field, "must be a relative path")
	}
	return nil
}
