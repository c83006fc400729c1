package httpx

import "net/http"

// interceptWriter lets a middleware act at the moment the status line is
// committed (to re-assert headers, record the status) and count body bytes,
// while staying transparent to http.ResponseController and http.Flusher so
// streaming replies (the widget's server-sent events) keep working.
type interceptWriter struct {
	http.ResponseWriter
	// before runs once, just before the final status is written, with the
	// header map still mutable.
	before      func(status int)
	status      int
	bytes       int64
	wroteHeader bool
}

func (w *interceptWriter) WriteHeader(status int) {
	if w.wroteHeader {
		// Let net/http log the superfluous call as it normally does.
		w.ResponseWriter.WriteHeader(status)
		return
	}
	if status >= 100 && status < 200 && status != http.StatusSwitchingProtocols {
		// Informational responses (103 Early Hints) do not commit the
		// final status; the hook runs for the final one.
		w.ResponseWriter.WriteHeader(status)
		return
	}
	w.wroteHeader = true
	w.status = status
	if w.before != nil {
		w.before(status)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *interceptWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush commits the header like a write would, then flushes whatever lies
// underneath.
func (w *interceptWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *interceptWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish commits a 200 for a handler that wrote nothing, so the hook still
// runs; net/http would otherwise write the status itself, past the hook.
func (w *interceptWriter) finish() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
}

// started reports whether w (or any writer of ours it wraps) has committed a
// status line, so an error can no longer be written as a clean response.
func started(w http.ResponseWriter) bool {
	for w != nil {
		if iw, ok := w.(*interceptWriter); ok {
			if iw.wroteHeader {
				return true
			}
			w = iw.ResponseWriter
			continue
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
	return false
}
