package remote

import (
	"errors"
	"regexp"

	"github.com/sealfs/sealfs/remote/driver"
)

// Sentinels for errors.Is on any error a Bucket returns.
var (
	// ErrNotFound: the object (or, from Open, the bucket) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a create-only write found the object, or a
	// versioned write found a different version.
	ErrAlreadyExists = errors.New("already exists")
	// ErrChecksum: the backend reported a stored object whose size or
	// checksum differs from what was sent.
	ErrChecksum = errors.New("checksum mismatch")
)

// Error is the error every Bucket method returns: the operation, the key
// relative to the prefix, the URL without secrets, and the driver's error.
// It never holds object content.
type Error struct {
	Op  string // "put", "get", "stat", "list", "delete", "open", "read"
	Key string // relative to the prefix; for list, the listed prefix
	URL string // redacted
	Err error
}

func (e *Error) Error() string {
	s := e.Op
	if e.Key != "" {
		s += " " + e.Key
	}
	return s + " on " + e.URL + ": " + scrubSecrets(e.Err.Error())
}

// secretInText finds query parameters that carry secrets in an SDK's error
// text: some SDKs quote the request URL, and an Azure SAS or an S3
// presigned URL holds its signature there.
var secretInText = regexp.MustCompile(`(?i)([?&;\s](?:[a-z0-9_.-]*(?:sig|secret|key|token|password|credential|auth)[a-z0-9_.-]*))=([^&\s"';]+)`)

// scrubSecrets replaces the values of secret-looking query parameters in s.
func scrubSecrets(s string) string {
	return secretInText.ReplaceAllString(s, "$1=REDACTED")
}

// Unwrap gives access to the driver's error and its code.
func (e *Error) Unwrap() error { return e.Err }

// Is matches ErrNotFound and ErrAlreadyExists by the driver's error code.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return driver.CodeOf(e.Err) == driver.NotFound
	case ErrAlreadyExists:
		return driver.CodeOf(e.Err) == driver.AlreadyExists
	}
	return false
}

// IsTransient reports whether err is worth retrying later: the backend was
// unreachable, overloaded or timed out. The Bucket has already retried it
// as far as its Options allow.
func IsTransient(err error) bool { return driver.CodeOf(err) == driver.Transient }

// wrap names the operation, key and URL in err; nil stays nil.
func (b *Bucket) wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Op: op, Key: key, URL: b.url, Err: err}
}
