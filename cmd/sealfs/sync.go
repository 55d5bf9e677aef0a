package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealfs/sealfs/crypto"
	sealfs "github.com/sealfs/sealfs/fs"
	"github.com/sealfs/sealfs/keyslot"
	"github.com/sealfs/sealfs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/cache"
	"github.com/sealfs/sealfs/remote/snapshot"
	"github.com/sealfs/sealfs/remote/uploader"
	"github.com/sealfs/sealfs/store"
	"github.com/spf13/pflag"

	// The bucket drivers register their URL schemes.
	_ "github.com/sealfs/sealfs/remote/azblob"
	_ "github.com/sealfs/sealfs/remote/file"
	_ "github.com/sealfs/sealfs/remote/gcs"
	_ "github.com/sealfs/sealfs/remote/s3"
)

// leaseTTL is how long a lease outlives a writer that stopped renewing it.
const leaseTTL = 2 * time.Minute

// cacheEvictEvery is how often the local cache is checked against --cache-max.
const cacheEvictEvery = 2 * time.Second

// Defaults of the mount flags that commands working on an unmounted store
// use too.
const (
	defaultRetention = 7 * 24 * time.Hour
	defaultSealAfter = 2 * time.Second
)

// syncOptions are the mount flags of the background upload.
type syncOptions struct {
	remote       string
	workers      int
	retention    time.Duration
	drainTimeout time.Duration
	quiet        time.Duration
	cacheMax     byteSize
	takeover     bool
	readTimeout  time.Duration
}

func (o *syncOptions) register(fl *pflag.FlagSet) {
	fl.StringVar(&o.remote, "remote", "", "bucket URL to upload to: gs://B/P, s3://B/P?endpoint=&region=, azblob://C/P, file:///DIR (default: the store's, from init --remote or remote set)")
	fl.IntVar(&o.workers, "workers", 4, "parallel uploads")
	fl.DurationVar(&o.retention, "retention", defaultRetention, "how long superseded and deleted versions stay in the bucket")
	fl.DurationVar(&o.drainTimeout, "drain-timeout", time.Minute, "how long unmount waits for pending uploads")
	fl.DurationVar(&o.quiet, "seal-after", defaultSealAfter, "how long a closed file stays untouched before it is uploaded")
	fl.DurationVar(&o.readTimeout, "read-timeout", time.Minute, "how long a read of a file that is only in the bucket may wait for it (then EIO)")
	fl.BoolVar(&o.takeover, "takeover", false, "write to a bucket prefix another store (or another copy of this one) holds: take its live lease, write beside its snapshots")
	fl.Var(&o.cacheMax, "cache-max", "local ciphertext to keep, e.g. 20G; synced files beyond it are evicted, least recently used first, and read back from the bucket (default: keep all)")
}

func (o *syncOptions) validate() error {
	switch {
	case o.workers < 1:
		return badInput("--workers must be at least 1")
	case o.retention < 0 || o.drainTimeout < 0 || o.quiet < 0 || o.readTimeout < 0:
		return badInput("durations must not be negative")
	}
	if o.remote != "" {
		if _, _, err := remote.ParseURL(o.remote); err != nil {
			return usageError{err}
		}
	}
	return nil
}

// syncer is the running upload side of a mount.
type syncer struct {
	opts   syncOptions
	bucket *remote.Bucket
	up     *uploader.Uploader
	lease  *uploader.Lease
	cache  *cache.Cache
	// snapshots is the uploader's snapshot writer (a key rotation gives
	// it the new key).
	snapshots *snapshot.Writer
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	// lostLease is set when another writer took the prefix: uploads stop.
	lostLease atomic.Bool
}

// startSync opens the bucket, takes the lease and starts the uploader; it
// returns nil when the store has no remote.
func startSync(st *store.Store, key *crypto.MasterKey, o syncOptions, log *slog.Logger) (*syncer, error) {
	url := o.remote
	if url == "" {
		url = st.Config.Remote
	}
	if url == "" {
		return nil, nil
	}
	bucket, err := openBucket(st.Dir, key, url, st.Config.Remote)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	rotated, err := snapshotsStale(st.Meta)
	var current bool
	if err == nil {
		current, err = checkPrefixOwner(ctx, bucket, key, st.ID(), o.takeover, rotated != 0)
	}
	if err == nil && rotated != 0 && current {
		err = clearSnapshotsStale(st.Meta)
	}
	if err != nil {
		cancel()
		bucket.Close()
		return nil, err
	}
	holder := uploader.Holder{Store: storeID(st), Instance: st.Config.Instance}
	lease, err := uploader.AcquireLease(ctx, bucket, holder, leaseTTL, o.takeover)
	if err != nil {
		cancel()
		bucket.Close()
		if errors.Is(err, uploader.ErrLeaseHeld) {
			return nil, usageError{err}
		}
		return nil, fmt.Errorf("take the bucket lease: %w", err)
	}
	s := &syncer{opts: o, bucket: bucket, lease: lease, cancel: cancel,
		snapshots: &snapshot.Writer{Bucket: bucket, Key: key, StoreID: st.ID(), TempDir: st.TempDir()}}
	s.up = uploader.New(uploader.Config{
		Meta: st.Meta, Data: st, Bucket: bucket, Workers: o.workers, Log: log,
		Wrapper: st.Wrapper, Retention: o.retention,
		Snapshots: s.snapshots,
		KeySlots:  func() ([]byte, error) { return readSlotFile(st.Dir) },
		// A short retention is looked after promptly (and testable).
		DeleteEvery: min(time.Minute, max(time.Second, o.retention/2)),
	})
	if n, err := s.up.QueueUnsynced(); err != nil {
		rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
		lease.Release(rctx) // or a retried mount would find it held
		rcancel()
		cancel()
		bucket.Close()
		return nil, fmt.Errorf("queue unsynced files: %w", err)
	} else if n > 0 {
		log.Info("queued files not yet in the bucket", "files", n)
	}
	s.cache = cache.New(cache.Config{Meta: st.Meta, Local: st, Bucket: bucket, Max: int64(o.cacheMax), Log: log, ReadTimeout: o.readTimeout, Wrapper: st.Wrapper})
	s.wg.Add(2)
	if o.cacheMax > 0 {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.cache.Loop(ctx, cacheEvictEvery) }()
	}
	go func() { defer s.wg.Done(); s.up.Run(ctx) }()
	go func() {
		defer s.wg.Done()
		lease.RenewLoop(ctx, func(err error) {
			if errors.Is(err, uploader.ErrLeaseHeld) {
				// Another writer has the prefix: writing on would mix two
				// stores' objects and snapshots.
				log.Error("lost the bucket lease to another writer; uploads stopped (files stay local)", "err", err)
				s.lostLease.Store(true)
				cancel()
				return
			}
			log.Error("bucket lease", "err", err)
		})
	}()
	return s, nil
}

// checkPrefixOwner refuses (unless takeover) a bucket prefix whose newest
// snapshots belong to another store, or do not open with this key: a new
// store would otherwise write an empty snapshot beside a real backup.
// After a key rotation whose snapshot did not reach the bucket (rotated),
// manifests that do not open are this store's under its old key. current
// reports that the newest manifest that opens is this store's.
func checkPrefixOwner(ctx context.Context, b *remote.Bucket, key *crypto.MasterKey, id [16]byte, takeover, rotated bool) (current bool, err error) {
	l, err := snapshot.List(ctx, b)
	if err != nil {
		return false, fmt.Errorf("look for snapshots: %w", err)
	}
	if len(l.Manifests) == 0 {
		return false, nil
	}
	m, _, err := snapshot.Latest(ctx, b, key, l)
	switch {
	case err == nil && m.StoreID == id:
		return true, nil
	case takeover, rotated && errors.Is(err, snapshot.ErrNoSnapshot):
		return false, nil
	case err == nil:
		e := m.Newest()
		return false, badInput("%s holds the backup of another store (%x, newest snapshot %s of %s): to restore it run `sealfs recover --remote %s`; to write to this prefix anyway mount with --takeover",
			b.URL(), m.StoreID, e.ID(), e.Taken().Format(time.RFC3339), b.URL())
	case errors.Is(err, snapshot.ErrNoSnapshot):
		return false, badInput("%s holds %d snapshot manifests that do not open with this key (another store's backup?); mount with --takeover to write there anyway",
			b.URL(), len(l.Manifests))
	}
	return false, fmt.Errorf("look for snapshots: %w", err)
}

// openBucket opens url with the store's sealed credentials, which were
// given for credsURL (the configured remote): a bucket at another URL
// (mount --remote) is opened without them. A bad URL or a missing bucket
// is the caller's to fix.
func openBucket(storeDir string, key *crypto.MasterKey, url, credsURL string) (*remote.Bucket, error) {
	sealed, err := store.ReadSealedCredentials(storeDir)
	if err != nil {
		return nil, err
	}
	return openBucketWith(key, url, credsURL, sealed)
}

func openBucketWith(key *crypto.MasterKey, url, credsURL string, sealed []byte) (*remote.Bucket, error) {
	var creds []byte
	var err error
	if sealed != nil && url == credsURL {
		if creds, err = key.OpenCredentials(url, sealed); err != nil {
			return nil, usageError{fmt.Errorf("sealed bucket credentials: %w", err)}
		}
		defer clear(creds)
	}
	return openBucketCreds(url, creds)
}

// openBucketCreds opens the bucket at url with credentials in the clear
// (nil: the environment's).
func openBucketCreds(url string, creds []byte) (*remote.Bucket, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := remote.Open(ctx, url, remote.Options{Credentials: creds})
	if errors.Is(err, remote.ErrNotFound) || errors.Is(err, remote.ErrBadURL) {
		return nil, usageError{err}
	}
	if err != nil {
		return nil, fmt.Errorf("open bucket: %w", err)
	}
	return b, nil
}

// storeID names the store as lease holder.
func storeID(st *store.Store) string {
	id := st.ID()
	return hex.EncodeToString(id[:])
}

func (s *syncer) fsUpload() *sealfs.UploadConfig {
	return &sealfs.UploadConfig{Quiet: s.opts.quiet, Retention: s.opts.retention, Queued: s.up.Wake}
}

// fsCache lets fs read evicted versions (also those a mount with a
// smaller --cache-max evicted earlier).
func (s *syncer) fsCache() sealfs.Cache { return cacheAdapter{s.cache} }

// cacheAdapter gives cache.Cache the signature fs wants: remote knows
// nothing of fs.
type cacheAdapter struct{ *cache.Cache }

func (a cacheAdapter) OpenRemote(ctx context.Context, id crypto.FileID) (sealfs.DataFile, error) {
	f, err := a.Cache.OpenRemote(ctx, id)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (a cacheAdapter) FetchPlain(ctx context.Context, c meta.Content, size int64, dst sealfs.DataFile) error {
	return a.Cache.FetchPlain(ctx, c, size, dst)
}

// bucketOrNil is the mount's bucket; nil without a remote.
func (s *syncer) bucketOrNil() *remote.Bucket {
	if s == nil {
		return nil
	}
	return s.bucket
}

func (s *syncer) url() string {
	if s == nil {
		return ""
	}
	return s.bucket.URL()
}

// errPending: the mount ended with uploads (or the last snapshot) still
// to do; the daemon exits with exitPending so a script or systemd sees it.
var errPending = errors.New("uploads still pending at unmount")

// stop drains the queue for up to the drain timeout, says what is still
// pending, and stops the uploader; the next mount resumes the rest. It
// returns errPending when something could not be uploaded in time.
func (s *syncer) stop(stderr io.Writer) (result error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.drainTimeout)
	err := s.up.WaitSynced(ctx)
	if err == nil {
		err = s.up.Snapshot(ctx) // the metadata that goes with what was drained
	}
	cancel()
	if err != nil {
		result = errPending
		if st, serr := s.up.Status(); serr == nil && st.PendingFiles > 0 {
			fmt.Fprintf(stderr, "sealfs: %d files (%d bytes) not uploaded after %v; the next mount resumes them\n",
				st.PendingFiles, st.PendingBytes, s.opts.drainTimeout)
		} else {
			fmt.Fprintf(stderr, "sealfs: the last metadata snapshot was not uploaded (%v); the next mount uploads one\n", err)
		}
	}
	s.cancel()
	s.wg.Wait()
	// Best effort: the lease expires by itself, and unmount must not wait
	// on a bucket that is down.
	rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer rcancel()
	s.lease.Release(rctx)
	s.bucket.Close()
	return result
}

// readSlotFile returns the store's key slot file as it is on disk (nil for
// a store made before key slots, until its first slot change).
func readSlotFile(dir string) ([]byte, error) {
	b, err := os.ReadFile(keyslot.Path(dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}
