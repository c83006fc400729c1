package httpx

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/palisadehq/palisade/internal/palisade"
)

func TestStatusTable(t *testing.T) {
	t.Parallel()
	want := map[palisade.Code]int{
		palisade.CodeInvalid:      400,
		palisade.CodeUnauthorized: 401,
		palisade.CodeForbidden:    403,
		palisade.CodeSuspended:    403,
		palisade.CodeNotFound:     404,
		palisade.CodeConflict:     409,
		palisade.CodeTooLarge:     413,
		palisade.CodeRateLimited:  429,
		palisade.CodeUnavailable:  503,
		palisade.CodeInternal:     500,
	}
	seen := map[int]palisade.Code{}
	for _, c := range palisade.Codes {
		got := Status(c)
		if got != want[c] {
			t.Errorf("Status(%q) = %d, want %d", c, got, want[c])
		}
		// workspace_suspended is the one refinement of a code: a 403 a
		// client can tell apart from a missing permission. Every other
		// status belongs to one code.
		if c == palisade.CodeSuspended {
			continue
		}
		if prev, dup := seen[got]; dup {
			t.Errorf("codes %q and %q share status %d", prev, c, got)
		}
		seen[got] = c
	}
	if len(want) != len(palisade.Codes) {
		t.Errorf("table covers %d codes, palisade has %d", len(want), len(palisade.Codes))
	}
	if Status("made_up") != 500 {
		t.Errorf("unknown code is not a 500")
	}
}

// serveError runs WriteError under RequestID so request ids are present.
func serveError(t *testing.T, format ErrorFormat, err error) (*httptest.ResponseRecorder, *logBuffer) {
	t.Helper()
	log, buf := newTestLogger()
	h := Chain(Handle(func(w http.ResponseWriter, r *http.Request) error { return err }),
		RequestID(log, nil), UseErrorFormat(format), SecurityHeaders(SecurityOptions{}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	return rec, buf
}

func TestWriteErrorJSON(t *testing.T) {
	t.Parallel()
	secretCause := errors.New("pq: relation users at /var/lib/palisade/db.sqlite password=hunter2")
	tests := []struct {
		name    string
		err     error
		status  int
		code    string
		message string
		field   string
	}{
		{"field", palisade.FieldError("name", "name must be at most 100 characters"), 400, "invalid", "name must be at most 100 characters", "name"},
		{"not found", palisade.ErrNotFound, 404, "not_found", "not found", ""},
		{"wrapped public", fmt.Errorf("loading bot: %w", palisade.ErrConflict), 409, "conflict", "already exists", ""},
		{"unauthorized", palisade.Errorf(palisade.CodeUnauthorized, "log in first"), 401, "unauthorized", "log in first", ""},
		{"forbidden", palisade.Errorf(palisade.CodeForbidden, "no"), 403, "forbidden", "no", ""},
		{"rate", palisade.Errorf(palisade.CodeRateLimited, "slow down"), 429, "rate_limited", "slow down", ""},
		{"too large", &http.MaxBytesError{Limit: 10}, 413, "too_large", "request body too large", ""},
		{"unavailable with cause", palisade.WrapError(secretCause, palisade.CodeUnavailable, "try again later"), 503, "unavailable", "try again later", ""},
		{"unknown", secretCause, 500, "internal", "internal error", ""},
		{"internal palisade", palisade.WrapError(secretCause, palisade.CodeInternal, "db at /var/lib exploded"), 500, "internal", "internal error", ""},
		{"unknown code", &palisade.Error{Code: "teapot", Message: "short and stout"}, 500, "internal", "internal error", ""},
		{"empty message", &palisade.Error{Code: palisade.CodeRateLimited}, 429, "rate_limited", "rate limited", ""},
		{"method", MethodNotAllowed("GET", "POST"), 405, "invalid", "method not allowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, logs := serveError(t, FormatJSON, tt.err)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("error responses must not be cached")
			}
			body := rec.Body.String()
			for _, leak := range []string{"hunter2", "/var/lib", "pq:", "relation"} {
				if strings.Contains(body, leak) {
					t.Fatalf("body %q leaks %q", body, leak)
				}
			}
			e := decodeError(t, rec.Body.Bytes())
			if e.Error.Code != tt.code || e.Error.Message != tt.message || e.Error.Field != tt.field {
				t.Errorf("got %+v", e.Error)
			}
			if e.Error.RequestID == "" || e.Error.RequestID != rec.Header().Get(HeaderRequestID) {
				t.Errorf("request id %q vs header %q", e.Error.RequestID, rec.Header().Get(HeaderRequestID))
			}
			if tt.status >= 500 {
				if !strings.HasPrefix(e.Error.ErrorID, "err_") {
					t.Fatalf("5xx without error id: %+v", e.Error)
				}
				// The id is logged with the cause, so an operator can find it.
				found := false
				for _, l := range logs.lines(t) {
					if l["error_id"] == e.Error.ErrorID && strings.Contains(fmt.Sprint(l["err"]), "hunter2") == (errors.Is(tt.err, secretCause)) && l["request_id"] == e.Error.RequestID {
						found = true
					}
				}
				if !found {
					t.Errorf("no log line with error id %s, its cause and request id: %s", e.Error.ErrorID, logs.String())
				}
			} else if e.Error.ErrorID != "" {
				t.Errorf("4xx with error id")
			}
			if tt.status == 405 && rec.Header().Get("Allow") != "GET, POST" {
				t.Errorf("Allow = %q", rec.Header().Get("Allow"))
			}
		})
	}
}

func TestWriteErrorHTMLEscapes(t *testing.T) {
	t.Parallel()
	payload := `<script>alert(1)</script>"'&`
	rec, _ := serveError(t, FormatHTML, palisade.FieldError(payload, "bad value %s", payload))
	if rec.Code != 400 {
		t.Fatalf("status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	body := rec.Body.String()
	if strings.Contains(body, "<script>") || strings.Contains(body, `"'&`) {
		t.Fatalf("payload rendered unescaped: %s", body)
	}
	if !strings.Contains(body, template.HTMLEscapeString(payload)) {
		t.Fatalf("escaped payload missing: %s", body)
	}
	// The page's only inline style carries this response's nonce.
	csp := rec.Header().Get("Content-Security-Policy")
	i := strings.Index(body, `nonce="`)
	if i < 0 {
		t.Fatalf("no nonce in page")
	}
	nonce := body[i+7 : i+7+strings.IndexByte(body[i+7:], '"')]
	if !strings.Contains(csp, "'nonce-"+nonce+"'") {
		t.Fatalf("page nonce %q not in CSP %q", nonce, csp)
	}
	if !strings.Contains(body, rec.Header().Get(HeaderRequestID)) {
		t.Fatalf("page lacks the request id")
	}
}

func TestWriteErrorHTMLInternalHidesCause(t *testing.T) {
	t.Parallel()
	rec, _ := serveError(t, FormatHTML, errors.New("open /etc/palisade/master.key: permission denied"))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "master.key") || !strings.Contains(rec.Body.String(), "err_") {
		t.Fatalf("status %d body %s", rec.Code, rec.Body.String())
	}
}

func TestWriteErrorAfterResponseStarted(t *testing.T) {
	t.Parallel()
	log, logs := newTestLogger()
	h := Chain(Handle(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("partial"))
		return errors.New("stream broke")
	}), RequestID(log, nil))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 200 || rec.Body.String() != "partial" {
		t.Fatalf("error was appended to a started response: %d %q", rec.Code, rec.Body.String())
	}
	if !strings.Contains(logs.String(), "stream broke") {
		t.Fatalf("error after start not logged: %s", logs.String())
	}
}

func TestWriteErrorClearsRepresentationHeaders(t *testing.T) {
	t.Parallel()
	h := Handle(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Length", "12345")
		w.Header().Set("Content-Disposition", "attachment; filename=export.json")
		w.Header().Set("ETag", `"abc"`)
		return palisade.ErrNotFound
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	for _, k := range []string{"Content-Length", "Content-Disposition", "ETag"} {
		if rec.Header().Get(k) != "" {
			t.Errorf("%s survived into the error response", k)
		}
	}
}

func TestNilErrorIsInternal(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	WriteError(rec, httptest.NewRequest("GET", "/", nil), nil)
	if rec.Code != 500 {
		t.Fatalf("nil error wrote %d", rec.Code)
	}
}

// TestPublicError is what a stream that has already started sends in its
// "error" event: the same reduction as an error response, logged the same
// way.
func TestPublicError(t *testing.T) {
	t.Parallel()
	log, logs := newTestLogger()
	ctx := WithLogger(t.Context(), log)

	internal := palisade.WrapError(errors.New("disk full at /var/lib/palisade"), palisade.CodeInternal, "the bot table at shard 7 is corrupt")
	p := PublicError(ctx, internal)
	if p.Code != palisade.CodeInternal || p.Message != "internal error" || p.Field != "" || p.Status() != 500 || !strings.HasPrefix(p.ErrorID, "err_") {
		t.Fatalf("internal error reduced to %+v", p)
	}
	found := false
	for _, l := range logs.lines(t) {
		if l["error_id"] == p.ErrorID && strings.Contains(fmt.Sprint(l["err"]), "shard 7") && strings.Contains(fmt.Sprint(l["err"]), "disk full") {
			found = true
		}
	}
	if !found {
		t.Fatalf("the cause was not logged with error id %s: %s", p.ErrorID, logs.String())
	}
	if again := PublicError(ctx, internal); again.ErrorID == p.ErrorID {
		t.Fatal("error ids repeat")
	}

	p = PublicError(ctx, fmt.Errorf("checking input: %w", palisade.FieldError("message", "too long")))
	if p.Code != palisade.CodeInvalid || p.Message != "too long" || p.Field != "message" || p.ErrorID != "" || p.Status() != 400 {
		t.Fatalf("field error reduced to %+v", p)
	}
	if p := PublicError(ctx, nil); p.Code != palisade.CodeInternal || p.ErrorID == "" {
		t.Fatalf("nil error reduced to %+v", p)
	}
}
