package api

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// Every listing of the API is a keyset page: `limit` (1..MaxLimit, default
// DefaultLimit) items, and `next_cursor`, an opaque string to pass back as
// `cursor` for the following page, or null on the last page. Items are in
// a stable order (by creation time, then id), so walking the pages never
// repeats or skips an item that existed throughout.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// cursor is what an opaque cursor carries: the list it belongs to, and the
// position of the last item of the previous page (a time and an id, or a
// sequence number).
type cursor struct {
	List string    `json:"l"`
	Time time.Time `json:"t,omitzero"`
	ID   string    `json:"i,omitempty"`
	Seq  int64     `json:"s,omitempty"`
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

var errCursor = palisade.FieldError("cursor", "the cursor is not valid for this list; start again without one")

// maxCursor bounds a cursor's text: every real one is far shorter.
const maxCursor = 256

// pageRequest is a listing's `limit` and `cursor`, read before any query.
type pageRequest struct {
	Limit int
	After *cursor // nil: the first page
}

// readPage reads limit and cursor for the list named list. A cursor of
// another list, or one that does not decode, is a 400; an id it carries
// must have the pattern of prefix.
func readPage(r *http.Request, list string, prefix palisade.Prefix) (pageRequest, error) {
	p := pageRequest{Limit: DefaultLimit}
	// A query string that does not parse is refused, never read in part.
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return p, palisade.FieldError("query", "the query string is malformed")
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			return p, palisade.FieldError("limit", "limit must be a whole number from 1 to %d", MaxLimit)
		}
		p.Limit = n
	}
	v := q.Get("cursor")
	if v == "" {
		return p, nil
	}
	if len(v) > maxCursor {
		return p, errCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return p, errCursor
	}
	var c cursor
	if err := json.Unmarshal(raw, &c); err != nil || c.List != list || c.Seq < 0 {
		return p, errCursor
	}
	if prefix != "" && !palisade.ValidID(prefix, c.ID) {
		return p, errCursor
	}
	p.After = &c
	return p, nil
}

// pageJSON is the body of every listing.
type pageJSON[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// keyed is an item of an in-memory listing: its creation time and id.
type keyed struct {
	Time time.Time
	ID   string
}

// pageOf pages items already in memory (small per-workspace sets: bots,
// documents, keys, channels, provider keys), oldest first by creation time
// then id, with the same cursors as the store's keyset pages.
func pageOf[T any, J any](list string, p pageRequest, items []T, key func(T) keyed, show func(T) J) pageJSON[J] {
	sorted := slices.Clone(items)
	compare := func(a, b keyed) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	}
	slices.SortStableFunc(sorted, func(a, b T) int { return compare(key(a), key(b)) })
	start := 0
	if p.After != nil {
		after := keyed{Time: p.After.Time, ID: p.After.ID}
		start = len(sorted)
		for i, it := range sorted {
			if compare(key(it), after) > 0 {
				start = i
				break
			}
		}
	}
	end := min(start+p.Limit, len(sorted))
	out := pageJSON[J]{Data: make([]J, 0, end-start)}
	for _, it := range sorted[start:end] {
		out.Data = append(out.Data, show(it))
	}
	if end < len(sorted) {
		k := key(sorted[end-1])
		next := encodeCursor(cursor{List: list, Time: k.Time, ID: k.ID})
		out.NextCursor = &next
	}
	return out
}

// storePage turns a store page fetched with limit+1 items into a listing:
// the extra item only says that another page exists.
func storePage[T any, J any](p pageRequest, items []T, next func(T) cursor, show func(T) J) pageJSON[J] {
	out := pageJSON[J]{Data: make([]J, 0, min(len(items), p.Limit))}
	for i, it := range items {
		if i == p.Limit {
			c := encodeCursor(next(items[i-1]))
			out.NextCursor = &c
			break
		}
		out.Data = append(out.Data, show(it))
	}
	return out
}

// timeParam reads an RFC 3339 time from the query; empty is the zero time.
func timeParam(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, palisade.FieldError(name, "%s must be an RFC 3339 time such as 2026-11-24T10:00:00Z", name)
	}
	return t, nil
}
