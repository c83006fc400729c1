package httpx

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestCORS(t *testing.T) {
	t.Parallel()
	allowed := func(r *http.Request) []string {
		if r.URL.Path == "/widget/bot_a" {
			return []string{"https://shop.example", "null", "*"}
		}
		return nil
	}
	ran := 0
	h := CORS(allowed, CORSOptions{Credentials: true, MaxAge: time.Minute})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran++
		_, _ = io.WriteString(w, "ok")
	}))
	tests := []struct {
		name       string
		method     string
		path       string
		origin     []string
		reqMethod  string
		reqHeaders string
		status     int
		acao       string
		handler    bool
	}{
		{"no origin", "GET", "/widget/bot_a", nil, "", "", 200, "", true},
		{"allowed", "POST", "/widget/bot_a", []string{"https://shop.example"}, "", "", 200, "https://shop.example", true},
		{"other bot's domain", "POST", "/widget/bot_b", []string{"https://shop.example"}, "", "", 200, "", true},
		{"not allowed", "POST", "/widget/bot_a", []string{"https://evil.example"}, "", "", 200, "", true},
		{"suffix trick", "POST", "/widget/bot_a", []string{"https://shop.example.evil"}, "", "", 200, "", true},
		{"scheme differs", "POST", "/widget/bot_a", []string{"http://shop.example"}, "", "", 200, "", true},
		{"case differs", "POST", "/widget/bot_a", []string{"https://SHOP.example"}, "", "", 200, "", true},
		{"literal null never allowed", "POST", "/widget/bot_a", []string{"null"}, "", "", 200, "", true},
		{"star never allowed", "POST", "/widget/bot_a", []string{"*"}, "", "", 200, "", true},
		{"two origins", "POST", "/widget/bot_a", []string{"https://shop.example", "https://evil.example"}, "", "", 200, "", true},
		{"preflight ok", "OPTIONS", "/widget/bot_a", []string{"https://shop.example"}, "POST", "content-type, Authorization", 204, "https://shop.example", false},
		{"preflight bad origin", "OPTIONS", "/widget/bot_a", []string{"https://evil.example"}, "POST", "", 403, "", false},
		{"preflight null", "OPTIONS", "/widget/bot_a", []string{"null"}, "POST", "", 403, "", false},
		{"preflight bad method", "OPTIONS", "/widget/bot_a", []string{"https://shop.example"}, "DELETE", "", 403, "", false},
		{"preflight bad header", "OPTIONS", "/widget/bot_a", []string{"https://shop.example"}, "POST", "X-Admin", 403, "", false},
		{"plain options", "OPTIONS", "/widget/bot_a", []string{"https://shop.example"}, "", "", 200, "https://shop.example", true},
	}
	for _, tt := range tests {
		ran = 0
		r := httptest.NewRequest(tt.method, tt.path, nil)
		for _, o := range tt.origin {
			r.Header.Add("Origin", o)
		}
		if tt.reqMethod != "" {
			r.Header.Set("Access-Control-Request-Method", tt.reqMethod)
		}
		if tt.reqHeaders != "" {
			r.Header.Set("Access-Control-Request-Headers", tt.reqHeaders)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != tt.status || rec.Header().Get("Access-Control-Allow-Origin") != tt.acao || (ran == 1) != tt.handler {
			t.Errorf("%s: status %d ACAO %q handler %v", tt.name, rec.Code, rec.Header().Get("Access-Control-Allow-Origin"), ran == 1)
		}
		if tt.acao == "" && (rec.Header().Get("Access-Control-Allow-Credentials") != "" || rec.Header().Get("Access-Control-Allow-Methods") != "") {
			t.Errorf("%s: CORS headers on a refused origin: %v", tt.name, rec.Header())
		}
		if tt.acao != "" && rec.Header().Get("Access-Control-Allow-Credentials") != "true" {
			t.Errorf("%s: credentials not allowed", tt.name)
		}
		if rec.Header().Values("Vary")[0] != "Origin" {
			t.Errorf("%s: no Vary: Origin", tt.name)
		}
		if tt.name == "preflight ok" {
			if rec.Header().Get("Access-Control-Allow-Methods") != "GET, POST" || rec.Header().Get("Access-Control-Allow-Headers") != "Content-Type, Authorization" || rec.Header().Get("Access-Control-Max-Age") != "60" {
				t.Errorf("preflight headers: %v", rec.Header())
			}
		}
	}
}
