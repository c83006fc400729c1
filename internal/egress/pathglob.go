package egress

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

const (
	maxPatternLen = 1024
	// maxRequestPath bounds the escaped request path; no API the platform
	// calls comes anywhere near it.
	maxRequestPath = 8192
)

// pathPattern is a compiled path glob (syntax in the package doc).
type pathPattern struct {
	raw string
	// segs are the segments before a trailing "**", with percent escapes
	// upper-cased.
	segs []string
	// rest is true when the pattern ends in "/**".
	rest bool
}

func compilePathPattern(p string) (pathPattern, error) {
	if p == "" {
		return pathPattern{}, errors.New("empty path pattern")
	}
	if len(p) > maxPatternLen {
		return pathPattern{}, fmt.Errorf("path pattern longer than %d bytes", maxPatternLen)
	}
	if p[0] != '/' {
		return pathPattern{}, errors.New("path pattern must start with /")
	}
	raw := strings.Split(p[1:], "/")
	pp := pathPattern{raw: p}
	for i, seg := range raw {
		last := i == len(raw)-1
		if seg == "**" {
			if !last {
				return pathPattern{}, errors.New(`"**" is only allowed as the last segment`)
			}
			pp.rest = true
			break
		}
		if strings.Contains(seg, "**") {
			return pathPattern{}, errors.New(`"**" must be a whole segment`)
		}
		if seg == "" && !last {
			return pathPattern{}, errors.New("empty segment (//) in path pattern")
		}
		norm, err := normalizeSegment(seg)
		if err != nil {
			return pathPattern{}, fmt.Errorf("segment %d: %w", i+1, err)
		}
		pp.segs = append(pp.segs, norm)
	}
	return pp, nil
}

// match reports whether the normalized request segments match the pattern.
func (p pathPattern) match(segs []string) bool {
	if p.rest {
		if len(segs) <= len(p.segs) {
			return false
		}
	} else if len(segs) != len(p.segs) {
		return false
	}
	for i, ps := range p.segs {
		if !matchSegment(ps, segs[i]) {
			return false
		}
	}
	return true
}

// matchSegment matches one segment against a glob where '*' stands for any
// run of bytes. It backtracks only to the last star, so it is linear in
// practice and quadratic at worst; segments are short and bounded.
func matchSegment(pat, s string) bool {
	px, sx := 0, 0
	starPx, starSx := -1, 0
	for px < len(pat) || sx < len(s) {
		if px < len(pat) {
			c := pat[px]
			if c == '*' {
				starPx, starSx = px, sx
				px++
				continue
			}
			if sx < len(s) && s[sx] == c {
				px++
				sx++
				continue
			}
		}
		if starPx >= 0 && starSx < len(s) {
			starSx++
			px, sx = starPx+1, starSx
			continue
		}
		return false
	}
	return true
}

// splitRequestPath validates an escaped request path and returns its
// normalized segments. The error text is safe to show: it never quotes the
// path.
func splitRequestPath(escaped string) ([]string, error) {
	if escaped == "" {
		escaped = "/"
	}
	if len(escaped) > maxRequestPath {
		return nil, fmt.Errorf("path longer than %d bytes", maxRequestPath)
	}
	if escaped[0] != '/' {
		return nil, errors.New("path does not start with /")
	}
	raw := strings.Split(escaped[1:], "/")
	segs := make([]string, len(raw))
	for i, seg := range raw {
		if seg == "" && i != len(raw)-1 {
			return nil, errors.New("empty path segment")
		}
		norm, err := normalizeSegment(seg)
		if err != nil {
			return nil, err
		}
		segs[i] = norm
	}
	return segs, nil
}

// normalizeSegment checks one escaped segment and upper-cases its percent
// escapes. Both patterns and request paths go through it, so what a pattern
// may name and what a request may send are refused by the same code.
func normalizeSegment(seg string) (string, error) {
	var b strings.Builder
	b.Grow(len(seg))
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case c == '%':
			if i+2 >= len(seg) || !isHex(seg[i+1]) || !isHex(seg[i+2]) {
				return "", errors.New("malformed percent escape")
			}
			b.WriteByte('%')
			b.WriteByte(upperHex(seg[i+1]))
			b.WriteByte(upperHex(seg[i+2]))
			i += 2
		case c == '*':
			// A wildcard in a pattern, a literal sub-delimiter in a path.
			b.WriteByte(c)
		case isPchar(c):
			b.WriteByte(c)
		case c == '\\':
			return "", errors.New("backslash in path")
		default:
			return "", errors.New("character not allowed in a path")
		}
	}
	norm := b.String()
	if err := checkDecoded(norm); err != nil {
		return "", err
	}
	return norm, nil
}

// checkDecoded refuses segments that some server along the way could read
// as a separator or a dot segment, after up to three rounds of decoding
// (double encoding is a classic way past a single decode).
func checkDecoded(seg string) error {
	cur := seg
	for round := 0; round < 3; round++ {
		if err := checkPlainSegment(cur); err != nil {
			return err
		}
		if !strings.Contains(cur, "%") {
			return nil
		}
		next, err := url.PathUnescape(cur)
		if err != nil {
			// What is left is a literal '%' not forming an escape; no
			// server decodes it into anything.
			return nil
		}
		cur = next
	}
	return checkPlainSegment(cur)
}

func checkPlainSegment(s string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '/' {
			return errors.New("encoded slash in path")
		}
		if c == '\\' {
			return errors.New("encoded backslash in path")
		}
		if c < 0x20 || c == 0x7f {
			return errors.New("control character in path")
		}
	}
	// Tomcat and others strip ";params" before resolving dot segments.
	name, _, _ := strings.Cut(s, ";")
	if name == "." || name == ".." {
		return errors.New("dot segment in path")
	}
	return nil
}

func isPchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', // unreserved
		'!', '$', '&', '\'', '(', ')', '+', ',', ';', '=', // sub-delims but '*'
		':', '@':
		return true
	}
	return false
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func upperHex(c byte) byte {
	if c >= 'a' && c <= 'f' {
		return c - 'a' + 'A'
	}
	return c
}
