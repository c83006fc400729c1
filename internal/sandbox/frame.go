package sandbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// A frame on the wire: a 4-byte big-endian length of what follows, then
// the frame type (1 byte), the request id (8 bytes), the length of the
// kind (1 byte), the kind, and the payload. The length is checked against
// a hard maximum before anything is allocated, so a peer cannot make the
// reader allocate more than that.

// FrameType says what a frame is for.
type FrameType uint8

const (
	// FrameTask: parent → worker, run a task of the kind named.
	FrameTask FrameType = 1 + iota
	// FrameResult: worker → parent, the task's result.
	FrameResult
	// FrameFail: worker → parent, the task failed (payload: a wire error).
	FrameFail
	// FrameProgress: worker → parent, an interim piece of a task's result
	// (a streamed delta).
	FrameProgress
	// FrameCancel: parent → worker, the caller gave up on the task.
	FrameCancel
	// FrameCall: worker → parent, the worker asks the parent to do
	// something on its behalf (the gateway call); the id is the worker's.
	FrameCall
	// FrameReply: parent → worker, the answer to a call.
	FrameReply
	// FrameCallFail: parent → worker, the call failed (payload: a wire
	// error).
	FrameCallFail
	// FrameEvent: parent → worker, an interim piece of a call's answer.
	FrameEvent
	frameTypeEnd
)

// DefaultMaxFrame is the largest frame either side accepts unless told
// otherwise: room for a document at its upload limit with headroom.
const DefaultMaxFrame = 24 << 20

const headerLen = 4 + 1 + 8 + 1

// Frame is one message of the protocol.
type Frame struct {
	Type    FrameType
	ID      uint64
	Kind    string
	Payload []byte
}

// ErrFrameTooLarge is returned for a frame over the maximum, read or
// written; the connection is unusable after it.
var ErrFrameTooLarge = errors.New("sandbox: frame over the maximum size")

// errMalformed: a frame that does not parse; the connection is unusable.
var errMalformed = errors.New("sandbox: malformed frame")

// WriteFrame writes f to w as one write, refusing a frame over max.
func WriteFrame(w io.Writer, f Frame, max int) error {
	if len(f.Kind) > 255 {
		return fmt.Errorf("%w: kind too long", errMalformed)
	}
	n := 1 + 8 + 1 + len(f.Kind) + len(f.Payload)
	if n > max {
		return ErrFrameTooLarge
	}
	buf := make([]byte, 4+n)
	binary.BigEndian.PutUint32(buf, uint32(n))
	buf[4] = byte(f.Type)
	binary.BigEndian.PutUint64(buf[5:], f.ID)
	buf[13] = byte(len(f.Kind))
	copy(buf[headerLen:], f.Kind)
	copy(buf[headerLen+len(f.Kind):], f.Payload)
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one frame from r, refusing one whose length is over max
// before reading its body.
func ReadFrame(r io.Reader, max int) (Frame, error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(r, hdr[:4]); err != nil {
		return Frame{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if uint64(n) > uint64(max) {
		return Frame{}, ErrFrameTooLarge
	}
	if n < headerLen-4 {
		return Frame{}, errMalformed
	}
	if _, err := io.ReadFull(r, hdr[4:]); err != nil {
		return Frame{}, unexpected(err)
	}
	f := Frame{Type: FrameType(hdr[4]), ID: binary.BigEndian.Uint64(hdr[5:])}
	if f.Type == 0 || f.Type >= frameTypeEnd {
		return Frame{}, fmt.Errorf("%w: unknown type %d", errMalformed, f.Type)
	}
	kl := int(hdr[13])
	rest := int(n) - (headerLen - 4)
	if kl > rest {
		return Frame{}, errMalformed
	}
	body := make([]byte, rest)
	if _, err := io.ReadFull(r, body); err != nil {
		return Frame{}, unexpected(err)
	}
	f.Kind = string(body[:kl])
	f.Payload = body[kl:]
	return f, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// A call frame's payload starts with the id of the task it is made for,
// so the parent serves it for that task only, within the task's context:
// the call ends when the task's caller gives up, and carries what the
// caller's context carries (the request id the logs trace a turn by).
const callTaskIDSize = 8

func callPayload(task uint64, payload []byte) []byte {
	b := make([]byte, callTaskIDSize+len(payload))
	binary.BigEndian.PutUint64(b, task)
	copy(b[callTaskIDSize:], payload)
	return b
}

// splitCallPayload returns the task id and the payload of a call frame.
func splitCallPayload(b []byte) (uint64, []byte, bool) {
	if len(b) < callTaskIDSize {
		return 0, nil, false
	}
	return binary.BigEndian.Uint64(b), b[callTaskIDSize:], true
}
