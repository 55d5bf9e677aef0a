// Package cache bounds the local ciphertext kept by a store with a bucket:
// the local copies of synced versions are evicted, least recently used
// first, and read back with ranged requests when needed. A version that is
// not yet in the bucket is never evicted.
package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/uploader"
)

// LocalData is the store's ciphertext folder.
type LocalData interface {
	ListData(fn func(id crypto.FileID, size int64, mtime time.Time)) error
	RemoveData(id crypto.FileID) error
}

// Config wires a Cache.
type Config struct {
	Meta   *meta.Store
	Local  LocalData
	Bucket *remote.Bucket
	Max    int64 // bytes of local ciphertext to keep; 0 means no limit
	Log    *slog.Logger
	// Wrapper rebuilds plain versions from their readable bucket copies.
	Wrapper *crypto.Wrapper
	// ReadTimeout bounds one read of an evicted version from the bucket,
	// retries included; then the read fails (EIO) instead of hanging
	// under the file's lock while the bucket is down. Default one minute.
	ReadTimeout time.Duration
}

// defaultReadTimeout is ReadTimeout's default.
const defaultReadTimeout = time.Minute

// Cache evicts and refetches.
type Cache struct {
	cfg      Config
	mu       sync.Mutex
	lastUsed map[crypto.FileID]time.Time

	local, evicted atomic.Int64 // for Stats
}

// New makes a Cache.
func New(cfg Config) *Cache {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = defaultReadTimeout
	}
	return &Cache{cfg: cfg, lastUsed: make(map[crypto.FileID]time.Time)}
}

// Used records an open of version id.
func (c *Cache) Used(id crypto.FileID) {
	c.mu.Lock()
	c.lastUsed[id] = time.Now()
	c.mu.Unlock()
}

// EvictOnce removes least recently used synced versions until the local
// ciphertext fits in Max; it returns how many it removed.
func (c *Cache) EvictOnce() (int, error) {
	if c.cfg.Max <= 0 {
		return 0, nil
	}
	synced := map[crypto.FileID]bool{}
	err := c.cfg.Meta.View(func(tx *meta.Tx) error {
		return tx.Contents(func(_ meta.Ino, ct meta.Content) bool {
			// A plain version is evicted once its copy can be checked
			// when it is fetched back.
			if ct.Sync == meta.SyncSynced && (ct.Encrypted || ct.SHA256 != "") {
				synced[crypto.FileID(ct.FileID)] = true
			}
			return true
		})
	})
	if err != nil {
		return 0, err
	}
	type local struct {
		id   crypto.FileID
		size int64
		used time.Time
	}
	var total int64
	var candidates []local
	c.mu.Lock()
	err = c.cfg.Local.ListData(func(id crypto.FileID, size int64, mtime time.Time) {
		total += size
		if synced[id] {
			used, ok := c.lastUsed[id]
			if !ok {
				used = mtime
			}
			candidates = append(candidates, local{id, size, used})
		}
	})
	c.local.Store(total)
	c.mu.Unlock()
	if err != nil || total <= c.cfg.Max {
		return 0, err
	}
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].used.Before(candidates[j].used) })
	removed := 0
	for _, l := range candidates {
		if total <= c.cfg.Max {
			break
		}
		// A reader that has the file open keeps reading it: sealed versions
		// never change, so the bucket copy it would fetch next is the same.
		if err := c.cfg.Local.RemoveData(l.id); err != nil {
			return removed, err
		}
		total -= l.size
		removed++
		c.evicted.Add(1)
		c.local.Store(total)
	}
	return removed, nil
}

// Stats are the cache's figures for metrics: the local ciphertext at the
// last eviction pass (0 before the first, or without Max) and the versions
// evicted since the cache was made.
func (c *Cache) Stats() (localBytes, evictions int64) { return c.local.Load(), c.evicted.Load() }

// Loop evicts every interval until ctx ends.
func (c *Cache) Loop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := c.EvictOnce(); err != nil {
			c.cfg.Log.Error("cache eviction", "err", err)
		} else if n > 0 {
			c.cfg.Log.Info("evicted synced files from the local cache", "files", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// OpenRemote opens the bucket copy of an evicted version for reading.
func (c *Cache) OpenRemote(ctx context.Context, id crypto.FileID) (*RemoteFile, error) {
	key := uploader.ObjectKey(id)
	bounded, cancel := context.WithTimeout(ctx, c.cfg.ReadTimeout)
	defer cancel()
	attrs, err := c.cfg.Bucket.Stat(bounded, key)
	if err != nil {
		return nil, c.gaveUp(ctx, key, err)
	}
	return &RemoteFile{c: c, key: key, size: attrs.Size}, nil
}

// FetchPlain rebuilds the local file of plain version rec (size bytes) in
// dst from its readable bucket copy, which must match the record's size
// and SHA-256. It reads the whole copy: a plain copy is not read by ranges,
// since only the whole of it is checked.
func (c *Cache) FetchPlain(ctx context.Context, rec meta.Content, size int64, dst crypto.Backing) error {
	if c.cfg.Wrapper == nil {
		return errors.New("the cache has no key to rebuild plain versions with")
	}
	err := uploader.FetchPlain(ctx, c.cfg.Bucket, c.cfg.Wrapper, rec, size, dst)
	if err != nil && !errors.Is(err, crypto.ErrAuth) {
		err = c.gaveUp(ctx, rec.Object, err)
	}
	return err
}

// ErrBucketRead: a version that is only in the bucket could not be read
// from it (EIO for the reader). It hides the cause's errno on purpose: an
// unreachable bucket's "no such file" must not reach a program as ENOENT.
var ErrBucketRead = errors.New("read from the bucket failed")

// gaveUp says, once per failure, why a read from the bucket failed. A
// read whose caller went away (ctx, an interrupted request) did not fail:
// it ends with ctx's error.
func (c *Cache) gaveUp(ctx context.Context, key string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("read %s: %w", key, ctx.Err())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("bucket did not answer within %v: %w", c.cfg.ReadTimeout, err)
	}
	c.cfg.Log.Error("read from the bucket failed", "object", key, "err", err)
	return fmt.Errorf("%w: %s: %v", ErrBucketRead, key, err)
}

// RemoteFile reads a bucket object by ranges; it is read-only, as every
// synced version is (a change starts a new, local version).
type RemoteFile struct {
	c    *Cache
	key  string
	size int64
}

// ReadAt fetches len(p) bytes at off, retrying for up to ReadTimeout.
func (f *RemoteFile) ReadAt(p []byte, off int64) (int, error) {
	return f.ReadAtContext(context.Background(), p, off)
}

// ReadAtContext is ReadAt that also stops when ctx ends (an interrupted
// FUSE request).
func (f *RemoteFile) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	bounded, cancel := context.WithTimeout(ctx, f.c.cfg.ReadTimeout)
	defer cancel()
	n, err := f.c.cfg.Bucket.ReadAt(bounded, f.key, p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		err = f.c.gaveUp(ctx, f.key, err)
	}
	return n, err
}

// WriteAt refuses: synced versions are never changed in place.
func (f *RemoteFile) WriteAt([]byte, int64) (int, error) { return 0, syscall.EROFS }

// Truncate refuses, as WriteAt.
func (f *RemoteFile) Truncate(int64) error { return syscall.EROFS }

// Stat reports the object's size.
func (f *RemoteFile) Stat() (fs.FileInfo, error) { return remoteInfo{f}, nil }

// Sync has nothing to do.
func (f *RemoteFile) Sync() error { return nil }

// Close has nothing to release.
func (f *RemoteFile) Close() error { return nil }

type remoteInfo struct{ f *RemoteFile }

func (i remoteInfo) Name() string       { return i.f.key }
func (i remoteInfo) Size() int64        { return i.f.size }
func (i remoteInfo) Mode() fs.FileMode  { return 0o400 }
func (i remoteInfo) ModTime() time.Time { return time.Time{} }
func (i remoteInfo) IsDir() bool        { return false }
func (i remoteInfo) Sys() any           { return nil }
