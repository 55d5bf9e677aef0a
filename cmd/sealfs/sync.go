package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/sealfs/sealfs/crypto"
	sealfs "github.com/sealfs/sealfs/fs"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/cache"
	"github.com/sealfs/sealfs/remote/uploader"
	"github.com/sealfs/sealfs/store"

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

// syncOptions are the mount flags of the background upload.
type syncOptions struct {
	remote       string
	workers      int
	retention    time.Duration
	drainTimeout time.Duration
	quiet        time.Duration
	cacheMax     byteSize
}

func (o *syncOptions) register(fl *flag.FlagSet) {
	fl.StringVar(&o.remote, "remote", "", "bucket URL to upload to: gs://B/P, s3://B/P?endpoint=&region=, azblob://C/P, file:///DIR (default: the store's, from init --remote or remote set)")
	fl.IntVar(&o.workers, "workers", 4, "parallel uploads")
	fl.DurationVar(&o.retention, "retention", 7*24*time.Hour, "how long superseded and deleted versions stay in the bucket")
	fl.DurationVar(&o.drainTimeout, "drain-timeout", time.Minute, "how long unmount waits for pending uploads")
	fl.DurationVar(&o.quiet, "seal-after", 2*time.Second, "how long a closed file stays untouched before it is uploaded")
	fl.Var(&o.cacheMax, "cache-max", "local ciphertext to keep, e.g. 20G; synced files beyond it are evicted, least recently used first, and read back from the bucket (default: keep all)")
}

func (o *syncOptions) validate() error {
	switch {
	case o.workers < 1:
		return badInput("--workers must be at least 1")
	case o.retention < 0 || o.drainTimeout < 0 || o.quiet < 0:
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
	cancel context.CancelFunc
	wg     sync.WaitGroup
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
	bucket, err := openBucket(st.Dir, key, url)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	lease, err := uploader.AcquireLease(ctx, bucket, storeID(st), leaseTTL)
	if err != nil {
		cancel()
		bucket.Close()
		if errors.Is(err, uploader.ErrLeaseHeld) {
			return nil, usageError{err}
		}
		return nil, fmt.Errorf("take the bucket lease: %w", err)
	}
	s := &syncer{opts: o, bucket: bucket, lease: lease, cancel: cancel}
	s.up = uploader.New(uploader.Config{
		Meta: st.Meta, Data: st, Bucket: bucket, Workers: o.workers, Log: log,
		Wrapper: st.Wrapper, TempDir: st.TempDir(),
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
	s.cache = cache.New(cache.Config{Meta: st.Meta, Local: st, Bucket: bucket, Max: int64(o.cacheMax), Log: log})
	s.wg.Add(2)
	if o.cacheMax > 0 {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.cache.Loop(ctx, cacheEvictEvery) }()
	}
	go func() { defer s.wg.Done(); s.up.Run(ctx) }()
	go func() {
		defer s.wg.Done()
		lease.RenewLoop(ctx, func(err error) { log.Error("bucket lease", "err", err) })
	}()
	return s, nil
}

// openBucket opens url with the store's sealed credentials, if any. A bad
// URL or a missing bucket is the caller's to fix.
func openBucket(storeDir string, key *crypto.MasterKey, url string) (*remote.Bucket, error) {
	sealed, err := store.ReadSealedCredentials(storeDir)
	if err != nil {
		return nil, err
	}
	return openBucketWith(key, url, sealed)
}

func openBucketWith(key *crypto.MasterKey, url string, sealed []byte) (*remote.Bucket, error) {
	var creds []byte
	var err error
	if sealed != nil {
		if creds, err = key.OpenCredentials(sealed); err != nil {
			return nil, usageError{fmt.Errorf("sealed bucket credentials: %w", err)}
		}
	}
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
	if st.Config.StoreID != "" {
		return st.Config.StoreID
	}
	return st.Config.KeyID + ":" + st.Dir
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

func (a cacheAdapter) OpenRemote(id crypto.FileID) (sealfs.DataFile, error) {
	f, err := a.Cache.OpenRemote(id)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (s *syncer) url() string {
	if s == nil {
		return ""
	}
	return s.bucket.URL()
}

// stop drains the queue for up to the drain timeout, says what is still
// pending, and stops the uploader; the next mount resumes the rest.
func (s *syncer) stop(stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.drainTimeout)
	err := s.up.WaitSynced(ctx)
	if err == nil {
		err = s.up.Snapshot(ctx) // the metadata that goes with what was drained
	}
	cancel()
	if err != nil {
		if st, serr := s.up.Status(); serr == nil && st.PendingFiles > 0 {
			fmt.Fprintf(stderr, "sealfs: %d files (%d bytes) not uploaded after %v; the next mount resumes them\n",
				st.PendingFiles, st.PendingBytes, s.opts.drainTimeout)
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
}
