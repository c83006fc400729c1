package httpx

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/validate"
)

// TestHostileInputsNeverA500 drives hostile values (SPEC.md R4: null
// bytes, control characters, traversal) through a JSON API handler and an HTML UI handler built the way
// surfaces are: DecodeJSON, then validate, then a response. Each is
// refused with 400 or accepted and echoed inertly; none is a 500.
func TestHostileInputsNeverA500(t *testing.T) {
	t.Parallel()
	hostile := []string{
		"null\x00byte", "../../etc/passwd", "..%2f..%2fetc%2fpasswd", "\xc0\xaf", "abc\u202egnp.exe",
		strings.Repeat("A", 10000), "' OR 1=1 --", "<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>",
		"{{.}}", "\r\nSet-Cookie: a=b",
	}
	type botIn struct {
		Name   string `json:"name"`
		Prompt string `json:"prompt"`
		Path   string `json:"path"`
	}
	api := Handle(func(w http.ResponseWriter, r *http.Request) error {
		var in botIn
		if err := DecodeJSON(r, &in, 64<<10); err != nil {
			return err
		}
		if err := validate.Name("name", in.Name, 100); err != nil {
			return err
		}
		if err := validate.Text("prompt", in.Prompt, 4000); err != nil {
			return err
		}
		if in.Path != "" {
			if err := validate.Path("path", in.Path); err != nil {
				return err
			}
		}
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(in)
	})
	log, _ := newTestLogger()
	mux := http.NewServeMux()
	mux.Handle("POST /api/bots", api)
	mux.Handle("GET /ui/bots", Handle(func(w http.ResponseWriter, r *http.Request) error {
		// Echoing a query value in an error must stay inert in HTML.
		name := r.URL.Query().Get("name")
		if err := validate.Name("name", name, 100); err != nil {
			return err
		}
		return validate.OneOf("name", name, "only-this")
	}))
	apiSrv := httptest.NewServer(Edge(EdgeConfig{Logger: log}, Mux(mux)))
	defer apiSrv.Close()
	uiSrv := httptest.NewServer(Edge(EdgeConfig{Logger: log, Format: FormatHTML}, Mux(mux)))
	defer uiSrv.Close()

	for _, h := range hostile {
		for _, field := range []string{"name", "prompt", "path"} {
			in := map[string]string{"name": "ok", "prompt": "ok"}
			in[field] = h
			// Encode by hand so invalid UTF-8 reaches the server as bytes.
			var b strings.Builder
			b.WriteString("{")
			first := true
			for k, v := range in {
				if !first {
					b.WriteString(",")
				}
				first = false
				enc, _ := json.Marshal(v)
				if strings.Contains(v, "\xc0") {
					enc = []byte(`"` + v + `"`)
				}
				b.WriteString(`"` + k + `":` + string(enc))
			}
			b.WriteString("}")
			req, _ := http.NewRequest("POST", apiSrv.URL+"/api/bots", strings.NewReader(b.String()))
			req.Header.Set("Content-Type", "application/json")
			resp, err := apiSrv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case 400:
				e := decodeError(t, body)
				if e.Error.Code != "invalid" {
					t.Errorf("%q in %s: %+v", h, field, e)
				}
			case 200:
				if resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("%q in %s accepted without a safe content type", h, field)
				}
			default:
				t.Errorf("%q in %s: status %d %s", h, field, resp.StatusCode, body)
			}
		}
		req, _ := http.NewRequest("GET", uiSrv.URL+"/ui/bots?name="+urlQueryEscape(h), nil)
		resp, err := uiSrv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("UI %q: status %d", h, resp.StatusCode)
		}
		if strings.Contains(string(body), "<script>alert") || strings.Contains(string(body), "<img") || strings.Contains(string(body), "\r\nSet-Cookie") {
			t.Errorf("UI %q rendered actively: %s", h, body)
		}
		if resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("header injection via %q", h)
		}
	}
}

func urlQueryEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			b.WriteByte(c)
		} else {
			b.WriteString("%")
			b.WriteString(strings.ToUpper(string("0123456789abcdef"[c>>4]) + string("0123456789abcdef"[c&15])))
		}
	}
	return b.String()
}
