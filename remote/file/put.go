package file

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/sealfs/sealfs/remote/driver"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Put writes the object to a temporary file, verifies it, then publishes it.
func (b *bucket) Put(ctx context.Context, key string, r io.Reader, size int64, opts driver.PutOptions) (_ driver.Attributes, err error) {
	defer func() { err = b.reachable(err) }()
	path, err := b.path(key)
	if err != nil {
		return driver.Attributes{}, err
	}
	dir := filepath.Dir(path)
	if err := b.mkdirs(dir); err != nil {
		return driver.Attributes{}, err
	}
	tmp, attrs, err := writeTemp(ctx, dir, r, size, opts)
	if err != nil {
		return driver.Attributes{}, err
	}
	err = publish(tmp, path, opts.IfVersion)
	// After a link the temporary name is a second name of the object;
	// after a rename it is gone (and may be reused: do not remove it then).
	if err != nil || opts.IfVersion == "" {
		os.Remove(tmp)
	}
	if err != nil {
		return driver.Attributes{}, err
	}
	attrs.Key = key
	return attrs, nil
}

// writeTemp copies size bytes of r into a new temporary file in dir, fsyncs
// it and checks the checksums. It returns the file's name and attributes;
// on error nothing is left behind.
func writeTemp(ctx context.Context, dir string, r io.Reader, size int64, opts driver.PutOptions) (name string, a driver.Attributes, err error) {
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return "", a, classify(err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = classify(cerr)
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	crc, sum := crc32.New(castagnoli), md5.New()
	n, err := io.Copy(io.MultiWriter(f, crc, sum), io.LimitReader(ctxReader{ctx, r}, size))
	if err != nil {
		return "", a, classify(err)
	}
	if n != size {
		return "", a, driver.Errorf(driver.Permanent, fmt.Errorf("reader gave %d bytes, want %d", n, size))
	}
	if got := crc.Sum32(); got != opts.CRC32C {
		return "", a, driver.Errorf(driver.Permanent, fmt.Errorf("CRC32C mismatch: content %08x, caller said %08x", got, opts.CRC32C))
	}
	gotMD5 := sum.Sum(nil)
	if opts.MD5 != nil && !bytes.Equal(gotMD5, opts.MD5) {
		return "", a, driver.Errorf(driver.Permanent, fmt.Errorf("MD5 mismatch: content %x, caller said %x", gotMD5, opts.MD5))
	}
	if err := f.Sync(); err != nil {
		return "", a, classify(err)
	}
	fi, err := f.Stat()
	if err != nil {
		return "", a, classify(err)
	}
	// link and rename keep the inode and mtime, so these are the
	// published object's attributes too.
	a = attributes("", fi)
	a.CRC32C, a.HasCRC32C, a.MD5 = opts.CRC32C, true, gotMD5
	return f.Name(), a, nil
}

// publish gives tmp the name path: create-only when ifVersion is empty,
// otherwise only over the object whose Version is ifVersion. The folder's
// lock makes the version check and the rename one step, and orders them
// against other writers and deletes.
func publish(tmp, path, ifVersion string) error {
	dir := filepath.Dir(path)
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	if ifVersion == "" {
		if err := os.Link(tmp, path); err != nil {
			return classify(err)
		}
	} else {
		fi, err := os.Stat(path)
		if errors.Is(err, os.ErrNotExist) {
			return driver.Errorf(driver.AlreadyExists, fmt.Errorf("no object to replace (want version %s)", ifVersion))
		}
		if err != nil {
			return classify(err)
		}
		if v := version(fi); v != ifVersion {
			return driver.Errorf(driver.AlreadyExists, fmt.Errorf("version is %s, want %s", v, ifVersion))
		}
		if err := os.Rename(tmp, path); err != nil {
			return classify(err)
		}
	}
	return syncDir(dir)
}

// mkdirs creates dir and its missing parents below the root, fsyncing each
// parent so a new folder survives a crash along with the object in it.
func (b *bucket) mkdirs(dir string) error {
	if dir == b.root {
		return nil
	}
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	parent := filepath.Dir(dir)
	if err := b.mkdirs(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil // another writer made it
		}
		return classify(err)
	}
	return syncDir(parent)
}

// ctxReader stops a long copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
