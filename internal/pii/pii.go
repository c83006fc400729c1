// Package pii finds personal data in free text — e-mail addresses, phone
// numbers, payment card numbers, IBANs, US social security numbers, IP
// addresses and person names introduced by a cue — and replaces each value
// with a typed, numbered placeholder such as [EMAIL_1], the same placeholder
// for the same value throughout one Redactor's life.
//
// It is pure computation over strings: it must never log, store, send or
// put into an error the text it is given or the values it finds, and a
// redacted text must never contain a value that was detected in its input.
// Detection is heuristic: names without a cue, national ids other than US
// social security numbers, and postal addresses are not found.
package pii

import (
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind is the type of a detected value; it names the placeholder.
type Kind string

// The detected kinds, in priority order: when two candidates of the same
// length overlap, the earlier kind wins.
const (
	Email Kind = "EMAIL"
	IBAN  Kind = "IBAN"
	Card  Kind = "CARD"
	SSN   Kind = "SSN"
	Phone Kind = "PHONE"
	IP    Kind = "IP"
	Name  Kind = "NAME"
)

// Kinds lists every kind in priority order.
func Kinds() []Kind { return []Kind{Email, IBAN, Card, SSN, Phone, IP, Name} }

func priority(k Kind) int {
	for i, x := range Kinds() {
		if x == k {
			return i
		}
	}
	return len(Kinds())
}

// Match is one detected value: Text[Start:End] == Value.
type Match struct {
	Kind       Kind
	Start, End int
	Value      string
}

// Compiled patterns are immutable after init and safe for concurrent use.
var (
	reEmail = regexp.MustCompile(`[A-Za-z0-9][A-Za-z0-9._%+\-]*@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}`)
	reCard  = regexp.MustCompile(`\d{13,19}|\d{4}[ \-]\d{4}[ \-]\d{4}[ \-]\d{1,7}|\d{4}[ \-]\d{6}[ \-]\d{4,5}`)
	reIBAN  = regexp.MustCompile(`[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){3,8}`)
	reSSN   = regexp.MustCompile(`\d{3}-\d{2}-\d{4}`)
	rePhone = []*regexp.Regexp{
		regexp.MustCompile(`\+\d{1,3}(?:[ .\-]?\(\d{1,4}\)|[ .\-]?\d{1,4})(?:[ .\-]?\d{2,5}){1,5}`),
		regexp.MustCompile(`\(\d{3}\) ?\d{3}[\-. ]\d{4}`),
		regexp.MustCompile(`\d{3}[\-. ]\d{3}[\-. ]\d{4}`),
		regexp.MustCompile(`0\d{1,4}[ /\-]\d{3,8}(?:[ \-]\d{3,4})?`),
		regexp.MustCompile(`0\d(?:[ .]\d{2}){4}`),
		regexp.MustCompile(`0\d{9,10}`),
	}
	reIPv4 = regexp.MustCompile(`\d{1,3}(?:\.\d{1,3}){3}`)
	reIPv6 = regexp.MustCompile(`(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4})`)
	// Name cues: the capture group is the name, one to three capitalised
	// words.
	reNames = []*regexp.Regexp{
		regexp.MustCompile(`(?i:\bmy name is|\bmy name's|\bi am|\bi'm|\bi’m)\s+(\p{Lu}\p{Ll}+(?:[ \-]\p{Lu}\p{Ll}+){0,2})`),
		regexp.MustCompile(`\b(?:Dear|Hello|Hi)\s+(\p{Lu}\p{Ll}+(?: \p{Lu}\p{Ll}+)?)`),
		regexp.MustCompile(`\b(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+(\p{Lu}\p{Ll}+(?: \p{Lu}\p{Ll}+)?)`),
		regexp.MustCompile(`(?i:\b(?:best regards|kind regards|warm regards|regards|sincerely|thanks|thank you|cheers|best))\s*,?[ \t]*\r?\n[ \t]*(\p{Lu}\p{Ll}+(?: \p{Lu}\p{Ll}+)?)`),
	}
	rePlaceholder = regexp.MustCompile(`\[(EMAIL|IBAN|CARD|SSN|PHONE|IP|NAME)_(\d{1,6})\]`)
)

// notNames are capitalised words that follow a cue without being a name.
var notNames = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`Sorry Happy Glad Not Here Fine Good Interested Looking Trying Afraid Sure Unable
		Able Calling Writing Asking Having Still Just Also Very So Really Currently New Back Done Ready There All Team Sir
		Madam Everyone Everybody Friend Friends Customer Customers Support Folks Guys Monday Tuesday Wednesday Thursday
		Friday Saturday Sunday January February March April May June July August September October November December
		The This That A An In On At From With Your Our My We You It Thanks Thank Please Regards Best Cheers Hope Yes No
		Okay Ok Wondering Going Using Getting Based Living Working Confused Concerned Excited Aware Pleased Available Over
		World Mr Mrs Ms Miss Dr Prof`) {
		notNames[w] = true
	}
}

// Detect returns the personal data in text, sorted by position, with
// overlapping candidates resolved: the longest wins, then the kind earlier
// in Kinds, then the earlier position.
func Detect(text string) []Match {
	var c []Match
	add := func(k Kind, s, e int) { c = append(c, Match{Kind: k, Start: s, End: e, Value: text[s:e]}) }
	for _, ix := range reEmail.FindAllStringIndex(text, -1) {
		s, e := ix[0], ix[1]
		if s > 0 && (isWord(text, s-1) || text[s-1] == '@' || text[s-1] == '.') {
			continue
		}
		add(Email, s, e)
	}
	for _, ix := range reCard.FindAllStringIndex(text, -1) {
		if isolated(text, ix[0], ix[1]) && validCard(text[ix[0]:ix[1]]) {
			add(Card, ix[0], ix[1])
		}
	}
	for _, ix := range reIBAN.FindAllStringIndex(text, -1) {
		if ix[0] > 0 && isWord(text, ix[0]-1) {
			continue
		}
		if e, ok := validIBAN(text, ix[0], ix[1]); ok {
			add(IBAN, ix[0], e)
		}
	}
	for _, ix := range reSSN.FindAllStringIndex(text, -1) {
		if isolated(text, ix[0], ix[1]) && validSSN(text[ix[0]:ix[1]]) {
			add(SSN, ix[0], ix[1])
		}
	}
	for i, re := range rePhone {
		for _, ix := range re.FindAllStringIndex(text, -1) {
			if validPhone(text, ix[0], ix[1], i == 0) {
				add(Phone, ix[0], ix[1])
			}
		}
	}
	for _, ix := range reIPv4.FindAllStringIndex(text, -1) {
		// A port may follow an address: host:8080.
		if ix[1] < len(text) && text[ix[1]] == ':' {
			if !isolated(text[:ix[1]], ix[0], ix[1]) {
				continue
			}
		} else if !isolated(text, ix[0], ix[1]) {
			continue
		}
		if !versionCue(text, ix[0]) {
			if a, err := netip.ParseAddr(text[ix[0]:ix[1]]); err == nil && a.Is4() {
				add(IP, ix[0], ix[1])
			}
		}
	}
	for _, ix := range reIPv6.FindAllStringIndex(text, -1) {
		s, e := ix[0], ix[1]
		if s > 0 && (isWord(text, s-1) || text[s-1] == ':' || text[s-1] == '.') {
			continue
		}
		if e < len(text) && (isWord(text, e) || text[e] == ':' || text[e] == '.' && e+1 < len(text) && isDigit(text[e+1])) {
			continue
		}
		v := text[s:e]
		if strings.Count(v, ":") < 2 || !strings.ContainsAny(v, "0123456789abcdefABCDEF") {
			continue
		}
		if a, err := netip.ParseAddr(v); err == nil && a.Is6() && a.Zone() == "" {
			add(IP, s, e)
		}
	}
	for _, re := range reNames {
		for _, ix := range re.FindAllStringSubmatchIndex(text, -1) {
			s, e := ix[2], ix[3]
			words := strings.FieldsFunc(text[s:e], func(r rune) bool { return r == ' ' || r == '-' })
			for len(words) > 0 && notNames[words[len(words)-1]] {
				words = words[:len(words)-1]
			}
			if len(words) == 0 || notNames[words[0]] {
				continue
			}
			// Trim the dropped trailing words from the span.
			last := words[len(words)-1]
			e = s + strings.LastIndex(text[s:e], last) + len(last)
			add(Name, s, e)
		}
	}
	return resolve(c)
}

// resolve keeps non-overlapping candidates: longest first, then by kind
// priority, then by position.
func resolve(c []Match) []Match {
	sort.SliceStable(c, func(i, j int) bool {
		li, lj := c[i].End-c[i].Start, c[j].End-c[j].Start
		if li != lj {
			return li > lj
		}
		if pi, pj := priority(c[i].Kind), priority(c[j].Kind); pi != pj {
			return pi < pj
		}
		return c[i].Start < c[j].Start
	})
	var out []Match
	for _, m := range c {
		overlaps := false
		for _, o := range out {
			if m.Start < o.End && o.Start < m.End {
				overlaps = true
				break
			}
		}
		if !overlaps {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// isWord reports whether the rune that contains byte i is a letter, a
// digit or an underscore.
func isWord(text string, i int) bool {
	for i > 0 && !utf8.RuneStart(text[i]) {
		i--
	}
	r, _ := utf8.DecodeRuneInString(text[i:])
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// isolated reports whether text[s:e] stands alone: not glued to a word,
// and not part of a longer dotted, dashed or slashed run of digits (a
// version, a date, a longer number).
func isolated(text string, s, e int) bool {
	if s > 0 {
		if isWord(text, s-1) {
			return false
		}
		if strings.IndexByte(".-/:,", text[s-1]) >= 0 && s > 1 && isDigit(text[s-2]) {
			return false
		}
	}
	if e < len(text) {
		if isWord(text, e) {
			return false
		}
		if strings.IndexByte(".-/:,", text[e]) >= 0 && e+1 < len(text) && isDigit(text[e+1]) {
			return false
		}
	}
	return true
}

func digits(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// validCard: 13 to 19 digits, one kind of separator at most, not all one
// digit, and the Luhn check digit right.
func validCard(v string) bool {
	d := digits(v)
	if len(d) < 13 || len(d) > 19 || strings.Count(d, d[:1]) == len(d) {
		return false
	}
	if strings.Contains(v, " ") && strings.Contains(v, "-") {
		return false
	}
	sum := 0
	for i := 0; i < len(d); i++ {
		n := int(d[len(d)-1-i] - '0')
		if i%2 == 1 {
			if n *= 2; n > 9 {
				n -= 9
			}
		}
		sum += n
	}
	return sum%10 == 0
}

// ibanLengths is the IBAN length of each country that uses one.
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21,
	"CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18,
	"FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23,
	"IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27,
	"MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29,
	"PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26,
	"UA": 29, "VG": 24, "XK": 20,
}

// validIBAN checks the candidate text[s:e]: it takes exactly the country's
// length of characters (so a following capitalised word is not swallowed),
// which must end at a word boundary, and checks mod 97. It returns the end
// of the IBAN.
func validIBAN(text string, s, e int) (int, bool) {
	want, ok := ibanLengths[text[s:s+2]]
	if !ok {
		return 0, false
	}
	var b strings.Builder
	i := s
	for ; i < e && b.Len() < want; i++ {
		if text[i] != ' ' {
			b.WriteByte(text[i])
		}
	}
	if b.Len() != want || (i < len(text) && isWord(text, i)) {
		return 0, false
	}
	v := b.String()
	v = v[4:] + v[:4]
	rem := 0
	for j := 0; j < len(v); j++ {
		c := v[j]
		switch {
		case isDigit(c):
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			rem = (rem*100 + int(c-'A'+10)) % 97
		default:
			return 0, false
		}
	}
	return i, rem == 1
}

// validSSN applies the issuing rules: no area 000, 666 or 900–999, no
// group 00, no serial 0000.
func validSSN(v string) bool {
	area, group, serial := v[0:3], v[4:6], v[7:11]
	return area != "000" && area != "666" && area[0] != '9' && group != "00" && serial != "0000"
}

// validPhone checks a phone candidate: standing alone, a plausible digit
// count, one kind of separator, and not introduced as an order or ticket
// number.
func validPhone(text string, s, e int, international bool) bool {
	if !isolated(text, s, e) {
		return false
	}
	if s > 0 && (text[s-1] == '+' || text[s-1] == '#') {
		return false
	}
	v := text[s:e]
	n := len(digits(v))
	if international {
		if n < 8 || n > 15 {
			return false
		}
	} else if n < 9 || n > 12 {
		return false
	}
	seps := 0
	for _, sep := range []string{" ", "-", "."} {
		if strings.Contains(v, sep) {
			seps++
		}
	}
	if seps > 1 && !international && !strings.Contains(v, "(") {
		return false
	}
	w := strings.ToLower(previousWord(text, s))
	switch w {
	case "order", "invoice", "ref", "reference", "ticket", "tracking", "account", "id", "no", "case":
		return false
	}
	return true
}

// versionCue reports whether a dotted number is introduced as a version.
func versionCue(text string, s int) bool {
	switch strings.ToLower(previousWord(text, s)) {
	case "version", "v", "build", "release", "ver":
		return true
	}
	return false
}

// previousWord returns the word before text[s:], skipping spaces and
// punctuation such as '#', ':' and '.'.
func previousWord(text string, s int) string {
	i := s
	for i > 0 && strings.IndexByte(" \t#:.", text[i-1]) >= 0 {
		i--
	}
	j := i
	for j > 0 && (text[j-1] >= 'a' && text[j-1] <= 'z' || text[j-1] >= 'A' && text[j-1] <= 'Z') {
		j--
	}
	return text[j:i]
}

// Redactor replaces personal data with placeholders, giving the same value
// the same placeholder every time. It holds the values it has seen, so it
// lives only as long as one conversation's request and is never stored or
// logged. It is not safe for concurrent use.
type Redactor struct {
	byValue map[string]string
	next    map[Kind]int
	numbers Numbers
	err     error
}

// Numbers remembers the number of each value across the Redactors of one
// conversation (a keyed hash of the value, never the value), so that a
// value keeps its placeholder in every message of it.
type Numbers interface {
	// Number returns the number of value (a normalised value of kind),
	// assigning the next free one to a value not seen before.
	Number(kind Kind, value string) (int, error)
}

// NewRedactor returns an empty Redactor.
func NewRedactor() *Redactor {
	return &Redactor{byValue: map[string]string{}, next: map[Kind]int{}}
}

// NewRedactorWith returns an empty Redactor that numbers values through
// n. Should n fail, the value still becomes a placeholder, without a
// number, and Err reports the failure.
func NewRedactorWith(n Numbers) *Redactor {
	r := NewRedactor()
	r.numbers = n
	return r
}

// Err is the first failure of the Redactor's Numbers, if any.
func (r *Redactor) Err() error { return r.err }

// Seed makes new placeholders number after the ones already in text (an
// earlier, redacted message of the conversation), so a placeholder never
// names two different values.
func (r *Redactor) Seed(text string) {
	for _, m := range rePlaceholder.FindAllStringSubmatch(text, -1) {
		n, err := strconv.Atoi(m[2])
		if err == nil && n > r.next[Kind(m[1])] {
			r.next[Kind(m[1])] = n
		}
	}
}

// key normalises a value so that formatting does not make it another
// value: digits only for numbers, case-folded for e-mail addresses.
func key(m Match) string {
	v := m.Value
	switch m.Kind {
	case Email, IP:
		v = strings.ToLower(v)
	case Card, Phone, SSN:
		v = digits(v)
		if m.Kind == Phone && strings.HasPrefix(m.Value, "+") {
			v = "+" + v
		}
	case IBAN:
		v = strings.ReplaceAll(v, " ", "")
	}
	return string(m.Kind) + "\x00" + v
}

// Placeholder returns the placeholder of a match, assigning the next
// number of its kind to a value not seen before.
func (r *Redactor) Placeholder(m Match) string {
	k := key(m)
	if p, ok := r.byValue[k]; ok {
		return p
	}
	if r.numbers != nil {
		n, err := r.numbers.Number(m.Kind, k)
		p := "[" + string(m.Kind) + "]"
		if err != nil {
			if r.err == nil {
				r.err = err
			}
		} else {
			p = "[" + string(m.Kind) + "_" + strconv.Itoa(n) + "]"
			r.byValue[k] = p
		}
		return p
	}
	r.next[m.Kind]++
	p := "[" + string(m.Kind) + "_" + strconv.Itoa(r.next[m.Kind]) + "]"
	r.byValue[k] = p
	return p
}

// Redact returns text with every detected value replaced by its
// placeholder. Any other literal occurrence of a detected value (one that
// did not stand alone, say) is replaced too, so the result never contains
// a value detected in text.
func (r *Redactor) Redact(text string) string {
	ms := Detect(text)
	if len(ms) == 0 {
		return text
	}
	var b strings.Builder
	prev := 0
	type sub struct{ value, ph string }
	subs := make([]sub, 0, len(ms))
	for _, m := range ms {
		ph := r.Placeholder(m)
		b.WriteString(text[prev:m.Start])
		b.WriteString(ph)
		prev = m.End
		subs = append(subs, sub{m.Value, ph})
	}
	b.WriteString(text[prev:])
	out := b.String()
	// Longest first, so a value inside another is not replaced first.
	sort.SliceStable(subs, func(i, j int) bool { return len(subs[i].value) > len(subs[j].value) })
	for _, s := range subs {
		if strings.Contains(out, s.value) {
			out = strings.ReplaceAll(out, s.value, s.ph)
		}
	}
	return out
}

// Redact replaces the personal data of one text with a fresh Redactor.
func Redact(text string) string { return NewRedactor().Redact(text) }
