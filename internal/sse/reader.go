package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
)

// Default caps of the Reader. Provider chunks are a few kilobytes; the
// official SDKs allow 32 MiB lines, which turns a misbehaving peer into a
// memory problem, so we fail closed far below that.
const (
	DefaultMaxLine  = 512 << 10
	DefaultMaxEvent = 2 << 20
)

var (
	// ErrLineTooLong is returned when a line passes the reader's cap.
	ErrLineTooLong = errors.New("sse: line too long")
	// ErrEventTooLarge is returned when one event's data passes its cap.
	ErrEventTooLarge = errors.New("sse: event too large")
)

// Event is one server-sent event.
type Event struct {
	Type string // the event: field, "" when absent
	Data string // data: lines joined with "\n"
	ID   string // the id: field of this event (not carried over to later events)
	// Raw holds the lines of the event block that are not SSE fields, joined
	// with "\n". The SSE spec ignores them; Gemini sends its in-stream errors
	// as such a bare JSON block, so adapters need to see them.
	Raw string
}

// Reader reads server-sent events (the WHATWG event-stream format as the
// providers and our own gateway role use it): event:, data: (several lines joined), id:, comments,
// one optional space after the colon, LF, CRLF or CR line ends, a leading
// BOM. Lines and events are capped.
type Reader struct {
	sc       *bufio.Scanner
	maxLine  int
	maxEvent int
	started  bool

	pending bool
	typ, id string
	data    strings.Builder
	raw     strings.Builder
	scanned int // bytes of the pending line already searched for a line end
}

// NewReader reads events from src. maxLine and maxEvent cap a line and an
// event's data in bytes; zero or less means the defaults.
func NewReader(src io.Reader, maxLine, maxEvent int) *Reader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	if maxEvent <= 0 {
		maxEvent = DefaultMaxEvent
	}
	sc := bufio.NewScanner(src)
	// +2 leaves room for a CRLF the split function must see whole.
	sc.Buffer(make([]byte, 0, min(4096, maxLine+2)), maxLine+2)
	r := &Reader{sc: sc, maxLine: maxLine, maxEvent: maxEvent}
	sc.Split(r.splitLines)
	return r
}

// Next returns the next event, or io.EOF when the stream ended cleanly. An
// event cut off by the end of the stream (no blank line after it) is still
// returned: whether the stream was complete is for the protocol's terminator
// to say, not the framing. Any other error is final.
func (r *Reader) Next() (Event, error) {
	for r.sc.Scan() {
		line := r.sc.Bytes()
		if len(line) > r.maxLine {
			return Event{}, ErrLineTooLong
		}
		if !r.started {
			r.started = true
			line = bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
		}
		if len(line) == 0 {
			if r.pending {
				return r.dispatch(), nil
			}
			continue
		}
		if line[0] == ':' {
			continue // comment, used as keep-alive
		}
		field, value, found := bytes.Cut(line, []byte(":"))
		if found && len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(field) {
		case "event":
			r.typ = string(value)
			r.pending = true
		case "data":
			if r.data.Len()+len(value)+1 > r.maxEvent {
				return Event{}, ErrEventTooLarge
			}
			r.data.Write(value)
			r.data.WriteByte('\n')
			r.pending = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				r.id = string(value)
				r.pending = true
			}
		case "retry":
			// We never reconnect: a broken stream is an error for the caller.
		default:
			if r.raw.Len()+len(line)+1 > r.maxEvent {
				return Event{}, ErrEventTooLarge
			}
			r.raw.Write(line)
			r.raw.WriteByte('\n')
			r.pending = true
		}
	}
	if err := r.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return Event{}, ErrLineTooLong
		}
		return Event{}, err
	}
	if r.pending {
		return r.dispatch(), nil
	}
	return Event{}, io.EOF
}

func (r *Reader) dispatch() Event {
	ev := Event{
		Type: r.typ,
		ID:   r.id,
		Data: strings.TrimSuffix(r.data.String(), "\n"),
		Raw:  strings.TrimSuffix(r.raw.String(), "\n"),
	}
	r.typ, r.id, r.pending = "", "", false
	r.data.Reset()
	r.raw.Reset()
	return ev
}

// splitLines splits at LF, CRLF or a lone CR. A CR at the end of the buffer
// waits for the next byte, which may be its LF. It remembers how far it has
// looked, so a peer dribbling a long line a byte at a time costs linear, not
// quadratic, time.
func (r *Reader) splitLines(data []byte, atEOF bool) (int, []byte, error) {
	if atEOF && len(data) == 0 {
		return 0, nil, nil
	}
	from := min(r.scanned, len(data))
	if j := bytes.IndexAny(data[from:], "\r\n"); j >= 0 {
		i := from + j
		if data[i] == '\n' {
			r.scanned = 0
			return i + 1, data[:i], nil
		}
		if i+1 < len(data) {
			r.scanned = 0
			if data[i+1] == '\n' {
				return i + 2, data[:i], nil
			}
			return i + 1, data[:i], nil
		}
		if atEOF {
			r.scanned = 0
			return i + 1, data[:i], nil
		}
		r.scanned = i // look at this CR again once the next byte is in
		return 0, nil, nil
	}
	if atEOF {
		r.scanned = 0
		return len(data), data, nil
	}
	r.scanned = len(data)
	return 0, nil, nil
}
