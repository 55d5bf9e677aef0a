package remote

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/sealfs/sealfs/remote/driver"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// sums are the checksums sent with an upload and checked afterwards.
type sums struct {
	size int64
	crc  uint32
	md5  []byte
}

// checksum reads src once, computing CRC32C and MD5 together.
func checksum(src io.ReaderAt, size int64) (sums, error) {
	crc, h := crc32.New(castagnoli), md5.New()
	n, err := io.Copy(io.MultiWriter(crc, h), io.NewSectionReader(src, 0, size))
	if err == nil && n != size {
		err = fmt.Errorf("source has %d bytes, want %d: %w", n, size, io.ErrUnexpectedEOF)
	}
	if err != nil {
		return sums{}, fmt.Errorf("checksum source: %w", err)
	}
	return sums{size: size, crc: crc.Sum32(), md5: h.Sum(nil)}, nil
}

// Put uploads size bytes of src to key, create-only. src is read once for
// the checksums and again for each attempt. The upload is idempotent: when
// the key already holds exactly these bytes (same size and checksum, say
// from an attempt that timed out after the backend stored it, or from a
// run that crashed before recording it), Put succeeds with the stored
// object's attributes. Otherwise an existing key fails with ErrAlreadyExists.
func (b *Bucket) Put(ctx context.Context, key string, src io.ReaderAt, size int64) (driver.Attributes, error) {
	return b.PutIfVersion(ctx, key, src, size, "")
}

// PutIfVersion is Put that, with a non-empty version, replaces the object
// only if its current Version is version (ErrAlreadyExists otherwise); it
// serves the lease. When a retry finds a different version after an
// attempt that may have landed, a stored object with these exact bytes
// counts as success.
func (b *Bucket) PutIfVersion(ctx context.Context, key string, src io.ReaderAt, size int64, version string) (driver.Attributes, error) {
	if err := checkKey(key); err != nil {
		return driver.Attributes{}, b.wrap("put", key, err)
	}
	if size < 0 {
		return driver.Attributes{}, b.wrap("put", key, driver.Errorf(driver.Permanent, fmt.Errorf("negative size %d", size)))
	}
	want, err := checksum(src, size)
	if err != nil {
		return driver.Attributes{}, b.wrap("put", key, err)
	}
	opts := driver.PutOptions{IfVersion: version, CRC32C: want.crc, MD5: want.md5}
	var a driver.Attributes
	err = b.retry(ctx, func(attempt int) (err error) {
		a, err = b.drv.Put(ctx, b.full(key), io.NewSectionReader(src, 0, size), size, opts)
		if driver.CodeOf(err) == driver.AlreadyExists && (version == "" || attempt > 0) {
			a, err = b.sameContent(ctx, b.full(key), want, err)
		}
		return err
	})
	if err == nil {
		err = verify(a, want)
	}
	if err != nil {
		return driver.Attributes{}, b.wrap("put", key, err)
	}
	a.Key = key
	return a, nil
}

// sameContent returns the attributes of the object at full if it holds the
// bytes described by want, and conflict otherwise. It compares the
// checksum the backend reports, or reads the object when it reports none.
func (b *Bucket) sameContent(ctx context.Context, full string, want sums, conflict error) (driver.Attributes, error) {
	a, err := b.drv.Stat(ctx, full)
	switch {
	case IsTransient(err):
		return a, err // retry the whole upload
	case err != nil, a.Size != want.size:
		return a, conflict
	case a.HasCRC32C:
		if a.CRC32C != want.crc {
			return a, conflict
		}
	case len(a.MD5) > 0:
		if !bytes.Equal(a.MD5, want.md5) {
			return a, conflict
		}
	default:
		crc, err := b.storedCRC32C(ctx, full)
		if err != nil || crc != want.crc {
			return a, conflict
		}
		a.CRC32C, a.HasCRC32C = crc, true
	}
	return a, nil
}

// storedCRC32C reads a whole object to checksum it, for backends (the
// folder driver) that do not report one.
func (b *Bucket) storedCRC32C(ctx context.Context, full string) (uint32, error) {
	rc, err := b.drv.GetRange(ctx, full, 0, -1)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	crc := crc32.New(castagnoli)
	_, err = io.Copy(crc, rc)
	return crc.Sum32(), err
}

// verify checks the backend's report of a stored object against what was
// sent; the driver sent the checksums too, so a mismatch means a broken
// driver or backend, which retrying will not fix.
func verify(a driver.Attributes, want sums) error {
	var msg string
	switch {
	case a.Size != want.size:
		msg = fmt.Sprintf("stored %d bytes, sent %d", a.Size, want.size)
	case a.HasCRC32C && a.CRC32C != want.crc:
		msg = fmt.Sprintf("stored CRC32C %08x, sent %08x", a.CRC32C, want.crc)
	case len(a.MD5) > 0 && !bytes.Equal(a.MD5, want.md5):
		msg = fmt.Sprintf("stored MD5 %x, sent %x", a.MD5, want.md5)
	default:
		return nil
	}
	return driver.Errorf(driver.Permanent, fmt.Errorf("%w: %s", ErrChecksum, msg))
}

// Replace uploads size bytes of src to key, whether or not the key holds
// an object: the readable copy of a plain file, whose key is its path and
// which its next version takes over. It replaces the version it found
// (PutIfVersion), so two writers racing for one key cannot interleave.
func (b *Bucket) Replace(ctx context.Context, key string, src io.ReaderAt, size int64) (driver.Attributes, error) {
	var last error
	for range 3 {
		cur, err := b.Stat(ctx, key)
		switch {
		case errors.Is(err, ErrNotFound):
			cur.Version = ""
		case err != nil:
			return driver.Attributes{}, err
		}
		a, err := b.PutIfVersion(ctx, key, src, size, cur.Version)
		if !errors.Is(err, ErrAlreadyExists) && !errors.Is(err, ErrNotFound) {
			return a, err
		}
		last = err // replaced or created meanwhile: look again
	}
	return driver.Attributes{}, last
}
