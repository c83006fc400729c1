package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/palisade"
)

// maxJSONDepth bounds nesting; no request of ours nests deeper, and the
// bound keeps the duplicate-key walk's memory proportional to real input.
const maxJSONDepth = 32

// DecodeJSON decodes the request body into dst, strictly:
//   - the Content-Type must be application/json (charset, if any, utf-8);
//   - the body is at most max bytes (larger is too_large) and valid UTF-8;
//   - it is exactly one JSON value, with no trailing data;
//   - no object repeats a key, not even differing in case only, since
//     encoding/json would keep the last one and matches keys
//     case-insensitively, so two readers could see two different requests;
//   - every key must name a field of dst.
//
// Every failure is a palisade invalid (or too_large) error naming the field
// where one is known, never a 500 for bad input.
func DecodeJSON(r *http.Request, dst any, max int64) error {
	return decodeJSON(r, dst, max, true)
}

// DecodeJSONTolerant is DecodeJSON except that keys naming no field of dst
// are skipped: for a wire format defined elsewhere (OpenAI's), whose
// clients send fields this server has no use for. Every other rule holds.
func DecodeJSONTolerant(r *http.Request, dst any, max int64) error {
	return decodeJSON(r, dst, max, false)
}

func decodeJSON(r *http.Request, dst any, max int64, strict bool) error {
	if !isJSONContentType(r.Header.Get("Content-Type")) {
		return palisade.FieldError("Content-Type", "Content-Type must be application/json")
	}
	if r.Body == nil {
		return palisade.Errorf(palisade.CodeInvalid, "request body is empty")
	}
	body, err := readCapped(r.Body, max)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return errTooLarge
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge
		}
		return palisade.WrapError(err, palisade.CodeInvalid, errBodyUnread)
	}
	return decodeJSONBytes(body, dst, strict)
}

func decodeJSONBytes(body []byte, dst any, strict bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return palisade.Errorf(palisade.CodeInvalid, "request body is empty")
	}
	if !utf8.Valid(body) {
		return palisade.Errorf(palisade.CodeInvalid, "request body must be valid UTF-8")
	}
	if err := checkJSONKeys(body); err != nil {
		return err
	}
	// Every request body of the platform is a JSON object. null would
	// decode into a struct as "no change" and pass every check, so a PATCH
	// of null would answer 200; an array or a scalar says the client is
	// confused. Both are refused before decoding.
	if bytes.TrimLeft(body, " \t\r\n")[0] != '{' {
		return palisade.Errorf(palisade.CodeInvalid, "request body must be an object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return palisade.Errorf(palisade.CodeInvalid, "request body must contain a single JSON value")
	}
	return nil
}

func isJSONContentType(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8")
}

var errNotJSON = palisade.Errorf(palisade.CodeInvalid, "request body is not valid JSON")

// checkJSONKeys walks the first JSON value token by token, refusing
// duplicate keys (compared case-folded, as encoding/json matches them) and
// nesting deeper than maxJSONDepth.
func checkJSONKeys(body []byte) error {
	type frame struct {
		obj     bool
		wantKey bool
		keys    map[string]struct{}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // numbers are not converted, so 1e400 is judged by Decode
	var stack []frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			// Syntax errors are reported here rather than by Decode.
			return errNotJSON
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if len(stack) >= maxJSONDepth {
					return palisade.Errorf(palisade.CodeInvalid, "request body is nested too deeply")
				}
				stack = append(stack, frame{obj: t == '{', wantKey: t == '{'})
			case '}', ']':
				stack = stack[:len(stack)-1]
				valueDone()
			}
		default:
			if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].wantKey {
				key, _ := t.(string)
				folded := strings.ToLower(strings.ToUpper(key))
				if stack[n-1].keys == nil {
					stack[n-1].keys = make(map[string]struct{})
				}
				if _, dup := stack[n-1].keys[folded]; dup {
					return &palisade.Error{Code: palisade.CodeInvalid, Field: safeField(key), Message: "request body repeats a key"}
				}
				stack[n-1].keys[folded] = struct{}{}
				stack[n-1].wantKey = false
				continue
			}
			valueDone()
		}
		if len(stack) == 0 {
			return nil
		}
	}
}

func jsonError(err error) error {
	var pe *palisade.Error
	if errors.As(err, &pe) {
		// A field type's own UnmarshalJSON validated it.
		return pe
	}
	var se *json.SyntaxError
	if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errNotJSON
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := safeField(te.Field)
		if field == "" {
			return palisade.Errorf(palisade.CodeInvalid, "request body must be %s", kindName(te.Type))
		}
		return palisade.FieldError(field, "%s must be %s", field, kindName(te.Type))
	}
	var ie *json.InvalidUnmarshalError
	if errors.As(err, &ie) {
		return fmt.Errorf("decoding JSON request: %w", err) // a bug of ours: a 500
	}
	if name, ok := strings.CutPrefix(err.Error(), `json: unknown field "`); ok {
		name = strings.TrimSuffix(name, `"`)
		if f := safeField(name); f != "" {
			return palisade.FieldError(f, "unknown field %s", f)
		}
		return palisade.Errorf(palisade.CodeInvalid, "request body has an unknown field")
	}
	return palisade.WrapError(err, palisade.CodeInvalid, "request body has an invalid value")
}

// safeField returns name if it is short and plain enough to echo to a
// client as a field name, else "".
func safeField(name string) string {
	if len(name) == 0 || len(name) > 64 {
		return ""
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return ""
		}
	}
	return name
}

func kindName(t reflect.Type) string {
	if t == nil {
		return "of another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	default:
		return "of another type"
	}
}
