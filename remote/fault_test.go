package remote_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"
	"testing"

	"github.com/sealfs/sealfs/remote/driver"
	"github.com/sealfs/sealfs/remote/file"
)

// faultScheme is a test-only driver: faulty://NAME/PREFIX opens the
// faultBucket registered under NAME, which wraps a folder bucket and fails
// calls as the test scripts.
const faultScheme = "faulty"

var faultBuckets sync.Map // NAME -> *faultBucket

func init() {
	driver.Register(faultScheme, func(_ context.Context, u *url.URL, _ driver.OpenOptions) (driver.Bucket, error) {
		fb, ok := faultBuckets.Load(u.Host)
		if !ok {
			return nil, driver.Errorf(driver.NotFound, fmt.Errorf("no fault bucket %q", u.Host))
		}
		return fb.(*faultBucket), nil
	})
}

// fault is one scripted failure of an operation.
type fault struct {
	err error
	// after: perform the operation, then report err (a timeout after the
	// backend acted). For list: deliver `items` objects, then fail.
	after bool
	items int
	// body: GetRange succeeds but its reader fails with err after
	// `items` bytes.
	body bool
}

type faultBucket struct {
	driver.Bucket // a folder bucket holding the objects

	mu     sync.Mutex
	faults map[string][]fault
	calls  map[string]int
	tamper func(*driver.Attributes) // applied to Put's result
}

// newFaultBucket registers a fault bucket under the test's name and returns
// it with its URL (prefix "pre/fix").
func newFaultBucket(t *testing.T) (*faultBucket, string) {
	t.Helper()
	inner, err := file.Open(context.Background(), &url.URL{Scheme: "file", Path: t.TempDir()}, driver.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fb := &faultBucket{Bucket: inner, faults: map[string][]fault{}, calls: map[string]int{}}
	name := fmt.Sprintf("b%p", fb)
	faultBuckets.Store(name, fb)
	t.Cleanup(func() { faultBuckets.Delete(name) })
	return fb, faultScheme + "://" + name + "/pre/fix"
}

// inject queues faults for op ("put", "stat", "get", "list", "delete").
func (f *faultBucket) inject(op string, faults ...fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[op] = append(f.faults[op], faults...)
}

// always makes every call of op fail with err.
func (f *faultBucket) always(op string, err error) {
	f.inject(op, make([]fault, 1000)...)
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.faults[op] {
		f.faults[op][i].err = err
	}
}

func (f *faultBucket) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *faultBucket) next(op string) (fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	q := f.faults[op]
	if len(q) == 0 {
		return fault{}, false
	}
	f.faults[op] = q[1:]
	return q[0], true
}

func (f *faultBucket) Put(ctx context.Context, key string, r io.Reader, size int64, opts driver.PutOptions) (driver.Attributes, error) {
	flt, ok := f.next("put")
	if ok && !flt.after {
		return driver.Attributes{}, flt.err
	}
	a, err := f.Bucket.Put(ctx, key, r, size, opts)
	if ok && err == nil {
		return driver.Attributes{}, flt.err
	}
	if f.tamper != nil {
		f.tamper(&a)
	}
	return a, err
}

func (f *faultBucket) Stat(ctx context.Context, key string) (driver.Attributes, error) {
	if flt, ok := f.next("stat"); ok {
		return driver.Attributes{}, flt.err
	}
	return f.Bucket.Stat(ctx, key)
}

func (f *faultBucket) Delete(ctx context.Context, key string) error {
	if flt, ok := f.next("delete"); ok {
		return flt.err
	}
	return f.Bucket.Delete(ctx, key)
}

func (f *faultBucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	flt, ok := f.next("get")
	if ok && !flt.body {
		return nil, flt.err
	}
	rc, err := f.Bucket.GetRange(ctx, key, off, length)
	if err != nil || !ok {
		return rc, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(rc, int64(flt.items)), errReader{flt.err}), rc}, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

var errStopList = errors.New("fault: stop listing")

func (f *faultBucket) List(ctx context.Context, prefix string, fn func(driver.Attributes) error) error {
	flt, ok := f.next("list")
	if !ok {
		return f.Bucket.List(ctx, prefix, fn)
	}
	n := 0
	err := f.Bucket.List(ctx, prefix, func(a driver.Attributes) error {
		if n == flt.items {
			return errStopList
		}
		n++
		return fn(a)
	})
	if err == nil || errors.Is(err, errStopList) {
		return flt.err
	}
	return err
}

// Close leaves the folder bucket open: a test may open the URL again.
func (f *faultBucket) Close() error { return nil }

var (
	errTransient = driver.Errorf(driver.Transient, errors.New("503 slow down"))
	errPermanent = driver.Errorf(driver.Permanent, errors.New("403 forbidden"))
)
