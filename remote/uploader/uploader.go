// Package uploader moves sealed content versions from the local store to
// the bucket in the background. Its queue lives in the metadata store, so a
// restart or a crash resumes it; writers never wait for it.
package uploader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/driver"
	"github.com/sealfs/sealfs/remote/snapshot"
)

// DataSource opens the local ciphertext of a version.
type DataSource interface {
	OpenData(id crypto.FileID) (*os.File, error)
}

// Config wires an Uploader.
type Config struct {
	Meta    *meta.Store
	Data    DataSource
	Bucket  *remote.Bucket
	Workers int // parallel uploads; default 4
	Log     *slog.Logger
	// PermanentRetry is how long a job waits after a permanent error
	// (bad credentials, a refused object) before it is tried again.
	PermanentRetry time.Duration
	// Snapshots uploads the metadata snapshots; nil: none.
	Snapshots *snapshot.Writer
	// KeySlots returns the store's key slot file, uploaded with the
	// snapshots (to SlotsKey) whenever it changed, so that a recovery
	// can unlock with any slot's secret; nil, or nil bytes: none.
	KeySlots func() ([]byte, error)
	// SnapshotEvery is the longest time between metadata snapshots while
	// there are changes; default one hour.
	SnapshotEvery time.Duration
	// DeleteEvery is how often expired versions are looked for; default
	// one minute.
	DeleteEvery time.Duration
	// Wrapper opens plain versions, whose bucket copy is their plaintext.
	Wrapper *crypto.Wrapper
	// Retention is how long a plain file's copy left under its old path by
	// a rename stays (as fs's retention of replaced versions).
	Retention time.Duration
}

// Uploader runs the upload workers and the deletion of expired versions.
type Uploader struct {
	cfg  Config
	wake chan struct{}

	mu        sync.Mutex
	claimed   map[[16]byte]bool // jobs a worker is on
	draining  bool              // ignore quiet periods: everything is due now
	drainers  int
	lastErr   string
	lastErrAt time.Time
	rate      rateMeter
	changed   chan struct{} // closed and replaced whenever a job finishes

	snapshotVersion uint64   // metadata version of the last snapshot
	slotsSum        [32]byte // SHA-256 of the key slots last uploaded

	rekeying sync.Mutex // one applyRekeys at a time

	counts counters
}

// counters are the uploader's running totals since it started.
type counters struct {
	mu           sync.Mutex
	bytes        int64
	objects      int64
	errors       map[string]int64 // by kind: transient, permanent, not the version, ...
	lastSnapshot time.Time
}

// Counters are what an Uploader did since it started, for metrics.
type Counters struct {
	UploadedBytes   int64
	UploadedObjects int64
	Errors          map[string]int64 // failed upload attempts by kind
	LastSnapshot    time.Time        // the last snapshot uploaded: recoverable up to then
}

// Counters returns the running totals.
func (u *Uploader) Counters() Counters {
	u.counts.mu.Lock()
	defer u.counts.mu.Unlock()
	c := Counters{UploadedBytes: u.counts.bytes, UploadedObjects: u.counts.objects, LastSnapshot: u.counts.lastSnapshot, Errors: map[string]int64{}}
	for k, v := range u.counts.errors {
		c.Errors[k] = v
	}
	return c
}

func (c *counters) uploaded(size int64) {
	c.mu.Lock()
	c.bytes += size
	c.objects++
	c.mu.Unlock()
}

func (c *counters) failed(err error) {
	kind := driver.CodeOf(err).String()
	if errors.Is(err, errNotTheVersion) {
		kind = "not the sealed version"
	}
	c.mu.Lock()
	if c.errors == nil {
		c.errors = map[string]int64{}
	}
	c.errors[kind]++
	c.mu.Unlock()
}

// ObjectKey is where version id is stored in the bucket: an opaque name,
// the version's random file ID.
func ObjectKey(id [16]byte) string { return "data/" + crypto.FileID(id).String() }

// ListObjects returns the size of every version object in the bucket, by
// file ID (recover and check compare them with the records).
func ListObjects(ctx context.Context, b *remote.Bucket) (map[[16]byte]int64, error) {
	objects := map[[16]byte]int64{}
	err := b.List(ctx, "data/", func(a driver.Attributes) error {
		raw, err := hex.DecodeString(strings.TrimPrefix(a.Key, "data/"))
		if err == nil && len(raw) == 16 {
			objects[[16]byte(raw)] = a.Size
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list data objects: %w", err)
	}
	return objects, nil
}

// New makes an Uploader; Run starts it.
func New(cfg Config) *Uploader {
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.PermanentRetry == 0 {
		cfg.PermanentRetry = 5 * time.Minute
	}
	if cfg.SnapshotEvery == 0 {
		cfg.SnapshotEvery = time.Hour
	}
	if cfg.DeleteEvery == 0 {
		cfg.DeleteEvery = time.Minute
	}
	return &Uploader{
		cfg: cfg, wake: make(chan struct{}, 1),
		claimed: make(map[[16]byte]bool), changed: make(chan struct{}),
	}
}

// Wake tells the workers that a job was queued.
func (u *Uploader) Wake() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// Run uploads, and deletes expired versions, until ctx ends.
func (u *Uploader) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		u.deletionLoop(ctx, u.cfg.DeleteEvery)
	}()
	go func() {
		defer wg.Done()
		u.snapshotLoop(ctx, u.cfg.SnapshotEvery)
	}()
	for range u.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u.worker(ctx)
		}()
	}
	wg.Wait()
}

func (u *Uploader) worker(ctx context.Context) {
	poll := time.NewTicker(250 * time.Millisecond)
	defer poll.Stop()
	for ctx.Err() == nil {
		job, ok, err := u.claimNext()
		if err != nil {
			u.noteErr(err)
		}
		if !ok {
			select {
			case <-ctx.Done():
			case <-u.wake:
				u.applyRekeys(false) // a directory rename wakes the workers too
			case <-poll.C:
			}
			continue
		}
		u.upload(ctx, job)
		u.release(job)
		u.Wake() // others may be waiting behind this one
	}
}

// claimNext picks the first due job no other worker is on.
func (u *Uploader) claimNext() (meta.Upload, bool, error) {
	job, ok, err := u.claimFromSnapshot()
	if !ok || err != nil {
		return job, ok, err
	}
	// The scan ran on a snapshot: a worker may have finished the job and
	// released its claim since. Only a job still queued is worth sending.
	var queued bool
	err = u.cfg.Meta.View(func(tx *meta.Tx) (err error) {
		queued, err = tx.HasUpload(job)
		return err
	})
	if err != nil || !queued {
		u.mu.Lock()
		delete(u.claimed, job.FileID)
		u.mu.Unlock()
		return meta.Upload{}, false, err
	}
	return job, true, nil
}

func (u *Uploader) claimFromSnapshot() (meta.Upload, bool, error) {
	now := time.Now().UnixNano()
	u.mu.Lock()
	draining := u.draining
	u.mu.Unlock()
	var job meta.Upload
	found := false
	err := u.cfg.Meta.View(func(tx *meta.Tx) error {
		return tx.Uploads(func(j meta.Upload) bool {
			if j.Due > now {
				if !draining {
					return false // in due order: nothing later is due either
				}
				if j.Attempts > 0 {
					return true // a failed job keeps its backoff, even when draining
				}
			}
			u.mu.Lock()
			defer u.mu.Unlock()
			if u.claimed[j.FileID] {
				return true
			}
			u.claimed[j.FileID] = true
			job, found = j, true
			return false
		})
	})
	return job, found, err
}

func (u *Uploader) release(job meta.Upload) {
	u.mu.Lock()
	delete(u.claimed, job.FileID)
	close(u.changed)
	u.changed = make(chan struct{})
	u.mu.Unlock()
}

func (u *Uploader) noteErr(err error) {
	u.cfg.Log.Error("upload", "err", err)
	u.mu.Lock()
	u.lastErr, u.lastErrAt = err.Error(), time.Now()
	u.mu.Unlock()
}

// errNotTheVersion: the store's file for a job is not the version it names.
var errNotTheVersion = errors.New("store file is not the sealed version it should be")

// checkVersionFile checks, before anything is sent, that f starts with a
// content header naming the job's file ID and has the size the version
// had when it was sealed (when the job recorded one).
func checkVersionFile(f io.ReaderAt, job meta.Upload, size int64) error {
	var head [30]byte // magic(8) version(2) block size(4) file ID(16), in every version
	if _, err := f.ReadAt(head[:], 0); err != nil {
		return fmt.Errorf("version %s: %w (%v)", crypto.FileID(job.FileID), errNotTheVersion, err)
	}
	if string(head[:8]) != "SEALFSCT" || [16]byte(head[14:30]) != job.FileID {
		return fmt.Errorf("version %s: %w (header names another file)", crypto.FileID(job.FileID), errNotTheVersion)
	}
	if job.Size > 0 && size != job.Size {
		return fmt.Errorf("version %s: %w (%d bytes, sealed at %d)", crypto.FileID(job.FileID), errNotTheVersion, size, job.Size)
	}
	return nil
}

// upload sends one version and records the outcome.
func (u *Uploader) upload(ctx context.Context, job meta.Upload) {
	c, current, err := u.setState(job, meta.SyncUploading, "", "")
	if err != nil || !current {
		u.finish(job, err) // superseded or deleted before it was sent: nothing to do
		return
	}
	data, err := u.cfg.Data.OpenData(job.FileID)
	if errors.Is(err, os.ErrNotExist) {
		u.finish(job, nil) // removed since: superseded
		return
	}
	if err != nil {
		u.retryLater(job, err)
		return
	}
	defer data.Close()
	fi, err := data.Stat()
	if err != nil {
		u.retryLater(job, err)
		return
	}
	if err := checkVersionFile(data, job, fi.Size()); err != nil {
		// Never upload what is not the sealed version the job names: a
		// file planted or swapped in the store stays where it is.
		u.retryLater(job, err)
		return
	}
	start := time.Now()
	key, src, size, sum := ObjectKey(job.FileID), io.ReaderAt(data), fi.Size(), ""
	if c.PlainCopy() {
		// A plain version's bucket copy is its plaintext, under its path,
		// readable by any tool; every byte sent was authenticated first.
		if src, size, sum, err = u.openPlain(data, c); err != nil {
			u.retryLater(job, err)
			return
		}
		key = c.Object
	}
	put := u.cfg.Bucket.Put
	if key != ObjectKey(job.FileID) {
		put = u.cfg.Bucket.Replace // a path's copy: the next version takes it over
	}
	attrs, err := put(ctx, key, src, size)
	if err != nil {
		if ctx.Err() != nil {
			u.setState(job, meta.SyncPending, "", "")
			return // stopping: the job stays queued for the next mount
		}
		u.retryLater(job, err)
		return
	}
	u.rate.add(fi.Size(), time.Since(start))
	u.counts.uploaded(size)
	// A plain version renamed while it was sent stays pending: the rename
	// queued another job, for its new key.
	_, _, err = u.setState(job, meta.SyncSynced, attrs.Version, sum, key)
	u.finish(job, err)
}

// openPlain opens plain version c in data as plaintext, and returns its
// size and SHA-256 (hex), read once through before it is sent.
func (u *Uploader) openPlain(data io.ReaderAt, c meta.Content) (io.ReaderAt, int64, string, error) {
	if u.cfg.Wrapper == nil {
		return nil, 0, "", errors.New("plain version: the uploader has no key to open it")
	}
	backing, ok := data.(crypto.Backing)
	if !ok {
		return nil, 0, "", errors.New("plain version: data file is not seekable")
	}
	f, err := crypto.OpenFile(u.cfg.Wrapper, backing, crypto.FileKey{KeyID: c.KeyID, Wrapped: c.WrappedDEK})
	if err != nil {
		return nil, 0, "", fmt.Errorf("plain version %s: %w", crypto.FileID(c.FileID), err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, f.Size())); err != nil {
		return nil, 0, "", fmt.Errorf("plain version %s: %w", crypto.FileID(c.FileID), err)
	}
	return f, f.Size(), hex.EncodeToString(h.Sum(nil)), nil
}

// setState records the sync state of job's version (and, once a plain one
// is synced, its plaintext's SHA-256), if it is still the file's current
// version; it reports whether it was, and the record.
//
// key, when given, is where the version was sent: a plain version renamed
// meanwhile (its record names another key) is left pending.
func (u *Uploader) setState(job meta.Upload, state meta.SyncState, detail, sum string, key ...string) (c meta.Content, current bool, err error) {
	err = u.cfg.Meta.Update(func(tx *meta.Tx) error {
		c, err = tx.Content(job.Ino)
		if errors.Is(err, meta.ErrNotFound) {
			current = false
			return nil
		}
		if err != nil {
			return err
		}
		current = c.FileID == job.FileID
		if !current {
			return nil
		}
		if len(key) > 0 && !c.Encrypted && c.Object != "" && c.Object != key[0] {
			return nil
		}
		c.Sync, c.SyncDetail = state, detail
		if sum != "" {
			c.SHA256 = sum
		}
		return tx.PutContent(job.Ino, c)
	})
	return c, current, err
}

// finish removes a job from the queue.
func (u *Uploader) finish(job meta.Upload, cause error) {
	if cause != nil {
		u.noteErr(cause)
	}
	if err := u.cfg.Meta.Update(func(tx *meta.Tx) error { return tx.DeleteUpload(job) }); err != nil {
		u.noteErr(fmt.Errorf("dequeue %s: %w", crypto.FileID(job.FileID), err))
	}
}

// retryLater requeues a failed job. The bucket layer already retried
// transient errors with backoff; what reaches here is permanent or the bucket
// gave up, so the job waits longer and its error shows in status and xattr.
func (u *Uploader) retryLater(job meta.Upload, cause error) {
	u.counts.failed(cause)
	u.noteErr(fmt.Errorf("upload %s: %w", ObjectKey(job.FileID), cause))
	next := job
	next.Attempts++
	next.LastErr = cause.Error()
	next.Due = time.Now().Add(u.cfg.PermanentRetry).UnixNano()
	err := u.cfg.Meta.Update(func(tx *meta.Tx) error {
		if err := tx.DeleteUpload(job); err != nil {
			return err
		}
		if err := tx.PutUpload(next); err != nil {
			return err
		}
		c, err := tx.Content(job.Ino)
		if err != nil || c.FileID != job.FileID {
			return nil
		}
		c.Sync, c.SyncDetail = meta.SyncError, cause.Error()
		return tx.PutContent(job.Ino, c)
	})
	if err != nil {
		u.noteErr(err)
	}
}
