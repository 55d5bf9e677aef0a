// Package remote is the portable layer over the bucket drivers in
// remote/driver: it parses remote URLs, narrows a bucket to a key prefix,
// retries transient errors with exponential backoff and jitter, computes
// and checks checksums, makes create-only uploads idempotent, and names
// the operation, key and URL in every error. It knows nothing of fs/.
package remote

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sealfs/sealfs/remote/driver"
)

// Options configure a Bucket.
type Options struct {
	// Credentials are passed to the driver (see driver.OpenOptions); nil
	// means the SDK's standard discovery.
	Credentials []byte
	// Transient errors are retried with exponential backoff and full
	// jitter, from MinBackoff (default 100ms) doubling up to MaxBackoff
	// (default 30s), until the context ends or, when MaxAttempts > 0,
	// after MaxAttempts attempts.
	MinBackoff, MaxBackoff time.Duration
	MaxAttempts            int
}

// Bucket is a bucket narrowed to a key prefix. All keys are relative to
// the prefix. It is safe for concurrent use.
type Bucket struct {
	drv    driver.Bucket
	url    string // redacted
	prefix string
	opts   Options
	sleep  func(context.Context, time.Duration) error // replaced in tests
}

// Open connects to the bucket rawURL names (see ParseURL) through the driver
// registered for its scheme; the program must import the driver package.
func Open(ctx context.Context, rawURL string, opts Options) (*Bucket, error) {
	u, prefix, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	redacted := redact(u)
	open, ok := driver.Lookup(u.Scheme)
	if !ok {
		return nil, fmt.Errorf("%w %s: no driver for scheme %q in this program", ErrBadURL, redacted, u.Scheme)
	}
	drv, err := open(ctx, u, driver.OpenOptions{Credentials: opts.Credentials})
	if err != nil {
		return nil, &Error{Op: "open", URL: redacted, Err: err}
	}
	return newBucket(drv, redacted, prefix, opts), nil
}

func newBucket(drv driver.Bucket, url, prefix string, opts Options) *Bucket {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	opts.MaxBackoff = max(opts.MaxBackoff, opts.MinBackoff)
	return &Bucket{drv: drv, url: url, prefix: prefix, opts: opts, sleep: sleepContext}
}

// URL returns the bucket's URL with secrets redacted, fit for logs.
func (b *Bucket) URL() string { return b.url }

// Prefix returns the key prefix, without slashes at either end ("" for
// the whole bucket).
func (b *Bucket) Prefix() string { return b.prefix }

// Close releases the driver's connections.
func (b *Bucket) Close() error { return b.wrap("close", "", b.drv.Close()) }

// full turns a key (or list prefix) relative to the prefix into the
// driver's key.
func (b *Bucket) full(key string) string {
	if b.prefix == "" {
		return key
	}
	return b.prefix + "/" + key
}

// relative undoes full.
func (b *Bucket) relative(key string) string {
	if b.prefix == "" {
		return key
	}
	return strings.TrimPrefix(key, b.prefix+"/")
}

// checkKey refuses keys that different backends would treat differently,
// before any call: bad input never reaches a bucket.
func checkKey(key string) error {
	if !utf8.ValidString(key) {
		return driver.Errorf(driver.Permanent, fmt.Errorf("key %q is not UTF-8", key))
	}
	if key == "" || strings.HasSuffix(key, "/") {
		return driver.Errorf(driver.Permanent, fmt.Errorf("key %q names no object", key))
	}
	return driver.Errorf(driver.Permanent, checkPath(key))
}

// Stat returns the object's attributes, Key relative to the prefix.
func (b *Bucket) Stat(ctx context.Context, key string) (driver.Attributes, error) {
	if err := checkKey(key); err != nil {
		return driver.Attributes{}, b.wrap("stat", key, err)
	}
	var a driver.Attributes
	err := b.retry(ctx, func(int) (err error) {
		a, err = b.drv.Stat(ctx, b.full(key))
		return err
	})
	if err != nil {
		return driver.Attributes{}, b.wrap("stat", key, err)
	}
	a.Key = key
	return a, nil
}

// Delete removes the object; a missing object is not an error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return b.wrap("delete", key, err)
	}
	return b.wrap("delete", key, b.retry(ctx, func(int) error {
		return b.drv.Delete(ctx, b.full(key))
	}))
}

// List calls fn, in key order, for every object whose key (relative to the
// bucket's prefix) starts with prefix. A listing that fails transiently
// is retried and resumes after the last key fn saw, so fn sees each key
// once. An error from fn stops the listing and is returned as is.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(driver.Attributes) error) error {
	if !utf8.ValidString(prefix) || strings.HasPrefix(prefix, "/") {
		return b.wrap("list", prefix, driver.Errorf(driver.Permanent, fmt.Errorf("bad prefix %q", prefix)))
	}
	var last string
	var seen bool
	var fnErr error
	err := b.retry(ctx, func(int) error {
		err := b.drv.List(ctx, b.full(prefix), func(a driver.Attributes) error {
			a.Key = b.relative(a.Key)
			if seen && a.Key <= last {
				return nil
			}
			if err := fn(a); err != nil {
				fnErr = err
				return err
			}
			last, seen = a.Key, true
			return nil
		})
		if fnErr != nil {
			return nil // the caller's error, not the backend's: never retried
		}
		return err
	})
	if fnErr != nil {
		return fnErr
	}
	return b.wrap("list", prefix, err)
}

// tempCleaner is a driver that can leave temporary files after a crash
// (file://); object stores never show unfinished uploads as objects.
type tempCleaner interface {
	CleanTemp(ctx context.Context, olderThan time.Duration) (int, error)
}

// CleanTemp removes temporary files older than olderThan that a crashed
// writer left behind, where the backend has such files; it returns how
// many it removed.
func (b *Bucket) CleanTemp(ctx context.Context, olderThan time.Duration) (int, error) {
	c, ok := b.drv.(tempCleaner)
	if !ok {
		return 0, nil
	}
	n, err := c.CleanTemp(ctx, olderThan)
	return n, b.wrap("clean temporary files", "", err)
}
