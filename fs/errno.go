package fs

import (
	"context"
	"errors"
	"syscall"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
)

// toErrno is the one place where errors become errno values. go-fuse
// compares errnos directly, so a wrapped error must never reach it.
func toErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return syscall.ENOENT
	case errors.Is(err, context.Canceled):
		return syscall.EINTR // the kernel interrupted the request
	case errors.Is(err, crypto.ErrAuth), errors.Is(err, crypto.ErrWrongKey):
		return syscall.EIO
	case errors.As(err, &errno):
		return errno
	default:
		return syscall.EIO
	}
}
