package spandb

// #include <spandb.h>
import "C"

import (
	"errors"
	"fmt"
	"runtime"
)

// Code is a status code of the C API.
type Code int

const (
	CodeNullPointer     Code = C.SPANDB_ERR_NULL_POINTER
	CodeInvalidArgument Code = C.SPANDB_ERR_INVALID_ARGUMENT
	CodeInvalidUTF8     Code = C.SPANDB_ERR_INVALID_UTF8
	CodeInvalidHandle   Code = C.SPANDB_ERR_INVALID_HANDLE
	CodeClosed          Code = C.SPANDB_ERR_CLOSED
	CodeInvalidInput    Code = C.SPANDB_ERR_INVALID_INPUT
	CodeQuerySyntax     Code = C.SPANDB_ERR_QUERY_SYNTAX
	CodeIO              Code = C.SPANDB_ERR_IO
	CodeCorruption      Code = C.SPANDB_ERR_CORRUPTION
	CodePoisoned        Code = C.SPANDB_ERR_POISONED
	CodePanic           Code = C.SPANDB_ERR_PANIC
	CodeInternal        Code = C.SPANDB_ERR_INTERNAL
)

func (c Code) String() string { return C.GoString(C.spandb_status_name(C.int32_t(c))) }

// Error is an error reported by spandb. Compare kinds with errors.Is against the sentinels
// (ErrClosed, ErrQuerySyntax, ...) or read Code.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return "spandb: " + e.Message }

// Is makes errors.Is(err, spandb.ErrClosed) match any *Error with the same code.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

var (
	// ErrClosed: the DB was closed.
	ErrClosed = &Error{Code: CodeClosed, Message: "the database is closed"}
	// ErrQuerySyntax: TraceQL that does not parse.
	ErrQuerySyntax = &Error{Code: CodeQuerySyntax, Message: "TraceQL syntax error"}
	// ErrInvalidInput: data or a query spandb rejects.
	ErrInvalidInput = &Error{Code: CodeInvalidInput, Message: "invalid input"}
	// ErrInvalidArgument: an argument out of range.
	ErrInvalidArgument = &Error{Code: CodeInvalidArgument, Message: "invalid argument"}
	// ErrInvalidUTF8: a string that is not UTF-8.
	ErrInvalidUTF8 = &Error{Code: CodeInvalidUTF8, Message: "invalid UTF-8"}
	// ErrCorruption: stored bytes that fail validation.
	ErrCorruption = &Error{Code: CodeCorruption, Message: "corruption"}
)

// call runs one C call and turns a failure into an *Error. The OS thread is locked so that
// the per-thread last error message is read on the thread that set it.
func call(f func() C.spandb_status) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	st := f()
	if st == C.SPANDB_OK {
		return nil
	}
	msg := C.GoString(C.spandb_last_error_message())
	code := Code(st)
	if code == CodeInvalidHandle {
		// The handle was freed by Close racing with this call.
		return &Error{Code: CodeClosed, Message: "the database is closed"}
	}
	return &Error{Code: code, Message: msg}
}

func mustFree(st C.uint) {
	if st != C.SPANDB_OK {
		panic(fmt.Sprintf("spandb: freeing a result failed: %v", Code(st)))
	}
}
