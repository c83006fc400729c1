package sse

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func readAll(r *Reader) ([]Event, error) {
	var out []Event
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev)
		if len(out) > 1<<16 {
			return out, errors.New("runaway reader")
		}
	}
}

func TestReader(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   string
		want []Event
	}{
		{"data", "data: hello\n\n", []Event{{Data: "hello"}}},
		{"no space", "data:hello\n\n", []Event{{Data: "hello"}}},
		{"one space stripped", "data:  two\n\n", []Event{{Data: " two"}}},
		{"multi-line data", "data: a\ndata: b\ndata:\n\n", []Event{{Data: "a\nb\n"}}},
		{"named event", "event: message_start\ndata: {}\n\n", []Event{{Type: "message_start", Data: "{}"}}},
		{"comments are keep-alives", ": ping\n\n: another\ndata: x\n\n", []Event{{Data: "x"}}},
		{"CRLF", "event: a\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n", []Event{{Type: "a", Data: "1"}, {Data: "2"}}},
		{"lone CR", "data: 1\r\rdata: 2\r\r", []Event{{Data: "1"}, {Data: "2"}}},
		{"BOM", "\xEF\xBB\xBFdata: x\n\n", []Event{{Data: "x"}}},
		{"id per event", "id: 7\ndata: a\n\ndata: b\n\n", []Event{{ID: "7", Data: "a"}, {Data: "b"}}},
		{"id with NUL ignored", "id: a\x00b\ndata: x\n\n", []Event{{Data: "x"}}},
		{"retry ignored", "retry: 10\n\n", nil},
		{"field without colon", "data\n\n", []Event{{Data: ""}}},
		{"event only", "event: ping\n\n", []Event{{Type: "ping"}}},
		{"blank lines only", "\n\n\r\n", nil},
		{"unterminated last event", "data: [DONE]", []Event{{Data: "[DONE]"}}},
		{"colon in value", "data: {\"a\":\"b:c\"}\n\n", []Event{{Data: `{"a":"b:c"}`}}},
		{"bare JSON error block", "data: {\"x\":1}\r\n\r\n{\n  \"error\": {\n    \"code\": 503\n  }\n}\n",
			[]Event{{Data: `{"x":1}`}, {Raw: "{\n  \"error\": {\n    \"code\": 503\n  }\n}"}}},
		{"empty", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := readAll(NewReader(strings.NewReader(tc.in), 0, 0))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			// The framing must not depend on how the bytes arrive.
			got, err = readAll(NewReader(iotest.OneByteReader(strings.NewReader(tc.in)), 0, 0))
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("one byte at a time: got %+v, %v", got, err)
			}
		})
	}
}

func TestReaderLimits(t *testing.T) {
	t.Parallel()
	ok := "data: " + strings.Repeat("x", 58) + "\n\n" // a 64-byte line
	if got, err := readAll(NewReader(strings.NewReader(ok), 64, 0)); err != nil || len(got) != 1 {
		t.Fatalf("a line at the cap: %v", err)
	}
	long := "data: " + strings.Repeat("x", 59) + "\n\n"
	if _, err := readAll(NewReader(strings.NewReader(long), 64, 0)); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("a line over the cap: err = %v", err)
	}
	endless := io.MultiReader(strings.NewReader("data: "), neverEnding('x'))
	if _, err := NewReader(endless, 1024, 0).Next(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("an endless line: err = %v", err)
	}
	many := strings.Repeat("data: 0123456789\n", 100) + "\n"
	if _, err := readAll(NewReader(strings.NewReader(many), 0, 500)); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("an event over the cap: err = %v", err)
	}
	raw := strings.Repeat("junk line\n", 100) + "\n"
	if _, err := readAll(NewReader(strings.NewReader(raw), 0, 500)); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("raw lines over the cap: err = %v", err)
	}
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func TestReaderReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	r := NewReader(io.MultiReader(strings.NewReader("data: a\n\ndata: b"), iotest.ErrReader(boom)), 0, 0)
	if ev, err := r.Next(); err != nil || ev.Data != "a" {
		t.Fatalf("first event: %+v %v", ev, err)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("a read error must surface, not pass for the end: %v", err)
	}
}

// encodeEvents writes events back in the wire format, one data line per
// line of Data, so that parsing the output must give the same events.
func encodeEvents(evs []Event) string {
	var b strings.Builder
	for _, ev := range evs {
		if ev.Type != "" {
			b.WriteString("event: " + ev.Type + "\n")
		}
		if ev.ID != "" {
			b.WriteString("id: " + ev.ID + "\n")
		}
		for line := range strings.SplitSeq(ev.Data, "\n") {
			b.WriteString("data: " + line + "\n")
		}
		if ev.Raw != "" {
			b.WriteString(ev.Raw + "\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("data: hello\n\n"))
	f.Add([]byte("event: message_start\ndata: {\"type\":\"message_start\"}\n\n"))
	f.Add([]byte(": keep-alive\r\ndata: a\r\ndata: b\r\n\r\n"))
	f.Add([]byte("data: [DONE]"))
	f.Fuzz(func(t *testing.T, in []byte) {
		const maxLine, maxEvent = 4096, 8192
		got, err := readAll(NewReader(strings.NewReader(string(in)), maxLine, maxEvent))
		var total int
		for _, ev := range got {
			total += len(ev.Data) + len(ev.Raw) + len(ev.Type) + len(ev.ID)
			if len(ev.Data) > maxEvent || len(ev.Raw) > maxEvent {
				t.Fatalf("an event passed the cap: %d bytes", len(ev.Data))
			}
			if strings.ContainsAny(ev.Type+ev.ID, "\r\n") {
				t.Fatalf("a field holds a line break: %+v", ev)
			}
		}
		if total > len(in) {
			t.Fatalf("events hold %d bytes, more than the %d read", total, len(in))
		}
		if len(in) <= 2*maxLine { // byte-at-a-time reads are slow; keep minimisation quick
			byByte, err2 := readAll(NewReader(iotest.OneByteReader(strings.NewReader(string(in))), maxLine, maxEvent))
			if !errors.Is(err2, err) || !slices.Equal(byByte, got) {
				t.Fatalf("result depends on read sizes: %+v (%v) vs %+v (%v)", got, err, byByte, err2)
			}
		}
		if err != nil {
			return
		}
		again, err := readAll(NewReader(strings.NewReader(encodeEvents(got)), 2*maxLine, 2*maxEvent))
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("round trip: %+v (%v), want %+v", again, err, got)
		}
	})
}
