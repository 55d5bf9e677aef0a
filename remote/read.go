package remote

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/sealfs/sealfs/remote/driver"
)

// NewRangeReader opens length bytes of key at off (length < 0: to the end).
// Opening is retried; errors while reading are returned, named, to the
// caller (ReadAt retries those too).
func (b *Bucket) NewRangeReader(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, b.wrap("get", key, err)
	}
	if off < 0 {
		return nil, b.wrap("get", key, driver.Errorf(driver.Permanent, fmt.Errorf("negative offset %d", off)))
	}
	var rc io.ReadCloser
	err := b.retry(ctx, func(int) (err error) {
		rc, err = b.drv.GetRange(ctx, b.full(key), off, length)
		return err
	})
	if err != nil {
		return nil, b.wrap("get", key, err)
	}
	return &rangeReader{rc: rc, b: b, key: key}, nil
}

// rangeReader names the key in read errors.
type rangeReader struct {
	rc  io.ReadCloser
	b   *Bucket
	key string
}

func (r *rangeReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if err != nil && err != io.EOF {
		err = r.b.wrap("read", r.key, err)
	}
	return n, err
}

func (r *rangeReader) Close() error { return r.b.wrap("read", r.key, r.rc.Close()) }

// ReadAt fills p from key at off, for ranged cache fills. Like
// io.ReaderAt, it returns io.EOF (unwrapped) when the object ends before p
// is full. Failures opening or reading are retried as the Options say; a
// read that breaks off is retried whole.
func (b *Bucket) ReadAt(ctx context.Context, key string, p []byte, off int64) (int, error) {
	if err := checkKey(key); err != nil {
		return 0, b.wrap("get", key, err)
	}
	if off < 0 {
		return 0, b.wrap("get", key, driver.Errorf(driver.Permanent, fmt.Errorf("negative offset %d", off)))
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var eof bool
	err := b.retry(ctx, func(int) error {
		rc, err := b.drv.GetRange(ctx, b.full(key), off, int64(len(p)))
		if err != nil {
			return err
		}
		defer rc.Close()
		n, err = io.ReadFull(rc, p)
		eof = err == io.EOF || err == io.ErrUnexpectedEOF
		if err == nil || eof {
			return nil
		}
		return bodyError(ctx, err)
	})
	if err != nil {
		return 0, b.wrap("get", key, err)
	}
	if eof {
		return n, io.EOF
	}
	return n, nil
}

// bodyError classifies an error while reading an object's body. Drivers
// classify the calls they make, but a body breaking off midway surfaces
// from the SDK's reader unclassified, and is almost always the network.
func bodyError(ctx context.Context, err error) error {
	if ctx.Err() != nil || driver.CodeOf(err) != driver.Unknown || errors.Is(err, context.Canceled) {
		return err
	}
	return driver.Errorf(driver.Transient, err)
}
