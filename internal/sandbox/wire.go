package sandbox

import (
	"encoding/json"
	"errors"
	"slices"
	"unicode/utf8"

	"github.com/palisadehq/palisade/internal/palisade"
)

// wireError is a failure as it crosses the socket: only the public parts
// of a *palisade.Error. Anything else a side fails with is reduced to a
// generic message, so no internal detail (and nothing the other side
// holds) crosses.
type wireError struct {
	Code    palisade.Code `json:"code"`
	Message string        `json:"message"`
	Field   string        `json:"field,omitempty"`
}

// maxWireMessage caps the text a worker can put in front of a client.
const maxWireMessage = 300

func encodeError(err error, fallback string) []byte {
	we := wireError{Code: palisade.CodeInternal, Message: fallback}
	var pe *palisade.Error
	if errors.As(err, &pe) {
		we = wireError{Code: pe.Code, Message: pe.Message, Field: pe.Field}
	}
	b, _ := json.Marshal(we)
	return b
}

// decodeError turns a peer's wire error back into a *palisade.Error,
// trusting nothing of it: an unknown code is internal, a long or
// malformed message is replaced.
func decodeError(b []byte, fallback string) *palisade.Error {
	var we wireError
	if json.Unmarshal(b, &we) != nil || !slices.Contains(palisade.Codes, we.Code) {
		return palisade.Errorf(palisade.CodeInternal, "%s", fallback)
	}
	if we.Message == "" || len(we.Message) > maxWireMessage || !utf8.ValidString(we.Message) {
		we.Message = fallback
	}
	if len(we.Field) > 100 || !utf8.ValidString(we.Field) {
		we.Field = ""
	}
	return &palisade.Error{Code: we.Code, Message: we.Message, Field: we.Field}
}
