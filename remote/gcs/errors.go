package gcs

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/sealfs/sealfs/remote/driver"
)

// classify wraps err with the driver code it deserves. Errors caused by the
// caller's ctx, and errors already classified, are returned as they are, so
// errors.Is(err, context.Canceled) keeps working and the portable layer
// stops retrying.
func classify(ctx context.Context, err error) error {
	var derr *driver.Error
	if err == nil || errors.As(err, &derr) {
		return err
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return err
	}
	return driver.Errorf(codeOf(err), err)
}

// codeOf maps an SDK, HTTP or network error to a driver code.
func codeOf(err error) driver.Code {
	if errors.Is(err, storage.ErrObjectNotExist) || errors.Is(err, storage.ErrBucketNotExist) {
		return driver.NotFound
	}
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		return httpCode(gerr.Code)
	}
	var (
		nerr  net.Error
		operr *net.OpError
	)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed),
		// A deadline the caller did not set: an SDK or transport timeout.
		errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &nerr) && nerr.Timeout(),
		// Dial, read and write failures: refused, reset, unreachable, DNS.
		errors.As(err, &operr),
		storage.ShouldRetry(err):
		return driver.Transient
	}
	return driver.Unknown
}

// httpCode maps an HTTP status to a driver code.
func httpCode(status int) driver.Code {
	switch {
	case status == http.StatusNotFound:
		return driver.NotFound
	case status == http.StatusPreconditionFailed, status == http.StatusConflict:
		return driver.AlreadyExists
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		return driver.Transient
	case status >= 400:
		return driver.Permanent
	}
	return driver.Unknown
}
