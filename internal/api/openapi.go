package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/palisadehq/palisade/internal/auth"
	"github.com/palisadehq/palisade/internal/palisade"
)

// Op describes one route for the OpenAPI document. Every route of Routes
// has exactly one, keyed "METHOD pattern" in Docs, and a test fails on a
// route without one or one without a route. Request and Response are zero
// values of the Go types the handler decodes and encodes: their JSON
// schemas are generated from those types, so they cannot drift from the
// code either.
type Op struct {
	Summary string
	Tag     string
	// Request is the JSON body's type; nil: no body.
	Request any
	// Response is the answer's type (one item when List); nil: no body.
	Response any
	// List answers a page: {"data": [Response...], "next_cursor": ...},
	// with the limit and cursor query parameters.
	List bool
	// Status is the status of success.
	Status int
	// Query lists the other query parameters.
	Query []Param
	// Idempotent honours the Idempotency-Key header.
	Idempotent bool
	// Stream may answer text/event-stream (when the body asks for it).
	Stream bool
	// Example is a request body that succeeds on a fresh workspace's
	// fixture, shown in the document.
	Example string
	// Uploads are the media types also accepted as the raw body (a file),
	// and with them a multipart/form-data body with a file part.
	Uploads []string
}

// Param is a query parameter.
type Param struct {
	Name, Description string
	// Format is an OpenAPI string format ("date-time") or "".
	Format string
}

// openAPIDocument builds the OpenAPI 3.1 document from Routes and Docs.
func (a *API) openAPIDocument() map[string]any {
	docs := Docs()
	schemas := map[string]any{
		"Error": map[string]any{
			"type": "object", "required": []string{"error"},
			"properties": map[string]any{"error": map[string]any{
				"type": "object", "required": []string{"code", "message"},
				"properties": map[string]any{
					"code":       map[string]any{"type": "string", "enum": []string{"invalid", "unauthorized", "forbidden", "workspace_suspended", "not_found", "conflict", "too_large", "rate_limited", "unavailable", "internal"}},
					"message":    map[string]any{"type": "string"},
					"field":      map[string]any{"type": "string"},
					"error_id":   map[string]any{"type": "string"},
					"request_id": map[string]any{"type": "string"},
				},
			}},
		},
	}
	paths := map[string]any{}
	for _, rt := range a.Routes() {
		op, ok := docs[rt.Method+" "+rt.Pattern]
		if !ok {
			continue // the document test names it
		}
		item, _ := paths[rt.Pattern].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.Pattern] = item
		}
		item[strings.ToLower(rt.Method)] = openAPIOperation(rt, op, schemas)
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "Palisade API",
			"version": "1",
			"description": "The public REST API of Palisade. Authenticate with an API key: `Authorization: Bearer pal_…`. " +
				"Lists are cursor-paginated (`limit` 1–" + itoa(MaxLimit) + ", `cursor` from the previous page's `next_cursor`). " +
				"Creating POSTs honour `Idempotency-Key`. Errors share one shape (`Error`).",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas":         schemas,
			"securitySchemes": map[string]any{"apiKey": map[string]any{"type": "http", "scheme": "bearer", "description": "An API key, pal_…"}},
		},
		"security": []any{map[string]any{"apiKey": []string{}}},
	}
}

func openAPIOperation(rt Route, op Op, schemas map[string]any) map[string]any {
	o := map[string]any{
		"operationId": operationID(rt),
		"summary":     op.Summary,
		"tags":        []string{op.Tag},
	}
	if rt.Perm == auth.PermPublic {
		o["security"] = []any{}
	} else {
		o["description"] = "Needs the permission `" + string(rt.Perm) + "`."
	}
	var params []any
	for _, w := range palisade.PathWildcards(rt.Pattern) {
		prefix, _ := palisade.PathParamPrefix(w)
		params = append(params, map[string]any{"name": w, "in": "path", "required": true,
			"schema": map[string]any{"type": "string", "pattern": "^" + string(prefix) + "_[a-z2-7]{26}$"}})
	}
	query := op.Query
	if op.List {
		query = append([]Param{
			{Name: "limit", Description: "Items per page, 1 to " + itoa(MaxLimit) + " (default " + itoa(DefaultLimit) + ")."},
			{Name: "cursor", Description: "The next_cursor of the previous page."},
		}, query...)
	}
	for _, q := range query {
		s := map[string]any{"type": "string"}
		if q.Name == "limit" {
			s = map[string]any{"type": "integer", "minimum": 1, "maximum": MaxLimit}
		}
		if q.Format != "" {
			s["format"] = q.Format
		}
		params = append(params, map[string]any{"name": q.Name, "in": "query", "description": q.Description, "schema": s})
	}
	if op.Idempotent {
		params = append(params, map[string]any{"name": idempotencyHeader, "in": "header",
			"description": "Sent again with the same body, replays the first answer instead of creating again (24 hours).",
			"schema":      map[string]any{"type": "string", "maxLength": maxIdempotencyKey}})
	}
	if len(params) > 0 {
		o["parameters"] = params
	}
	if op.Request != nil {
		media := map[string]any{"schema": schemaOf(reflect.TypeOf(op.Request), schemas)}
		if op.Example != "" {
			media["example"] = rawJSON(op.Example)
		}
		content := map[string]any{"application/json": media}
		if len(op.Uploads) > 0 {
			content["multipart/form-data"] = map[string]any{"schema": map[string]any{
				"type": "object", "required": []string{"file"},
				"properties": map[string]any{
					"file": map[string]any{"type": "string", "contentMediaType": "application/octet-stream",
						"description": "The document: " + strings.Join(op.Uploads, ", ") + " (by the part's Content-Type or the file name's extension)."},
					"title": map[string]any{"type": "string", "description": "The title; by default the file name without its extension, else the document's own."},
				}}}
			for _, mt := range op.Uploads {
				content[mt] = map[string]any{"schema": map[string]any{"type": "string", "contentMediaType": mt}}
			}
		}
		o["requestBody"] = map[string]any{"required": true, "content": content}
	}
	ok := map[string]any{"description": http.StatusText(op.Status)}
	if op.Response != nil {
		s := schemaOf(reflect.TypeOf(op.Response), schemas)
		if op.List {
			s = map[string]any{"type": "object", "required": []string{"data", "next_cursor"}, "properties": map[string]any{
				"data":        map[string]any{"type": "array", "items": s},
				"next_cursor": map[string]any{"type": []string{"string", "null"}},
			}}
		}
		content := map[string]any{"application/json": map[string]any{"schema": s}}
		if op.Stream {
			content["text/event-stream"] = map[string]any{"schema": map[string]any{"type": "string",
				"description": "Server-sent events: `delta` {text}, then `done` with the JSON answer, or `error` with the error object."}}
		}
		ok["content"] = content
	}
	if op.Status == http.StatusCreated {
		ok["headers"] = map[string]any{"Location": map[string]any{"description": "The URL of the new resource.",
			"schema": map[string]any{"type": "string", "format": "uri-reference"}}}
	}
	o["responses"] = map[string]any{
		itoa(op.Status): ok,
		"default": map[string]any{"description": "An error", "content": map[string]any{"application/json": map[string]any{
			"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}},
	}
	return o
}

// operationID names an operation after its method and path:
// "get_bots_botId_documents".
func operationID(rt Route) string {
	id := strings.ToLower(rt.Method)
	for _, part := range strings.Split(strings.TrimPrefix(rt.Pattern, "/api/v1/"), "/") {
		part = strings.NewReplacer("{", "", "}", "", ".", "_", "-", "_").Replace(part)
		if part != "" {
			id += "_" + part
		}
	}
	return id
}

var timeType = reflect.TypeOf(time.Time{})

// schemaOf is the JSON schema of how encoding/json writes t: named
// structs become components, referenced by name.
func schemaOf(t reflect.Type, schemas map[string]any) map[string]any {
	if t == timeType {
		return map[string]any{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		s := schemaOf(t.Elem(), schemas)
		if typ, ok := s["type"].(string); ok {
			s["type"] = []string{typ, "null"}
			return s
		}
		return map[string]any{"oneOf": []any{s, map[string]any{"type": "null"}}}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), schemas)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), schemas)}
	case reflect.Struct:
		name := componentName(t)
		if _, done := schemas[name]; !done {
			schemas[name] = map[string]any{} // a placeholder against recursion
			props := map[string]any{}
			var required []string
			for i := range t.NumField() {
				f := t.Field(i)
				if !f.IsExported() {
					continue
				}
				tag := f.Tag.Get("json")
				if tag == "-" {
					continue
				}
				jname, opts, _ := strings.Cut(tag, ",")
				if jname == "" {
					jname = f.Name
				}
				props[jname] = schemaOf(f.Type, schemas)
				if !strings.Contains(opts, "omit") && f.Type.Kind() != reflect.Pointer {
					required = append(required, jname)
				}
			}
			s := map[string]any{"type": "object", "properties": props}
			if len(required) > 0 {
				slices.Sort(required)
				s["required"] = required
			}
			schemas[name] = s
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

// componentName is a schema's name: the Go type's, without the JSON
// suffix, capitalised ("documentJSON" → "Document").
// Types of other packages carry their package's name ("bot.Input" →
// "BotInput").
func componentName(t reflect.Type) string {
	n := strings.TrimSuffix(t.Name(), "JSON")
	if pkg := t.PkgPath(); pkg != reflect.TypeFor[API]().PkgPath() {
		n = pkg[strings.LastIndex(pkg, "/")+1:] + n
	}
	if n == "" {
		return "Object"
	}
	return strings.ToUpper(n[:1]) + n[1:]
}

func itoa(n int) string { return strconv.Itoa(n) }

// rawJSON is an example body as JSON, not as a string holding it.
func rawJSON(s string) json.RawMessage { return json.RawMessage(s) }

// openAPI serves the document.
func (a *API) openAPI(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, a.openAPIDocument())
}
