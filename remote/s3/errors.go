package s3

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/sealfs/sealfs/remote/driver"
)

// classify wraps err in a driver.Error whose code tells the portable layer
// whether to retry: by HTTP status first, then by S3 error code, then by
// the kind of network failure. Caller cancellation stays unclassified.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return driver.Errorf(codeOf(err), err)
}

// codeOf maps an SDK error to a driver code.
func codeOf(err error) driver.Code {
	var apiErr smithy.APIError
	code := ""
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
	}
	switch code {
	case "NoSuchKey", "NotFound", "NoSuchBucket":
		return driver.NotFound
	case "PreconditionFailed", "ConditionalRequestConflict":
		return driver.AlreadyExists
	case "SlowDown", "RequestTimeout", "OperationAborted", "InternalError", "ServiceUnavailable", "RequestTimeTooSkewed":
		return driver.Transient
	}
	var statusErr interface{ HTTPStatusCode() int }
	if errors.As(err, &statusErr) {
		if c, ok := codeOfStatus(statusErr.HTTPStatusCode()); ok {
			return c
		}
	}
	if isNetworkError(err) {
		return driver.Transient
	}
	return driver.Unknown
}

// codeOfStatus maps an HTTP status; ok is false for statuses that say
// nothing (a 2xx or 3xx that still failed to decode, for instance).
func codeOfStatus(status int) (driver.Code, bool) {
	switch {
	case status == 404:
		return driver.NotFound, true
	case status == 412 || status == 409:
		return driver.AlreadyExists, true
	case status == 408 || status == 429 || status >= 500:
		return driver.Transient, true
	case status >= 400:
		return driver.Permanent, true
	}
	return driver.Unknown, false
}

// isNetworkError reports failures of the connection itself: refused or
// reset connections, timeouts, a response cut short.
func isNetworkError(err error) bool {
	var netErr net.Error
	var sendErr *smithyhttp.RequestSendError
	return errors.As(err, &netErr) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &sendErr)
}
