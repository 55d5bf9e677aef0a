package azblob

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/sealfs/sealfs/remote/driver"
)

// classify wraps err in a driver.Error whose code tells the portable layer
// whether to retry: by the service's error code first, then by HTTP status,
// then by the kind of network failure. Caller cancellation stays
// unclassified.
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
	switch {
	case bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound, bloberror.ResourceNotFound):
		return driver.NotFound
	case bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet):
		return driver.AlreadyExists
	case bloberror.HasCode(err, bloberror.ServerBusy, bloberror.OperationTimedOut, bloberror.InternalError):
		return driver.Transient
	}
	var respErr *azcore.ResponseError
	if errors.As(err, &respErr) {
		return codeOfStatus(respErr.StatusCode)
	}
	if isNetworkError(err) {
		return driver.Transient
	}
	return driver.Unknown
}

// codeOfStatus maps the HTTP status of a failed request.
func codeOfStatus(status int) driver.Code {
	switch {
	case status == http.StatusNotFound:
		return driver.NotFound
	case status == http.StatusPreconditionFailed:
		return driver.AlreadyExists
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
		return driver.Transient
	case status >= 400:
		return driver.Permanent
	}
	return driver.Unknown
}

// isNetworkError reports failures of the connection itself: refused or
// reset connections, timeouts, a response cut short.
func isNetworkError(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}
