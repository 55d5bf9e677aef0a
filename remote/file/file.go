// Package file is the local folder driver (file:///ABS/PATH), the embedded
// default remote. Objects are files under the root folder at their key's
// path. Writes go to a temporary file in the same folder, are fsynced and
// checked against the caller's checksums, then appear atomically: link(2)
// for create-only (EEXIST means the key exists), rename(2) for a
// replacement; the folder is fsynced after either.
package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sealfs/sealfs/remote/driver"
)

// tmpPrefix starts the names of files being written. List and Stat never
// show them, and keys whose segments start with it are refused.
const tmpPrefix = ".tmp-"

func init() { driver.Register("file", Open) }

// Open opens the folder u.Path. The folder must exist: a missing one is
// most likely a typo, and silently creating it would back up into the wrong
// place.
func Open(_ context.Context, u *url.URL, _ driver.OpenOptions) (driver.Bucket, error) {
	if u.Host != "" && u.Host != "localhost" {
		return nil, driver.Errorf(driver.Permanent, fmt.Errorf("file URL names host %q; only local folders are supported", u.Host))
	}
	root := filepath.Clean(u.Path)
	if !filepath.IsAbs(root) {
		return nil, driver.Errorf(driver.Permanent, fmt.Errorf("folder %q is not an absolute path", u.Path))
	}
	fi, err := os.Stat(root)
	if err != nil {
		return nil, classify(err)
	}
	if !fi.IsDir() {
		return nil, driver.Errorf(driver.Permanent, fmt.Errorf("%s is not a folder", root))
	}
	return &bucket{root: root}, nil
}

// bucket is safe for concurrent use: writers coordinate through the file
// system (link, rename, flock), not through memory.
type bucket struct {
	root string
}

// path maps key to its file, refusing keys that would escape the root or
// collide with temporary files.
func (b *bucket) path(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	return filepath.Join(b.root, filepath.FromSlash(key)), nil
}

func checkKey(key string) error {
	if key == "" {
		return driver.Errorf(driver.Permanent, errors.New("empty key"))
	}
	if strings.ContainsRune(key, 0) {
		return driver.Errorf(driver.Permanent, errors.New("key contains NUL"))
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.HasPrefix(seg, tmpPrefix) {
			return driver.Errorf(driver.Permanent, fmt.Errorf("key %q: segment %q not allowed", key, seg))
		}
	}
	return nil
}

// classify maps file system errors to driver codes. ENOTDIR counts as not
// found: "a/b" is missing when "a" is an object.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist), isNotDir(err):
		return driver.Errorf(driver.NotFound, err)
	case errors.Is(err, fs.ErrExist):
		return driver.Errorf(driver.AlreadyExists, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case isFull(err):
		return driver.Errorf(driver.Transient, err)
	}
	return driver.Errorf(driver.Permanent, err)
}

// reachable turns a failure into an outage when the bucket folder itself
// is gone or unreadable (an unplugged disk, a lost NFS mount): like a
// network outage it is retried with backoff, never taken for a missing
// object or a permanent refusal.
func (b *bucket) reachable(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if fi, serr := os.Stat(b.root); serr != nil || !fi.IsDir() {
		return driver.Errorf(driver.Transient, fmt.Errorf("bucket folder %s is unreachable (unplugged disk, lost mount?): %w", b.root, err))
	}
	if isErrno(err, syscall.EIO) || isErrno(err, syscall.ESTALE) || isErrno(err, syscall.ENOTCONN) || isErrno(err, syscall.EHOSTDOWN) {
		return driver.Errorf(driver.Transient, err)
	}
	return err
}

// Close has nothing to release.
func (b *bucket) Close() error { return nil }

// CleanTemp removes the temporary files older than olderThan that a writer
// killed in the middle of a Put left behind (a live Put's file is younger),
// and returns how many it removed. sealfs check --remote calls it.
func (b *bucket) CleanTemp(ctx context.Context, olderThan time.Duration) (int, error) {
	n := 0
	err := filepath.WalkDir(b.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil
		}
		if fi, err := d.Info(); err == nil && time.Since(fi.ModTime()) > olderThan {
			if err := os.Remove(p); err == nil {
				n++
			}
		}
		return nil
	})
	return n, b.reachable(classify(err))
}
