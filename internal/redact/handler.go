package redact

import (
	"context"
	"encoding"
	"fmt"
	"log/slog"
)

// Handler returns a slog.Handler that redacts every record before passing it
// to next: the message, every attribute value (inside groups too), errors by
// their Error text, Stringers, TextMarshalers and values of any other kind
// formatted to text. Attributes whose key names a secret (see SensitiveKey),
// and everything inside a group so named, are replaced whole.
//
// Attributes given to With are redacted when With is called, against the
// values registered by then.
func (r *Redactor) Handler(next slog.Handler) slog.Handler {
	return &handler{r: r, next: next}
}

type handler struct {
	r    *Redactor
	next slog.Handler
	// sensitive is set inside a group whose name marks a secret.
	sensitive bool
}

func (h *handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.name(rec.Message), rec.PC)
	// Records are small: their attributes fit on the stack, as in slog.
	var buf [8]slog.Attr
	attrs := buf[:0]
	rec.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, h.attr(a))
		return true
	})
	out.AddAttrs(attrs...)
	return h.next.Handle(ctx, out)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = h.attr(a)
	}
	return &handler{r: h.r, next: h.next.WithAttrs(red), sensitive: h.sensitive}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{
		r:         h.r,
		next:      h.next.WithGroup(h.r.String(name)),
		sensitive: h.sensitive || h.r.SensitiveKey(name),
	}
}

func (h *handler) attr(a slog.Attr) slog.Attr {
	return h.r.Attr(a, h.sensitive)
}

// safeText is a value its maker vouches carries no secret; only Safe makes
// one. As a string kind it prints as the bare text through any handler.
type safeText string

// Safe returns an attribute that the redacting handler passes on without
// scanning its key or value for secrets: for values that are safe by
// construction, built by our own code from a closed set of characters or
// values (a route pattern from the routes table, a request id we made or
// validated, a parsed IP address's text). Never use it for anything a
// client, a provider or a user wrote (paths, queries, headers, messages,
// errors): those go through the scan as ordinary attributes. A key that
// names a secret (SensitiveKey) still has its value replaced, and a Safe
// attribute inside a group so named is replaced too.
func Safe(key, value string) slog.Attr {
	return slog.Attr{Key: key, Value: slog.AnyValue(safeText(value))}
}

// Attr returns a redacted copy of a. With whole set, or when a's key names
// a secret, the value is replaced by the marker whatever its kind; groups
// keep their shape.
func (r *Redactor) Attr(a slog.Attr, whole bool) slog.Attr {
	if a.Value.Kind() == slog.KindAny {
		if t, ok := a.Value.Any().(safeText); ok {
			if whole || r.SensitiveKey(a.Key) {
				return slog.String(a.Key, Marker)
			}
			return slog.String(a.Key, string(t))
		}
	}
	// Resolve first: a LogValuer may compute a secret, and secret.Secret
	// resolves to its own marker.
	v := a.Value.Resolve()
	key := r.name(a.Key)
	whole = whole || r.SensitiveKey(a.Key)
	if v.Kind() == slog.KindGroup {
		group := v.Group()
		red := make([]slog.Attr, len(group))
		for i, g := range group {
			red[i] = r.Attr(g, whole)
		}
		return slog.Attr{Key: key, Value: slog.GroupValue(red...)}
	}
	if whole {
		if v.Kind() == slog.KindAny && v.Any() == nil {
			return slog.Attr{Key: key, Value: v}
		}
		return slog.String(key, Marker)
	}
	return slog.Attr{Key: key, Value: r.value(v)}
}

func (r *Redactor) value(v slog.Value) slog.Value {
	switch v.Kind() {
	case slog.KindString:
		return slog.StringValue(r.String(v.String()))
	case slog.KindAny:
		if v.Any() == nil {
			return v
		}
		return slog.StringValue(r.String(anyText(v.Any())))
	default:
		// Numbers, booleans, times and durations carry no secret text.
		return v
	}
}

// anyText formats a value the way slog's handlers would print it, so that
// redaction sees the text that would otherwise be written. fmt recovers from
// panicking Error and String methods.
func anyText(x any) string {
	switch t := x.(type) {
	case error:
		return fmt.Sprint(t)
	case encoding.TextMarshaler:
		b, err := safeMarshalText(t)
		if err != nil {
			return fmt.Sprintf("!ERROR:%v", err)
		}
		return string(b)
	case []byte:
		return string(t)
	default:
		return fmt.Sprintf("%+v", x)
	}
}

func safeMarshalText(t encoding.TextMarshaler) (b []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("MarshalText panicked: %v", p)
		}
	}()
	return t.MarshalText()
}
