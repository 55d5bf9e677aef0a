package gcs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/sealfs/sealfs/remote/driver"
)

// GetRange reads length bytes of key at off (length < 0: to the end).
func (b *bucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if off < 0 {
		// The SDK would read from the end; the driver contract has no such thing.
		return nil, driver.Errorf(driver.Permanent, fmt.Errorf("gcs: negative offset %d", off))
	}
	r, err := b.h.Object(key).NewRangeReader(ctx, off, length)
	if err != nil {
		return nil, classify(ctx, err)
	}
	return &reader{ctx: ctx, r: r}, nil
}

// reader classifies errors met while streaming an object's body.
type reader struct {
	ctx context.Context
	r   *storage.Reader
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = classify(r.ctx, err)
	}
	return n, err
}

func (r *reader) Close() error { return r.r.Close() }

// Stat returns key's attributes.
func (b *bucket) Stat(ctx context.Context, key string) (driver.Attributes, error) {
	a, err := b.h.Object(key).Attrs(ctx)
	if err != nil {
		return driver.Attributes{}, classify(ctx, err)
	}
	return toAttributes(a), nil
}

// List calls fn for each object under prefix, in key order (GCS lists in
// lexicographic order of the UTF-8 names).
func (b *bucket) List(ctx context.Context, prefix string, fn func(driver.Attributes) error) error {
	q := &storage.Query{Prefix: prefix}
	if err := q.SetAttrSelection([]string{"Name", "Size", "Generation", "CRC32C", "MD5", "Updated"}); err != nil {
		return driver.Errorf(driver.Permanent, err)
	}
	it := b.h.Objects(ctx, q)
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return classify(ctx, err)
		}
		if err := fn(toAttributes(a)); err != nil {
			return err
		}
	}
}

// Delete removes key; a missing key is not an error.
func (b *bucket) Delete(ctx context.Context, key string) error {
	err := b.h.Object(key).Delete(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil
	}
	return classify(ctx, err)
}

// toAttributes converts SDK attributes. GCS computes a CRC32C for every
// object, so HasCRC32C is always true.
func toAttributes(a *storage.ObjectAttrs) driver.Attributes {
	return driver.Attributes{
		Key:       a.Name,
		Size:      a.Size,
		Version:   strconv.FormatInt(a.Generation, 10),
		CRC32C:    a.CRC32C,
		HasCRC32C: true,
		MD5:       a.MD5,
		Modified:  a.Updated,
	}
}
