package palisade

import (
	"errors"
	"fmt"
)

// Code is one of the closed set of error codes. Every error a client sees is
// reduced to one of these; httpx maps each to exactly one HTTP status.
type Code string

const (
	CodeInvalid      Code = "invalid"
	CodeUnauthorized Code = "unauthorized"
	CodeForbidden    Code = "forbidden"
	CodeNotFound     Code = "not_found"
	CodeConflict     Code = "conflict"
	CodeTooLarge     Code = "too_large"
	CodeRateLimited  Code = "rate_limited"
	CodeUnavailable  Code = "unavailable"
	CodeInternal     Code = "internal"
)

// CodeSuspended is a refusal because the operator suspended the
// workspace: a 403 a client can tell apart from a missing permission.
const CodeSuspended Code = "workspace_suspended"

// Codes lists every code, for tables and tests that must cover them all.
var Codes = []Code{
	CodeInvalid, CodeUnauthorized, CodeForbidden, CodeSuspended, CodeNotFound, CodeConflict,
	CodeTooLarge, CodeRateLimited, CodeUnavailable, CodeInternal,
}

// Error is an error meant to be shown to a client. Message is public and
// must be safe to show; Field optionally names the offending input field.
// The wrapped cause (if any) is for logs only and never leaves the process.
type Error struct {
	Code    Code
	Message string
	Field   string
	cause   error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap exposes the internal cause to errors.Is / errors.As.
func (e *Error) Unwrap() error { return e.cause }

// Errorf builds a public error with a formatted, client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError reports invalid input in a named field.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// WrapError attaches an internal cause to a public error. The cause is never
// shown to clients.
func WrapError(cause error, code Code, message string) *Error {
	return &Error{Code: code, Message: message, cause: cause}
}

// ErrNotFound is the canonical "no such thing, or not yours" error. Another
// workspace's row must be indistinguishable from a missing one.
var ErrNotFound = &Error{Code: CodeNotFound, Message: "not found"}

// ErrConflict reports a uniqueness violation.
var ErrConflict = &Error{Code: CodeConflict, Message: "already exists"}

// ErrorCode returns the code of err, or CodeInternal for any error that is not
// a *Error (an unknown error is always an internal one).
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the public message of err; unknown errors get a
// generic message so their text never reaches a client.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
