package cli_test

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/palisade"
)

// TestServeMountsTheWidget: the running app serves the widget script and
// the frame's routes on the public listener, behind the edge.
func TestServeMountsTheWidget(t *testing.T) {
	t.Parallel()
	r := serve(t, map[string]string{"PALISADE_DATA_DIR": filepath.Join(t.TempDir(), "data")})
	get := func(path string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, r.public+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	res, body := get("/widget.js")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		res.Header.Get("Cross-Origin-Resource-Policy") != "cross-origin" || !strings.Contains(body, "data-bot") ||
		res.Header.Get("X-Request-Id") == "" {
		t.Fatalf("GET /widget.js: %d %v", res.StatusCode, res.Header)
	}
	res, _ = get("/widget/" + palisade.NewID(palisade.PrefixBot))
	if res.StatusCode != 404 || !strings.Contains(res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("frame page of an unknown bot: %d %v", res.StatusCode, res.Header)
	}
	res, _ = get("/widget/assets/frame.js")
	if res.StatusCode != 200 {
		t.Fatalf("GET /widget/assets/frame.js: %d", res.StatusCode)
	}
}
