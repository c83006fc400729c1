package docparse

import (
	"strings"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/palisade"
)

// plainText accepts UTF-8 only: guessing another encoding would index
// mojibake. A byte-order mark is dropped.
func plainText(st *state, body []byte) (Document, error) {
	s := strings.TrimPrefix(string(body), "\uFEFF")
	if !utf8.ValidString(s) {
		return Document{}, palisade.FieldError("content", "the document is not UTF-8 text")
	}
	if strings.ContainsRune(s, 0) {
		return Document{}, palisade.FieldError("content", "the document is not text: it contains NUL bytes")
	}
	return Document{Text: s}, nil
}

// markdown is kept as written — it is only ever shown as text — and its
// first level-one heading, if any, is its title.
func markdown(st *state, body []byte) (Document, error) {
	d, err := plainText(st, body)
	if err != nil {
		return d, err
	}
	i := 0
	for l := range strings.SplitSeq(d.Text, "\n") {
		if i++; i > 200 {
			break
		}
		if t, ok := strings.CutPrefix(strings.TrimSpace(l), "# "); ok {
			d.Title = strings.TrimSpace(strings.TrimRight(t, "#"))
			break
		}
	}
	return d, nil
}
