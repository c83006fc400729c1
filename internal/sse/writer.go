package sse

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Writer sends server-sent events on an HTTP response. The response starts
// with the first event, not before: until then the handler may still return
// an ordinary error response, and Started says which case it is in. Each
// event is flushed through http.ResponseController as soon as it is written,
// so that proxies and middleware in between (which must support Unwrap or
// Flush) pass it on at once.
//
// A Writer is for one response and one goroutine, like the ResponseWriter
// it wraps.
type Writer struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

// NewWriter returns a Writer on w. It writes nothing yet.
func NewWriter(w http.ResponseWriter) *Writer {
	return &Writer{w: w, rc: http.NewResponseController(w)}
}

// Started reports whether the response has begun; after that an error can
// only be reported as an event.
func (sw *Writer) Started() bool { return sw.started }

// Send writes one event named name whose data is v encoded as JSON, and
// flushes it. The first Send commits the response: status 200,
// Content-Type text/event-stream, and X-Accel-Buffering: no so that nginx
// does not hold the events back.
func (sw *Writer) Send(name string, v any) error {
	if name == "" || strings.ContainsAny(name, "\r\n") {
		// A line break in the name would let it end the event early and
		// forge fields of its own.
		return fmt.Errorf("sse: event name %q is empty or spans lines", name)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("sse: encoding the %s event: %w", name, err)
	}
	// encoding/json compacts its output, custom marshalers included, so
	// this never fires; it stays because the framing depends on it.
	if strings.ContainsAny(string(data), "\r\n") {
		return errors.New("sse: encoded event data spans lines")
	}
	sw.start()
	if _, err := fmt.Fprintf(sw.w, "event: %s\ndata: %s\n\n", name, data); err != nil {
		return fmt.Errorf("sse: writing the %s event: %w", name, err)
	}
	if err := sw.rc.Flush(); err != nil {
		return fmt.Errorf("sse: flushing the %s event: %w", name, err)
	}
	return nil
}

// SendData writes one unnamed event whose data is v encoded as JSON, and
// flushes it: the framing of OpenAI-style streams, which carry no event
// names. Like Send, the first one commits the response.
func (sw *Writer) SendData(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("sse: encoding an event: %w", err)
	}
	return sw.SendLiteral(string(data))
}

// SendLiteral writes one unnamed event whose data is exactly data (such as
// OpenAI's "[DONE]" terminator), and flushes it. Data spanning lines is
// refused: it could end the event early and forge fields of its own.
func (sw *Writer) SendLiteral(data string) error {
	if strings.ContainsAny(data, "\r\n") {
		return errors.New("sse: event data spans lines")
	}
	sw.start()
	if _, err := fmt.Fprintf(sw.w, "data: %s\n\n", data); err != nil {
		return fmt.Errorf("sse: writing an event: %w", err)
	}
	if err := sw.rc.Flush(); err != nil {
		return fmt.Errorf("sse: flushing an event: %w", err)
	}
	return nil
}

func (sw *Writer) start() {
	if sw.started {
		return
	}
	sw.started = true
	h := sw.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	sw.w.WriteHeader(http.StatusOK)
}
