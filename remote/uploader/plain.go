package uploader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/driver"
)

// KeyOf is where version c is in the bucket.
func KeyOf(c meta.Content) string {
	if c.PlainCopy() {
		return c.Object
	}
	return ObjectKey(c.FileID)
}

// errPlainCopy: a plain file's copy in the bucket is not the one its
// record describes (changed, cut, replaced by another file's).
var errPlainCopy = errors.New("the readable copy in the bucket is not the version its record names")

// FetchPlain downloads the readable copy of plain version c (size bytes)
// and rebuilds its local content file in dst, under the version's file ID
// and DEK, so that it opens with its record. The copy must have the size
// and the SHA-256 the record holds; otherwise FetchPlain fails with an
// error wrapping crypto.ErrAuth and dst holds no valid file.
func FetchPlain(ctx context.Context, b *remote.Bucket, w *crypto.Wrapper, c meta.Content, size int64, dst crypto.Backing) error {
	if !c.PlainCopy() || c.SHA256 == "" {
		return fmt.Errorf("version %s has no readable copy on record: %w", crypto.FileID(c.FileID), crypto.ErrAuth)
	}
	r, err := b.NewRangeReader(ctx, c.Object, 0, -1)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := crypto.CreateFileWithKey(w, dst, c.FileID, 0, crypto.FileKey{KeyID: c.KeyID, Wrapped: c.WrappedDEK}, true)
	if err != nil {
		return err
	}
	h := sha256.New()
	buf := make([]byte, 1<<20)
	var off int64
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if off+int64(n) > size {
				return fmt.Errorf("%s: longer than %d bytes: %w (%w)", c.Object, size, errPlainCopy, crypto.ErrAuth)
			}
			h.Write(buf[:n])
			if _, err := f.WriteAt(buf[:n], off); err != nil {
				return err
			}
			off += int64(n)
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	if off != size || hex.EncodeToString(h.Sum(nil)) != c.SHA256 {
		// Nothing was returned to anyone yet: the rebuilt file is cut so
		// that it can never pass for the version.
		dst.Truncate(0)
		return fmt.Errorf("%s: %w (%w)", c.Object, errPlainCopy, crypto.ErrAuth)
	}
	return f.Flush()
}

// VerifyPlain reads the readable copy of plain version c (size bytes) from
// the bucket and checks its size and SHA-256 against the record.
func VerifyPlain(ctx context.Context, b *remote.Bucket, c meta.Content, size int64) error {
	r, err := b.NewRangeReader(ctx, c.Object, 0, -1)
	if err != nil {
		return err
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return err
	}
	if n != size || hex.EncodeToString(h.Sum(nil)) != c.SHA256 {
		return fmt.Errorf("%s: %w (%w)", c.Object, errPlainCopy, crypto.ErrAuth)
	}
	return nil
}

// ListPlain returns the size of every readable copy in the bucket, by key.
func ListPlain(ctx context.Context, b *remote.Bucket) (map[string]int64, error) {
	objects := map[string]int64{}
	err := b.List(ctx, "plain/", func(a driver.Attributes) error {
		objects[a.Key] = a.Size
		return nil
	})
	return objects, err
}
