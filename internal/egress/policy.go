package egress

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// PolicyVersion is the only policy file version this package reads.
const PolicyVersion = 1

// maxPolicyBytes bounds a policy file; a real one is a few kilobytes.
const maxPolicyBytes = 1 << 20

//go:embed default_policy.yaml
var defaultPolicyYAML []byte

// Rule allows requests to one host (or one wildcard level of hosts) on the
// listed ports, with the listed methods, to paths matching the listed
// patterns. It is also the YAML shape of one entry under "rules".
type Rule struct {
	// Name identifies the rule in logs, denials and metrics.
	Name string `yaml:"name"`
	// Host is an exact host name ("api.openai.com"), a wildcard for one
	// label level ("*.example.com" matches "a.example.com", not
	// "example.com" nor "a.b.example.com"), or an IP address literal.
	Host string `yaml:"host"`
	// Ports the rule allows, 1-65535.
	Ports []int `yaml:"ports"`
	// Methods the rule allows, upper-case: GET, HEAD, POST, PUT, PATCH,
	// DELETE, OPTIONS.
	Methods []string `yaml:"methods"`
	// Paths are glob patterns over the escaped path (see the package doc).
	Paths []string `yaml:"paths"`
	// UnsafeAllowHTTP allows plain http to this host; otherwise only https.
	UnsafeAllowHTTP bool `yaml:"unsafe_allow_http,omitempty"`
	// UnsafeAllowPrivateAddresses lets this rule's host resolve to private,
	// link-local, CGNAT, unique-local, reserved and IPv4-embedding
	// addresses: an operator's own Ollama or vLLM. Loopback stays refused
	// unless the client's UnsafeAllowLoopback opens it (tests); metadata,
	// unspecified, multicast and broadcast addresses stay refused.
	UnsafeAllowPrivateAddresses bool `yaml:"unsafe_allow_private_addresses,omitempty"`
}

// allowedMethods are the methods a rule may name. CONNECT and TRACE are
// left out on purpose: the platform never needs them.
func allowedMethods() []string {
	return []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
}

type policyFile struct {
	Version int    `yaml:"version"`
	Rules   []Rule `yaml:"rules"`
}

// Policy is a compiled, immutable egress policy. It is safe for concurrent
// use.
type Policy struct {
	rules []compiledRule
}

type compiledRule struct {
	rule Rule
	// Exactly one of hostName, hostIP and wildcardSuffix is set.
	hostName       string
	hostIP         netip.Addr
	wildcardSuffix string // ".example.com" for "*.example.com"
	patterns       []pathPattern
}

// ParsePolicy reads a YAML policy file. Decoding is strict: unknown fields,
// duplicate keys, several documents and an unknown version are errors, and
// every rule is validated; errors name the rule and its line.
//
//	version: 1
//	rules:
//	  - name: openai
//	    host: api.openai.com
//	    ports: [443]
//	    methods: [POST]
//	    paths: [/v1/chat/completions]
func ParsePolicy(data []byte) (*Policy, error) {
	if len(data) > maxPolicyBytes {
		return nil, fmt.Errorf("egress policy: file larger than %d bytes", maxPolicyBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f policyFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("egress policy: empty file")
		}
		return nil, fmt.Errorf("egress policy: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("egress policy: more than one YAML document")
	}
	if f.Version != PolicyVersion {
		return nil, fmt.Errorf("egress policy: version: must be %d", PolicyVersion)
	}
	lines := ruleLines(data)
	p, err := compile(f.Rules, lines)
	if err != nil {
		return nil, fmt.Errorf("egress policy: %w", err)
	}
	return p, nil
}

// NewPolicy compiles rules built in code, with the same validation as
// ParsePolicy.
func NewPolicy(rules ...Rule) (*Policy, error) {
	p, err := compile(rules, nil)
	if err != nil {
		return nil, fmt.Errorf("egress policy: %w", err)
	}
	return p, nil
}

// DefaultPolicy returns the embedded policy that allows only the official
// endpoints of the supported providers and channels, and Let's Encrypt's
// ACME endpoint for certificates (DefaultPolicyYAML shows it). It panics only if the embedded file is invalid, which a test
// rules out.
func DefaultPolicy() *Policy {
	p, err := ParsePolicy(defaultPolicyYAML)
	if err != nil {
		panic("egress: embedded default policy is invalid: " + err.Error())
	}
	return p
}

// DefaultPolicyYAML returns a copy of the embedded default policy file, for
// operators who start their own policy from it.
func DefaultPolicyYAML() []byte { return bytes.Clone(defaultPolicyYAML) }

// Rules returns a copy of the policy's rules, normalized.
func (p *Policy) Rules() []Rule {
	out := make([]Rule, len(p.rules))
	for i, cr := range p.rules {
		r := cr.rule
		r.Ports = slices.Clone(r.Ports)
		r.Methods = slices.Clone(r.Methods)
		r.Paths = slices.Clone(r.Paths)
		out[i] = r
	}
	return out
}

// ruleLines returns the line of each entry under "rules", best effort, so
// that errors can point at the file. Decoding errors are left to the
// strict decoder.
func ruleLines(data []byte) []int {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return nil
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "rules" && top.Content[i+1].Kind == yaml.SequenceNode {
			var lines []int
			for _, n := range top.Content[i+1].Content {
				lines = append(lines, n.Line)
			}
			return lines
		}
	}
	return nil
}

func compile(rules []Rule, lines []int) (*Policy, error) {
	p := &Policy{rules: make([]compiledRule, 0, len(rules))}
	names := make(map[string]bool, len(rules))
	for i, r := range rules {
		where := fmt.Sprintf("rule %d", i+1)
		if i < len(lines) {
			where += fmt.Sprintf(" (line %d)", lines[i])
		}
		if r.Name != "" && validName(r.Name) {
			where += fmt.Sprintf(" %q", r.Name)
		}
		cr, err := compileRule(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if names[cr.rule.Name] {
			return nil, fmt.Errorf("%s: name: used by an earlier rule", where)
		}
		names[cr.rule.Name] = true
		p.rules = append(p.rules, cr)
	}
	return p, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

func compileRule(r Rule) (compiledRule, error) {
	var cr compiledRule
	if r.Name == "" {
		return cr, errors.New("name: required")
	}
	if !validName(r.Name) {
		return cr, errors.New("name: use 1-64 letters, digits, '.', '_' or '-'")
	}
	if err := cr.setHost(r.Host); err != nil {
		return cr, fmt.Errorf("host: %w", err)
	}

	if len(r.Ports) == 0 {
		return cr, errors.New("ports: at least one port is required")
	}
	for _, port := range r.Ports {
		if port < 1 || port > 65535 {
			return cr, fmt.Errorf("ports: %d is not in 1-65535", port)
		}
	}
	if hasDup(r.Ports) {
		return cr, errors.New("ports: listed twice")
	}

	if len(r.Methods) == 0 {
		return cr, errors.New("methods: at least one method is required")
	}
	for _, m := range r.Methods {
		if !slices.Contains(allowedMethods(), m) {
			return cr, fmt.Errorf("methods: %s is not one of %s", strconv.Quote(m), strings.Join(allowedMethods(), ", "))
		}
	}
	if hasDup(r.Methods) {
		return cr, errors.New("methods: listed twice")
	}

	if len(r.Paths) == 0 {
		return cr, errors.New("paths: at least one pattern is required (\"/**\" allows every path)")
	}
	for _, raw := range r.Paths {
		pp, err := compilePathPattern(raw)
		if err != nil {
			return cr, fmt.Errorf("paths: %s: %w", strconv.Quote(raw), err)
		}
		cr.patterns = append(cr.patterns, pp)
	}
	if hasDup(r.Paths) {
		return cr, errors.New("paths: listed twice")
	}

	cr.rule = Rule{
		Name:                        r.Name,
		Host:                        cr.hostString(),
		Ports:                       slices.Clone(r.Ports),
		Methods:                     slices.Clone(r.Methods),
		Paths:                       slices.Clone(r.Paths),
		UnsafeAllowHTTP:             r.UnsafeAllowHTTP,
		UnsafeAllowPrivateAddresses: r.UnsafeAllowPrivateAddresses,
	}
	return cr, nil
}

func hasDup[T comparable](xs []T) bool {
	seen := make(map[T]bool, len(xs))
	for _, x := range xs {
		if seen[x] {
			return true
		}
		seen[x] = true
	}
	return false
}

func (cr *compiledRule) setHost(h string) error {
	if h == "" {
		return errors.New("required")
	}
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if a.Zone() != "" {
			return errors.New("an IP address with a zone cannot be allowed")
		}
		cr.hostIP = a
		return nil
	}
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		name, err := normalizeHostname(rest)
		if err != nil {
			return err
		}
		if strings.Count(name, ".") < 1 {
			return errors.New("a wildcard must keep at least two labels after \"*.\" (\"*.example.com\", not \"*.com\")")
		}
		cr.wildcardSuffix = "." + name
		return nil
	}
	if strings.Contains(h, "*") {
		return errors.New("a wildcard is only allowed as a whole first label (\"*.example.com\")")
	}
	name, err := normalizeHostname(h)
	if err != nil {
		return err
	}
	cr.hostName = name
	return nil
}

func (cr *compiledRule) hostString() string {
	switch {
	case cr.hostIP.IsValid():
		return cr.hostIP.String()
	case cr.wildcardSuffix != "":
		return "*" + cr.wildcardSuffix
	}
	return cr.hostName
}

func (cr *compiledRule) matchesHost(t *target) bool {
	if t.ip.IsValid() {
		return cr.hostIP.IsValid() && cr.hostIP == t.ip
	}
	if cr.hostName != "" {
		return cr.hostName == t.host
	}
	if cr.wildcardSuffix != "" {
		label, ok := strings.CutSuffix(t.host, cr.wildcardSuffix)
		return ok && label != "" && !strings.Contains(label, ".")
	}
	return false
}

// normalizeHostname lower-cases a DNS name, drops one trailing dot and
// checks it is plain ASCII letters, digits and hyphens in valid labels.
// A last label of only digits is refused: resolvers differ on whether
// "127.1" or "0x7f.1" is an address, and a policy must not depend on it.
func normalizeHostname(h string) (string, error) {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if h == "" {
		return "", errors.New("empty host name")
	}
	if len(h) > 253 {
		return "", errors.New("host name longer than 253 characters")
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "", errors.New("host name has an empty or over-long label")
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "", errors.New("host name label starts or ends with '-'")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", errors.New("host name must be ASCII letters, digits, '-' and '.' (use punycode)")
			}
		}
	}
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" || strings.HasPrefix(last, "0x") {
		return "", errors.New("host name looks like a numeric address")
	}
	return h, nil
}

// target is a request reduced to what the policy looks at.
type target struct {
	method  string
	scheme  string
	host    string // normalized name, or the canonical IP text
	ip      netip.Addr
	port    int
	path    string // redacted, for reports only
	segs    []string
	pathErr error
}

// denial returns a Denial filled with what is known about the target.
func (t *target) denial(reason Reason, detail string) *Denial {
	return &Denial{
		Reason: reason, Detail: detail, Method: t.method, Scheme: t.scheme,
		Host: t.host, Port: t.port, Path: t.path,
	}
}

func parseTarget(method string, u *url.URL, hostHeader string) (*target, *Denial) {
	t := &target{method: method}
	if t.method == "" {
		t.method = "GET"
	}
	if !validMethodToken(t.method) {
		t.method = "(invalid)"
		return t, t.denial(ReasonInvalidRequest, "malformed method")
	}
	if u == nil {
		return t, t.denial(ReasonInvalidRequest, "no URL")
	}
	t.path = RedactPath(u.EscapedPath())
	t.scheme = strings.ToLower(u.Scheme)
	switch t.scheme {
	case "https", "http":
	default:
		if len(t.scheme) > 16 || strings.Trim(t.scheme, "abcdefghijklmnopqrstuvwxyz0123456789+.-") != "" {
			t.scheme = "(invalid)"
		}
		return t, t.denial(ReasonScheme, "only https (or http where a rule allows it)")
	}
	if u.Opaque != "" {
		return t, t.denial(ReasonInvalidRequest, "opaque URL")
	}
	if u.User != nil {
		return t, t.denial(ReasonInvalidRequest, "user info in URL")
	}
	hostname := u.Hostname()
	if hostname == "" {
		return t, t.denial(ReasonInvalidRequest, "no host")
	}
	if a, err := netip.ParseAddr(hostname); err == nil {
		if a.Zone() != "" {
			t.host = "(invalid)"
			return t, t.denial(ReasonInvalidRequest, "IP address with a zone")
		}
		if a.Is6() && !strings.HasPrefix(u.Host, "[") {
			t.host = "(invalid)"
			return t, t.denial(ReasonInvalidRequest, "unbracketed IPv6 host")
		}
		t.ip = a
		t.host = a.String()
	} else {
		name, err := normalizeHostname(hostname)
		if err != nil {
			t.host = "(invalid)"
			return t, t.denial(ReasonInvalidRequest, "malformed host")
		}
		t.host = name
	}
	if p := u.Port(); p != "" {
		n, ok := parsePort(p)
		if !ok {
			return t, t.denial(ReasonInvalidRequest, "malformed port")
		}
		t.port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return t, t.denial(ReasonInvalidRequest, "empty port")
	} else if t.scheme == "https" {
		t.port = 443
	} else {
		t.port = 80
	}
	if hostHeader != "" && !strings.EqualFold(hostHeader, u.Host) {
		return t, t.denial(ReasonInvalidRequest, "Host header differs from the URL")
	}
	t.segs, t.pathErr = splitRequestPath(u.EscapedPath())
	return t, nil
}

func validMethodToken(m string) bool {
	if len(m) > 16 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 'A' || m[i] > 'Z' {
			return false
		}
	}
	return m != ""
}

func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n >= 1 && n <= 65535
}

// Stages a request passes through against one rule; the rule that gets
// furthest explains a refusal best.
const (
	stageScheme = iota
	stagePort
	stageMethod
	stagePath
	stageAllowed
)

// decide matches a parsed target against the rules. It returns the allowing
// rule, or a denial naming the closest rule.
func (p *Policy) decide(t *target) (*compiledRule, *Denial) {
	best, bestStage := -1, -1
	for i := range p.rules {
		cr := &p.rules[i]
		if !cr.matchesHost(t) {
			continue
		}
		stage := cr.stage(t)
		if stage == stageAllowed {
			return cr, nil
		}
		if stage > bestStage {
			best, bestStage = i, stage
		}
	}
	if best < 0 {
		return nil, t.denial(ReasonNoRule, "")
	}
	var d *Denial
	switch bestStage {
	case stageScheme:
		d = t.denial(ReasonScheme, "https required")
	case stagePort:
		d = t.denial(ReasonPort, "port not allowed")
	case stageMethod:
		d = t.denial(ReasonMethod, "method not allowed")
	default:
		if t.pathErr != nil {
			d = t.denial(ReasonPath, t.pathErr.Error())
		} else {
			d = t.denial(ReasonPath, "no path pattern matches")
		}
	}
	d.Rule = p.rules[best].rule.Name
	return nil, d
}

func (cr *compiledRule) stage(t *target) int {
	if t.scheme != "https" && !(t.scheme == "http" && cr.rule.UnsafeAllowHTTP) {
		return stageScheme
	}
	if !slices.Contains(cr.rule.Ports, t.port) {
		return stagePort
	}
	if !slices.Contains(cr.rule.Methods, t.method) {
		return stageMethod
	}
	if t.pathErr != nil {
		return stagePath
	}
	for _, pp := range cr.patterns {
		if pp.match(t.segs) {
			return stageAllowed
		}
	}
	return stagePath
}

// check runs the whole policy over a request's method, URL and Host header.
func (p *Policy) check(method string, u *url.URL, hostHeader string) (*compiledRule, *target, *Denial) {
	t, d := parseTarget(method, u, hostHeader)
	if d != nil {
		return nil, t, d
	}
	cr, d := p.decide(t)
	return cr, t, d
}

// Allows reports whether the policy allows a request, without sending it
// and without looking at addresses (those are checked when dialing). It
// returns nil or a *DenialError. Use it to validate configured endpoints at
// start-up.
func (p *Policy) Allows(method string, u *url.URL) error {
	if _, _, d := p.check(method, u, ""); d != nil {
		return &DenialError{Denial: *d}
	}
	return nil
}

// RuleForURL returns a rule allowing every method and path on the origin of
// rawURL (scheme, host and port), with http allowed when rawURL is http.
// It is meant for tests that reach an httptest server; the address check
// still applies, so pair it with Options.UnsafeAllowLoopback.
func RuleForURL(rawURL string) (Rule, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Rule{}, fmt.Errorf("egress: rule for URL: %w", err)
	}
	t, d := parseTarget("GET", u, "")
	if d != nil {
		return Rule{}, fmt.Errorf("egress: rule for URL: %s", d.Reason)
	}
	name := "url-" + strings.NewReplacer(":", "-", "%", "-").Replace(t.host) + "-" + strconv.Itoa(t.port)
	if len(name) > 64 {
		name = name[len(name)-64:]
	}
	return Rule{
		Name:            name,
		Host:            t.host,
		Ports:           []int{t.port},
		Methods:         allowedMethods(),
		Paths:           []string{"/**"},
		UnsafeAllowHTTP: t.scheme == "http",
	}, nil
}
