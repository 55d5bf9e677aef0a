package gcs

import (
	"context"
	"errors"

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
		return driver.HTTPStatusCode(gerr.Code)
	}
	if driver.IsNetworkError(err) || storage.ShouldRetry(err) {
		return driver.Transient
	}
	return driver.Unknown
}
