package azblob

import (
	"errors"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/sealfs/sealfs/remote/driver"
)

// classify wraps err in a driver.Error whose code tells the portable layer
// whether to retry: by the service's error code first, then by HTTP status,
// then by the kind of network failure. Caller cancellation stays
// unclassified.
func classify(err error) error { return driver.Classify(err, codeOf) }

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
		return driver.HTTPStatusCode(respErr.StatusCode)
	}
	if driver.IsNetworkError(err) {
		return driver.Transient
	}
	return driver.Unknown
}
