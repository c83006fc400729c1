package api

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/palisadehq/palisade/internal/palisade"
)

// FuzzReadPage: whatever a client puts in limit and cursor, reading the
// page never panics, accepts only a limit within bounds and a cursor of
// the list asked for whose id has the list's pattern, and a cursor the API
// wrote reads back as written.
func FuzzReadPage(f *testing.F) {
	good := encodeCursor(cursor{List: "documents", Time: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), ID: palisade.NewID(palisade.PrefixDocument)})
	for _, seed := range [][2]string{{"", ""}, {"10", good}, {"0", ""}, {"201", "x"}, {"-1", "eyJsIjoiZG9jdW1lbnRzIn0"}, {"1e3", "%%%"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, limit, cur string) {
		q := url.Values{}
		q.Set("limit", limit)
		q.Set("cursor", cur)
		r, err := http.NewRequest(http.MethodGet, "/x?"+q.Encode(), nil)
		if err != nil {
			// The query is encoded, so any input makes a valid request.
			t.Fatalf("building the request: %v", err)
		}
		p, err := readPage(r, "documents", palisade.PrefixDocument)
		if err != nil {
			if palisade.ErrorCode(err) != palisade.CodeInvalid {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		if p.Limit < 1 || p.Limit > MaxLimit {
			t.Fatalf("limit %d accepted", p.Limit)
		}
		if p.After != nil {
			if p.After.List != "documents" || !palisade.ValidID(palisade.PrefixDocument, p.After.ID) {
				t.Fatalf("cursor %+v accepted", p.After)
			}
			// Written again and read back, it is the same position.
			q.Set("cursor", encodeCursor(*p.After))
			r2, _ := http.NewRequest(http.MethodGet, "/x?"+q.Encode(), nil)
			p2, err := readPage(r2, "documents", palisade.PrefixDocument)
			if err != nil || !p2.After.Time.Equal(p.After.Time) || p2.After.ID != p.After.ID || p2.After.Seq != p.After.Seq {
				t.Fatalf("round trip %+v → %+v, %v", p.After, p2.After, err)
			}
		}
	})
}
