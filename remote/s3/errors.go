package s3

import (
	"errors"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/sealfs/sealfs/remote/driver"
)

// classify wraps err in a driver.Error whose code tells the portable layer
// whether to retry: by HTTP status first, then by S3 error code, then by
// the kind of network failure. Caller cancellation stays unclassified.
func classify(err error) error { return driver.Classify(err, codeOf) }

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
		if c := driver.HTTPStatusCode(statusErr.HTTPStatusCode()); c != driver.Unknown {
			return c
		}
	}
	if driver.IsNetworkError(err) || errors.As(err, new(*smithyhttp.RequestSendError)) {
		return driver.Transient
	}
	return driver.Unknown
}
