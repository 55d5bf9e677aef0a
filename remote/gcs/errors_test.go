package gcs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/sealfs/sealfs/remote/driver"
)

func TestClassify(t *testing.T) {
	refused := &url.Error{Op: "Post", URL: "http://127.0.0.1:1/upload", Err: &net.OpError{
		Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED),
	}}
	tests := []struct {
		name string
		err  error
		want driver.Code
	}{
		{"object missing", storage.ErrObjectNotExist, driver.NotFound},
		{"bucket missing", fmt.Errorf("open: %w", storage.ErrBucketNotExist), driver.NotFound},
		{"404", &googleapi.Error{Code: 404}, driver.NotFound},
		{"412 precondition", &googleapi.Error{Code: 412}, driver.AlreadyExists},
		{"409 conflict", &googleapi.Error{Code: 409}, driver.AlreadyExists},
		{"408", &googleapi.Error{Code: 408}, driver.Transient},
		{"429", &googleapi.Error{Code: 429}, driver.Transient},
		{"500", &googleapi.Error{Code: 500}, driver.Transient},
		{"503 after SDK retries", fmt.Errorf("storage: retry failed after 3 attempts; last error: %w", &googleapi.Error{Code: 503}), driver.Transient},
		{"400", &googleapi.Error{Code: 400}, driver.Permanent},
		{"401", &googleapi.Error{Code: 401}, driver.Permanent},
		{"403", &googleapi.Error{Code: 403}, driver.Permanent},
		{"connection refused", refused, driver.Transient},
		{"connection reset", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, driver.Transient},
		{"unexpected EOF", fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), driver.Transient},
		{"SDK timeout", fmt.Errorf("chunk: %w", context.DeadlineExceeded), driver.Transient},
		{"other", errors.New("something odd"), driver.Unknown},
		{"already classified", driver.Errorf(driver.Permanent, errors.New("short source")), driver.Permanent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := classify(t.Context(), tc.err)
			if got := driver.CodeOf(err); got != tc.want {
				t.Fatalf("classify(%v) code = %v, want %v", tc.err, got, tc.want)
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("classify(%v) = %v, lost the cause", tc.err, err)
			}
		})
	}
}

// The caller's own cancellation or deadline comes back unclassified, so the
// portable layer stops instead of retrying.
func TestClassifyCallerContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, cause := range []error{context.Canceled, fmt.Errorf("upload: %w", context.Canceled)} {
		err := classify(ctx, cause)
		if err != cause || driver.CodeOf(err) != driver.Unknown {
			t.Errorf("classify(cancelled ctx, %v) = %v (code %v), want it unchanged", cause, err, driver.CodeOf(err))
		}
	}
	if err := classify(ctx, nil); err != nil {
		t.Errorf("classify(nil) = %v", err)
	}
}
