package httpx_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/palisadehq/palisade/internal/httpx"
	"github.com/palisadehq/palisade/internal/palisade"
	"github.com/palisadehq/palisade/internal/validate"
)

// A surface is a ServeMux of error-returning handlers, wrapped in Mux (so
// the mux's own 404 and 405 use WriteError) and in Edge.
func ExampleEdge() {
	type createBot struct {
		Name string `json:"name"`
	}
	mux := http.NewServeMux()
	mux.Handle("POST /api/v1/bots", httpx.Handle(func(w http.ResponseWriter, r *http.Request) error {
		var in createBot
		if err := httpx.DecodeJSON(r, &in, 64<<10); err != nil {
			return err
		}
		if err := validate.Name("name", in.Name, 100); err != nil {
			return err
		}
		return palisade.ErrConflict
	}))
	logger := slog.New(slog.DiscardHandler)
	api := httpx.Edge(httpx.EdgeConfig{Logger: logger, Format: httpx.FormatJSON}, httpx.Mux(mux))

	for _, body := range []string{`{"name":"Support\u202e"}`, `{"name":"Support"}`, `{"name":"x","admin":true}`} {
		r := httptest.NewRequest("POST", "/api/v1/bots", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		msg := w.Body.String()
		msg = msg[:strings.Index(msg, `,"request_id"`)]
		fmt.Println(w.Code, msg)
	}
	// Output:
	// 400 {"error":{"code":"invalid","message":"name must not contain bidirectional control characters","field":"name"
	// 409 {"error":{"code":"conflict","message":"already exists"
	// 400 {"error":{"code":"invalid","message":"unknown field admin","field":"admin"
}
