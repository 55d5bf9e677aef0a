package file

import (
	"errors"
	"syscall"
)

func isErrno(err error, want syscall.Errno) bool {
	var e syscall.Errno
	return errors.As(err, &e) && e == want
}

// isNotDir: a path component is a file, so the key cannot exist.
func isNotDir(err error) bool { return isErrno(err, syscall.ENOTDIR) }

// isFull: a full disk or quota may be freed, so the write is worth retrying.
func isFull(err error) bool { return isErrno(err, syscall.ENOSPC) || isErrno(err, syscall.EDQUOT) }
