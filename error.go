// Package keyledger holds the vocabulary every layer shares: the error codes a
// caller can act on. Drivers (JetStream, SQLite, NATS micro, HTTP) live in
// their own packages and map these codes once each.
package keyledger

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Error codes: the whole vocabulary a client must understand.
const (
	EInvalid         = "invalid"
	ENotFound        = "not_found"
	EForbidden       = "forbidden"
	EUnauthenticated = "unauthenticated"
	EConflict        = "conflict"
	ELimitReached    = "limit_reached"
	EDisabled        = "disabled"
	EUnavailable     = "unavailable"
	EInternal        = "internal"
)

// Codes lists every error code, for documents and tests that must cover
// them all.
var Codes = []string{EInvalid, EUnauthenticated, EForbidden, EDisabled, ENotFound, EConflict, ELimitReached, EUnavailable, EInternal}

// Error is a failure a caller can act on: a stable Code and a human Message.
// Anything that is not an *Error is reported to clients as EInternal.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, keyledger.ErrNotFound) matches any not_found error.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code
}

// Sentinels for errors.Is; their messages are never shown.
var (
	ErrInvalid         = &Error{Code: EInvalid}
	ErrNotFound        = &Error{Code: ENotFound}
	ErrForbidden       = &Error{Code: EForbidden}
	ErrUnauthenticated = &Error{Code: EUnauthenticated}
	ErrConflict        = &Error{Code: EConflict}
	ErrLimitReached    = &Error{Code: ELimitReached}
	ErrDisabled        = &Error{Code: EDisabled}
	ErrUnavailable     = &Error{Code: EUnavailable}
)

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, EInternal for errors that carry none,
// and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the message a client may see: the *Error's message, or
// a generic text for internal errors, whose details belong in logs only.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// HTTPStatus is the HTTP status for an error code. The NATS micro service
// uses the same numbers in its error-code header, so both transports derive
// their status from this one table.
func HTTPStatus(code string) int {
	switch code {
	case EInvalid:
		return 400
	case EUnauthenticated:
		return 401
	case EForbidden, EDisabled:
		return 403
	case ENotFound:
		return 404
	case EConflict:
		return 409
	case ELimitReached:
		return 422 // a quota, not a rate: retrying will not help
	case EUnavailable:
		return 503
	case "":
		return 200
	}
	return 500
}

// UnmarshalJSON reads {"code","message"}, as error replies carry them.
func (e *Error) UnmarshalJSON(b []byte) error {
	var v struct{ Code, Message string }
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	e.Code, e.Message = v.Code, v.Message
	return nil
}

// ErrorJSON is the body of every error reply: {"error":{"code","message"}}.
func ErrorJSON(err error) []byte {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": ErrorCode(err), "message": ErrorMessage(err)}})
	return b
}
