package driver

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
)

// HTTPStatusCode classifies the status of a failed HTTP request, the same
// way for every backend: 404 is NotFound, 409 and 412 (a failed condition)
// AlreadyExists, 408, 429 and 5xx Transient, other 4xx Permanent.
func HTTPStatusCode(status int) Code {
	switch {
	case status == http.StatusNotFound:
		return NotFound
	case status == http.StatusPreconditionFailed, status == http.StatusConflict:
		return AlreadyExists
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		return Transient
	case status >= 400:
		return Permanent
	}
	return Unknown
}

// IsNetworkError reports failures of the connection itself, worth a retry:
// refused or reset connections, timeouts the caller did not set, a response
// cut short.
func IsNetworkError(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) ||
		errors.Is(err, net.ErrClosed) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

// Classify wraps err with the code codeOf gives it. A nil error stays nil,
// and the caller's own cancellation stays unclassified: it is no failure of
// the backend.
func Classify(err error, codeOf func(error) Code) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	return Errorf(codeOf(err), err)
}
