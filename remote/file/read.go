package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/sealfs/sealfs/remote/driver"
)

// GetRange opens the object and returns a reader over the requested span.
func (b *bucket) GetRange(_ context.Context, key string, off, length int64) (_ io.ReadCloser, err error) {
	defer func() { err = b.reachable(err) }()
	if off < 0 {
		return nil, driver.Errorf(driver.Permanent, fmt.Errorf("negative offset %d", off))
	}
	path, err := b.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, classify(err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = driver.Errorf(driver.NotFound, fmt.Errorf("%s is not a file", key))
	}
	if err != nil {
		f.Close()
		return nil, classify(err)
	}
	if length < 0 || off+length > fi.Size() {
		length = max(fi.Size()-off, 0)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, off, length), f}, nil
}

// Stat reports the object's attributes; folders are not objects.
func (b *bucket) Stat(_ context.Context, key string) (_ driver.Attributes, err error) {
	defer func() { err = b.reachable(err) }()
	path, err := b.path(key)
	if err != nil {
		return driver.Attributes{}, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return driver.Attributes{}, classify(err)
	}
	if !fi.Mode().IsRegular() {
		return driver.Attributes{}, driver.Errorf(driver.NotFound, fmt.Errorf("%s is not a file", key))
	}
	return attributes(key, fi), nil
}

// Delete removes the object. Empty folders stay: removing them would race
// with a Put that just created one.
func (b *bucket) Delete(_ context.Context, key string) (err error) {
	defer func() { err = b.reachable(err) }()
	path, err := b.path(key)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	unlock, err := lockDir(dir)
	if errors.Is(err, fs.ErrNotExist) || isNotDir(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	if fi, err := os.Lstat(path); err == nil && fi.IsDir() {
		return nil // a folder of other objects, not an object
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) || isNotDir(err) {
			return nil
		}
		return classify(err)
	}
	return syncDir(dir)
}

// attributes describe the file fi as an object. The file driver does not
// store checksums, so HasCRC32C is false outside Put.
func attributes(key string, fi fs.FileInfo) driver.Attributes {
	return driver.Attributes{
		Key:      key,
		Size:     fi.Size(),
		Version:  version(fi),
		Modified: fi.ModTime(),
	}
}

// version changes on every write: each write is a new file, so a new inode
// while the old one is still linked; mtime and size guard against the inode
// number being reused after the old file is gone.
func version(fi fs.FileInfo) string {
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = uint64(st.Ino)
	}
	return fmt.Sprintf("%x-%x-%x", ino, fi.ModTime().UnixNano(), fi.Size())
}
