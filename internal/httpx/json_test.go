package httpx

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/palisade"
)

type createBot struct {
	Name        string   `json:"name"`
	Temperature float64  `json:"temperature"`
	MaxTokens   int      `json:"max_tokens"`
	Domains     []string `json:"domains"`
	Limits      struct {
		PerMinute int `json:"per_minute"`
	} `json:"limits"`
}

func jsonRequest(body, contentType string) *http.Request {
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		body  string
		ct    string
		code  palisade.Code
		field string
		msg   string
	}{
		{"ok", `{"name":"Support","temperature":0.2,"max_tokens":512,"domains":["a.example"],"limits":{"per_minute":5}}`, "application/json", "", "", ""},
		{"ok charset", `{"name":"x"}`, "application/json; charset=utf-8", "", "", ""},
		{"ok whitespace after", "{\"name\":\"x\"}\n\t ", "application/json", "", "", ""},
		{"no content type", `{"name":"x"}`, "", palisade.CodeInvalid, "Content-Type", "Content-Type must be application/json"},
		{"form", `name=x`, "application/x-www-form-urlencoded", palisade.CodeInvalid, "Content-Type", ""},
		{"text plain", `{"name":"x"}`, "text/plain", palisade.CodeInvalid, "Content-Type", ""},
		{"latin1", `{"name":"x"}`, "application/json; charset=latin1", palisade.CodeInvalid, "Content-Type", ""},
		{"json suffix", `{"name":"x"}`, "application/jsonp", palisade.CodeInvalid, "Content-Type", ""},
		{"empty", ``, "application/json", palisade.CodeInvalid, "", "request body is empty"},
		{"blank", "  \n", "application/json", palisade.CodeInvalid, "", "request body is empty"},
		{"null", "null", "application/json", palisade.CodeInvalid, "", "request body must be an object"},
		{"null spaced", " \n null ", "application/json", palisade.CodeInvalid, "", "request body must be an object"},
		{"array", `[{"name":"x"}]`, "application/json", palisade.CodeInvalid, "", "request body must be an object"},
		{"string", `"x"`, "application/json", palisade.CodeInvalid, "", "request body must be an object"},
		{"number", `1`, "application/json", palisade.CodeInvalid, "", "request body must be an object"},
		{"syntax", `{"name":`, "application/json", palisade.CodeInvalid, "", "request body is not valid JSON"},
		{"syntax 2", `{"name" "x"}`, "application/json", palisade.CodeInvalid, "", "request body is not valid JSON"},
		{"trailing", `{"name":"x"}{"name":"y"}`, "application/json", palisade.CodeInvalid, "", "request body must contain a single JSON value"},
		{"trailing garbage", `{"name":"x"} garbage`, "application/json", palisade.CodeInvalid, "", ""},
		{"unknown field", `{"name":"x","admin":true}`, "application/json", palisade.CodeInvalid, "admin", "unknown field admin"},
		{"unknown nested", `{"limits":{"per_hour":1}}`, "application/json", palisade.CodeInvalid, "per_hour", ""},
		{"unknown hostile name", `{"<script>":1}`, "application/json", palisade.CodeInvalid, "", "request body has an unknown field"},
		{"type", `{"max_tokens":"lots"}`, "application/json", palisade.CodeInvalid, "max_tokens", "max_tokens must be an integer in range"},
		{"type nested", `{"limits":{"per_minute":true}}`, "application/json", palisade.CodeInvalid, "limits.per_minute", "limits.per_minute must be an integer in range"},
		{"overflow", `{"max_tokens":1e400}`, "application/json", palisade.CodeInvalid, "max_tokens", ""},
		{"fraction into int", `{"max_tokens":1.5}`, "application/json", palisade.CodeInvalid, "max_tokens", ""},
		{"array element", `{"domains":[1]}`, "application/json", palisade.CodeInvalid, "domains", "domains must be a string"},
		{"top-level array", `[1,2]`, "application/json", palisade.CodeInvalid, "", "request body must be an object"},
		{"top-level string", `"x"`, "application/json", palisade.CodeInvalid, "", ""},
		{"duplicate key", `{"name":"a","name":"b"}`, "application/json", palisade.CodeInvalid, "name", "request body repeats a key"},
		{"duplicate by case", `{"name":"a","NAME":"b"}`, "application/json", palisade.CodeInvalid, "NAME", ""},
		{"duplicate by kelvin fold", `{"max_tokens":1,"max_to\u212aens":2}`, "application/json", palisade.CodeInvalid, "", "request body repeats a key"},
		{"duplicate nested", `{"limits":{"per_minute":1,"per_minute":2}}`, "application/json", palisade.CodeInvalid, "per_minute", ""},
		{"same key in siblings is fine", `{"limits":{"per_minute":1},"domains":[]}`, "application/json", "", "", ""},
		{"invalid utf8", "{\"name\":\"\xc0\xaf\"}", "application/json", palisade.CodeInvalid, "", "request body must be valid UTF-8"},
		{"deep", strings.Repeat("[", 100) + strings.Repeat("]", 100), "application/json", palisade.CodeInvalid, "", "request body is nested too deeply"},
		{"too large", `{"name":"` + strings.Repeat("a", 2000) + `"}`, "application/json", palisade.CodeTooLarge, "", "request body too large"},
		{"nul escaped is data", `{"name":"a\u0000b"}`, "application/json", "", "", ""}, // validate refuses it per field
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var dst createBot
			err := DecodeJSON(jsonRequest(tt.body, tt.ct), &dst, 1024)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var pe *palisade.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a palisade error", err)
			}
			if pe.Code != tt.code || pe.Field != tt.field || tt.msg != "" && pe.Message != tt.msg {
				t.Fatalf("got %q %q %q", pe.Code, pe.Field, pe.Message)
			}
			if Status(pe.Code) >= 500 {
				t.Fatalf("bad input became a %d", Status(pe.Code))
			}
		})
	}
}

func TestDecodeJSONProgrammingErrorIs500(t *testing.T) {
	t.Parallel()
	var dst createBot
	err := DecodeJSON(jsonRequest(`{"name":"x"}`, "application/json"), dst, 1024) // not a pointer
	if err == nil || palisade.ErrorCode(err) != palisade.CodeInternal {
		t.Fatalf("non-pointer destination: %v", err)
	}
}

// validatedName refuses bad values in its own UnmarshalJSON; its
// palisade error passes through DecodeJSON unchanged.
type validatedName string

func (n *validatedName) UnmarshalJSON(b []byte) error {
	if strings.Contains(string(b), "<") {
		return palisade.FieldError("nick", "nick must not contain <")
	}
	*n = validatedName(b)
	return nil
}

func TestDecodeJSONFieldValidatorError(t *testing.T) {
	t.Parallel()
	var dst struct {
		Nick validatedName `json:"nick"`
	}
	err := DecodeJSON(jsonRequest(`{"nick":"<b>"}`, "application/json"), &dst, 1024)
	var pe *palisade.Error
	if !errors.As(err, &pe) || pe.Field != "nick" || pe.Code != palisade.CodeInvalid {
		t.Fatalf("got %v", err)
	}
}

// FuzzDecodeJSON: any body is either decoded or refused with a client
// error, never a panic and never a 500; decoded strings are valid UTF-8.
func FuzzDecodeJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, body string) {
		var dst createBot
		err := DecodeJSON(jsonRequest(body, "application/json"), &dst, 4096)
		if err != nil {
			if s := Status(palisade.ErrorCode(err)); s != 400 && s != 413 {
				t.Fatalf("body %q gave status %d: %v", body, s, err)
			}
			var pe *palisade.Error
			if errors.As(err, &pe) && pe.Field != "" && safeField(pe.Field) != pe.Field {
				t.Fatalf("unsafe field name %q echoed", pe.Field)
			}
			return
		}
		if !utf8.ValidString(dst.Name) {
			t.Fatalf("decoded invalid UTF-8 %q", dst.Name)
		}
		for _, d := range dst.Domains {
			if !utf8.ValidString(d) {
				t.Fatalf("decoded invalid UTF-8 %q", d)
			}
		}
	})
}
