package redact

import (
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/palisadehq/palisade/internal/secret"
)

// Marker replaces a secret whose kind is not named.
const Marker = "[REDACTED]"

// MinSecretLen is the shortest registered value that is redacted: shorter
// values would redact ordinary words and numbers all over the logs.
const MinSecretLen = 8

// minMatchLen is the shortest text anything can be found in: a registered
// value is at least MinSecretLen long, and the shortest pattern match is a
// five-letter key, a separator and a one-character value ("token=x").
const minMatchLen = 7

// Options configure a Redactor. The zero value is ready to use.
type Options struct {
	// Untyped makes every replacement the plain [REDACTED] marker instead of
	// naming the format found ([REDACTED:openai]).
	Untyped bool
	// SensitiveKeys adds attribute names whose whole value is always
	// redacted, to the built-in ones (password, token, secret, api_key, ...).
	// Like the built-ins they match as the ending of a key, ignoring case
	// and punctuation: "bot_token" ends in "token".
	SensitiveKeys []string
	// Secrets are registered at construction, as if passed to Register.
	Secrets []string
}

// Redactor removes secrets from text and log records. It is safe for
// concurrent use; build one with New and share it.
type Redactor struct {
	rules     []rule
	kw        keywordIndex
	sensitive []string
	untyped   bool
	markers   []string // every marker this Redactor can write

	mu    sync.Mutex // serializes Register
	known atomic.Pointer[knownSet]
}

// New compiles the patterns and returns a Redactor.
func New(opts Options) *Redactor {
	r := &Redactor{untyped: opts.Untyped}
	r.rules = append(builtinRules(), keyValueRules()...)
	kinds := map[string]bool{"": true}
	for i := range r.rules {
		ru := &r.rules[i]
		ru.re = regexp.MustCompile(ru.pattern)
		kinds[ru.kind] = true
		for _, k := range ru.keywords {
			ru.kwIdx = append(ru.kwIdx, r.kw.add(k))
		}
	}
	for k := range kinds {
		r.markers = append(r.markers, r.marker(k))
	}
	r.sensitive = sensitiveWords()
	for _, k := range opts.SensitiveKeys {
		if n := normalizeKey(k); n != "" {
			r.sensitive = append(r.sensitive, n)
		}
	}
	r.known.Store(&knownSet{})
	r.Register(opts.Secrets...)
	return r
}

func (r *Redactor) marker(kind string) string {
	if kind == "" || r.untyped {
		return Marker
	}
	return "[REDACTED:" + kind + "]"
}

// Register adds known secret values (configured bot tokens, app secrets,
// provider keys) that are redacted wherever they appear, as they are and in
// their URL- and JSON-escaped forms. Values shorter than MinSecretLen, and
// values that are part of a marker, are ignored. Register is safe to call
// while other goroutines redact.
func (r *Redactor) Register(values ...string) {
	if len(values) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.known.Load()
	seen := make(map[string]bool, len(old.values)+len(values))
	next := slices.Clone(old.values)
	for _, v := range next {
		seen[v] = true
	}
	for _, v := range values {
		for _, form := range encodedForms(v) {
			if len(form) < MinSecretLen || seen[form] || r.inMarker(form) {
				continue
			}
			seen[form] = true
			next = append(next, form)
		}
	}
	r.known.Store(newKnownSet(next))
}

// RegisterSecrets registers the values of configured secrets, as Register.
func (r *Redactor) RegisterSecrets(secrets ...secret.Secret) {
	values := make([]string, 0, len(secrets))
	for _, s := range secrets {
		values = append(values, s.Reveal())
	}
	r.Register(values...)
}

// inMarker reports whether v occurs inside a marker: such a value could
// never be removed from output that contains markers.
func (r *Redactor) inMarker(v string) bool {
	for _, m := range r.markers {
		if strings.Contains(m, v) {
			return true
		}
	}
	return false
}

// encodedForms lists the spellings of a secret that log text may carry.
func encodedForms(v string) []string {
	forms := []string{v}
	add := func(f string) {
		if !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	add(url.QueryEscape(v))
	add(url.PathEscape(v))
	if b, err := json.Marshal(v); err == nil && len(b) >= 2 {
		add(string(b[1 : len(b)-1]))
	}
	return forms
}

// String returns s with every secret it finds replaced by a marker. Known
// values are removed first, so a pattern can never leave half of one behind.
func (r *Redactor) String(s string) string {
	if len(s) < minMatchLen {
		return s
	}
	return r.stringWith(r.known.Load(), s)
}

// Names: attribute keys and log messages repeat the same few texts on every
// record. One found clean is remembered, against the snapshot of registered
// values it was checked with (a Register starts afresh), so it is not
// scanned again. Only clean texts are kept, short ones, and a bounded
// number of them: what a client sends is a value, never a name, and a
// flood of distinct names only stops the remembering.
const (
	maxCleanName  = 96
	maxCleanNames = 4096
)

// name redacts an attribute key or a record's message.
func (r *Redactor) name(s string) string {
	if len(s) < minMatchLen {
		return s
	}
	ks := r.known.Load()
	if len(s) > maxCleanName {
		return r.stringWith(ks, s)
	}
	if _, ok := ks.clean.Load(s); ok {
		return s
	}
	out := r.stringWith(ks, s)
	if out == s && ks.cleanCount.Add(1) <= maxCleanNames {
		ks.clean.Store(s, struct{}{})
	}
	return out
}

func (r *Redactor) stringWith(ks *knownSet, s string) string {
	out := ks.redact(s)
	out = r.redactPatterns(out)
	// A replacement can, in contrived cases, join the text around it into a
	// registered value again ("…ED]" + "abcdefgh"). Repeat, and if that does
	// not settle, fail closed.
	for range 4 {
		if !ks.containsAny(out) {
			return out
		}
		out = ks.redact(out)
	}
	if ks.containsAny(out) {
		return Marker
	}
	return out
}

// span is a byte range of text to replace.
type span struct {
	start, end int
	kind       string
}

func (r *Redactor) redactPatterns(s string) string {
	lower := asciiLower(s)
	present := r.kw.scan(lower)
	var spans []span
	for i := range r.rules {
		ru := &r.rules[i]
		if !ru.applies(s, lower, present) {
			continue
		}
		text := s
		if ru.onLower {
			text = lower
		}
		for _, m := range ru.re.FindAllStringSubmatchIndex(text, -1) {
			start, end := m[0], m[1]
			for g := 2; g+1 < len(m); g += 2 {
				if m[g] >= 0 {
					start, end = m[g], m[g+1]
					break
				}
			}
			if start == end || isMarkerAt(s, start) {
				continue
			}
			if ru.accept != nil && !ru.accept(s, m[0], m[1], s[start:end]) {
				continue
			}
			spans = append(spans, span{start: start, end: end, kind: ru.kind})
		}
	}
	if len(spans) == 0 {
		return s
	}
	return replace(s, spans, r.marker)
}

// isMarkerAt reports whether the secret candidate at i is (the inside of) a
// marker written by an earlier pass, which must stay as it is.
func isMarkerAt(s string, i int) bool {
	if strings.HasPrefix(s[i:], "[REDACTED") {
		return true
	}
	return i > 0 && strings.HasPrefix(s[i-1:], "[REDACTED")
}

func (ru *rule) applies(s, lower string, present keywordSet) bool {
	if ru.pre != nil {
		return ru.pre(s, lower)
	}
	for _, k := range ru.kwIdx {
		if present.has(k) {
			return true
		}
	}
	return false
}

// keywordIndex finds which rule keywords occur in a text in one pass over
// it, instead of one substring search per keyword: candidates are indexed
// by their first byte.
type keywordIndex struct {
	words []string
	first [256][]int
}

// keywordSet is a bit per keyword.
type keywordSet [4]uint64

func (ks *keywordSet) has(i int) bool { return ks[i/64]&(1<<(i%64)) != 0 }

func (ki *keywordIndex) add(w string) int {
	for i, x := range ki.words {
		if x == w {
			return i
		}
	}
	i := len(ki.words)
	if i >= len(keywordSet{})*64 {
		panic("redact: too many rule keywords") // a programming error in rules.go
	}
	ki.words = append(ki.words, w)
	ki.first[w[0]] = append(ki.first[w[0]], i)
	return i
}

func (ki *keywordIndex) scan(lower string) keywordSet {
	var set keywordSet
	for i := 0; i < len(lower); i++ {
		for _, k := range ki.first[lower[i]] {
			if strings.HasPrefix(lower[i:], ki.words[k]) {
				set[k/64] |= 1 << (k % 64)
			}
		}
	}
	return set
}

// replace writes s with the union of spans replaced: overlapping matches of
// different rules become one marker, so no rule leaves a piece of another's
// secret behind. The merged span takes the kind of its earliest, longest
// match.
func replace(s string, spans []span, marker func(kind string) string) string {
	slices.SortStableFunc(spans, func(a, b span) int {
		if a.start != b.start {
			return a.start - b.start
		}
		return b.end - a.end
	})
	var b strings.Builder
	b.Grow(len(s))
	pos := 0
	for i := 0; i < len(spans); {
		cur := spans[i]
		j := i + 1
		for ; j < len(spans) && spans[j].start < cur.end; j++ {
			cur.end = max(cur.end, spans[j].end)
		}
		b.WriteString(s[pos:cur.start])
		b.WriteString(marker(cur.kind))
		pos = cur.end
		i = j
	}
	b.WriteString(s[pos:])
	return b.String()
}

// asciiLower lower-cases ASCII letters only, keeping byte offsets, which is
// all the keyword prefilter needs.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// normalizeKey lower-cases a key and keeps only letters and digits, so that
// "X-Api-Key", "api_key" and "apiKey" compare alike.
func normalizeKey(k string) string {
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteByte(c)
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		}
	}
	return b.String()
}

// SensitiveKey reports whether an attribute or field named key holds a
// secret as a whole, so that its value is never shown.
func (r *Redactor) SensitiveKey(key string) bool {
	// Keys are short: normalise into a stack buffer, as normalizeKey would,
	// without allocating on every attribute of every record.
	var buf [64]byte
	if len(key) > len(buf) {
		return r.sensitiveNormalized([]byte(normalizeKey(key)))
	}
	n := buf[:0]
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			n = append(n, c)
		case c >= 'A' && c <= 'Z':
			n = append(n, c+'a'-'A')
		}
	}
	return r.sensitiveNormalized(n)
}

func (r *Redactor) sensitiveNormalized(n []byte) bool {
	if len(n) == 0 {
		return false
	}
	for _, w := range r.sensitive {
		if len(n) >= len(w) && string(n[len(n)-len(w):]) == w {
			return true
		}
	}
	return false
}

// knownSet is an immutable snapshot of the registered values; Register
// replaces it whole, so String never takes a lock.
type knownSet struct {
	values []string
	// byPrefix indexes values by their first 8 bytes once there are too many
	// to search for one by one.
	byPrefix map[uint64][]string
	// clean holds names (keys, messages) found to hold no secret under
	// this snapshot; see Redactor.name.
	clean      sync.Map
	cleanCount atomic.Int32
}

const indexThreshold = 32

func newKnownSet(values []string) *knownSet {
	ks := &knownSet{values: values}
	if len(values) > indexThreshold {
		ks.byPrefix = make(map[uint64][]string, len(values))
		for _, v := range values {
			p := prefix8(v)
			ks.byPrefix[p] = append(ks.byPrefix[p], v)
		}
	}
	return ks
}

func prefix8(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// occurrences returns every occurrence of every value, overlapping ones
// included, so that merging them covers each value completely.
func (ks *knownSet) occurrences(s string) []span {
	var spans []span
	if ks.byPrefix != nil {
		for i := 0; i+MinSecretLen <= len(s); i++ {
			for _, v := range ks.byPrefix[prefix8(s[i:])] {
				if strings.HasPrefix(s[i:], v) {
					spans = append(spans, span{start: i, end: i + len(v)})
				}
			}
		}
		return spans
	}
	for _, v := range ks.values {
		for off := 0; ; {
			j := strings.Index(s[off:], v)
			if j < 0 {
				break
			}
			spans = append(spans, span{start: off + j, end: off + j + len(v)})
			off += j + 1
		}
	}
	return spans
}

func (ks *knownSet) containsAny(s string) bool {
	if len(ks.values) == 0 {
		return false
	}
	if ks.byPrefix != nil {
		return len(ks.occurrences(s)) > 0
	}
	for _, v := range ks.values {
		if strings.Contains(s, v) {
			return true
		}
	}
	return false
}

func (ks *knownSet) redact(s string) string {
	if len(ks.values) == 0 {
		return s
	}
	spans := ks.occurrences(s)
	if len(spans) == 0 {
		return s
	}
	// Registered values are always the plain marker: naming them would tell
	// which configured secret leaked where.
	return replace(s, spans, func(string) string { return Marker })
}
