// Package driver is the small interface every bucket backend implements
// (GCS, S3, Azure Blob, a local folder). The portable layer in package
// remote adds retries, error wrapping with the object key and checksums on
// top; drivers only translate calls and classify errors.
package driver

import (
	"context"
	"errors"
	"io"
	"net/url"
	"sync"
	"time"
)

// Code classifies a driver error so the portable layer can decide to retry.
type Code int

// Error codes.
const (
	Unknown       Code = iota
	NotFound           // no such object (or bucket, for Open)
	AlreadyExists      // create-only write, object present; or IfVersion did not match
	Transient          // worth retrying: timeouts, 429, 5xx, connection refused/reset
	Permanent          // retrying will not help: 400, 401, 403, bad URL
)

func (c Code) String() string {
	switch c {
	case NotFound:
		return "not found"
	case AlreadyExists:
		return "already exists"
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	}
	return "unknown"
}

// Error is a classified driver error.
type Error struct {
	Code Code
	Err  error
}

func (e *Error) Error() string { return e.Code.String() + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Errorf is a helper for drivers: wrap err with code.
func Errorf(code Code, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// CodeOf returns the code of a classified error, Unknown otherwise.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Unknown
}

// Attributes describe a stored object.
type Attributes struct {
	Key       string // full object key, relative to the bucket (prefix included)
	Size      int64  // bytes
	Version   string // GCS generation, S3/Azure ETag, file: a content hash; changes on every write
	CRC32C    uint32 // Castagnoli CRC of the content, when the backend reports one (HasCRC32C)
	HasCRC32C bool
	MD5       []byte // when the backend reports one
	Modified  time.Time
}

// PutOptions shape a write.
type PutOptions struct {
	// IfVersion empty: create-only; the write fails with AlreadyExists when the
	// object exists. Non-empty: replace only if the current Version equals it
	// (AlreadyExists otherwise); used for the lease.
	IfVersion string
	// CRC32C and MD5 of the content, computed by the caller; drivers send
	// whichever their backend verifies server-side, so a corrupted upload fails.
	CRC32C uint32
	MD5    []byte
}

// Bucket is one bucket (container, folder) narrowed to nothing: keys are full
// keys, the portable layer adds the prefix. Implementations are safe for
// concurrent use.
type Bucket interface {
	// Put writes size bytes from r to key as PutOptions says, and returns
	// the attributes of the stored object once the backend confirmed it.
	Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (Attributes, error)
	// GetRange reads length bytes at off (length < 0: to the end).
	GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error)
	// Stat returns the object's attributes.
	Stat(ctx context.Context, key string) (Attributes, error)
	// List calls fn for every object whose key starts with prefix, in key order.
	List(ctx context.Context, prefix string, fn func(Attributes) error) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Close releases connections.
	Close() error
}

// OpenOptions are what every driver may need to connect.
type OpenOptions struct {
	// Credentials is the content of a credentials file given to
	// `sealfs remote set --credentials-file` (a GCS service account JSON,
	// an AWS shared-credentials profile, an Azure connection string), or nil
	// for the SDK's standard discovery.
	Credentials []byte
}

// Opener connects to the bucket a URL names. u.Host is the bucket (or
// container); u.Path and the prefix are the portable layer's business,
// drivers only read the query (endpoint=, region=, ...).
type Opener func(ctx context.Context, u *url.URL, opts OpenOptions) (Bucket, error)

var (
	registryMu sync.Mutex
	registry   = map[string]Opener{}
)

// Register makes a driver available for URLs with scheme; drivers call it
// from init, and the sealfs command imports them all.
func Register(scheme string, open Opener) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[scheme]; dup {
		panic("driver: scheme registered twice: " + scheme)
	}
	registry[scheme] = open
}

// Lookup returns the opener for scheme.
func Lookup(scheme string) (Opener, bool) {
	registryMu.Lock()
	defer registryMu.Unlock()
	o, ok := registry[scheme]
	return o, ok
}
