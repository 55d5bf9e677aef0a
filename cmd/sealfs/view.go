package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/keyslot"
	"github.com/sealfs/sealfs/recovery"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/store"
)

// bucketView is a bucket's newest snapshot restored into a temporary
// store, for a machine with no store of its own (mount --read-only
// --remote, cat --remote). Close removes it.
type bucketView struct {
	key    *crypto.MasterKey
	bucket *remote.Bucket
	dir    string // the temporary store
	report *recovery.Report
	tmp    string
}

func openBucketView(loc location, url, credsFile string) (v *bucketView, err error) {
	ub, err := openBucketUnlocked(loc, url, credsFile)
	if err != nil {
		return nil, err
	}
	key, b, sealed := ub.key, ub.bucket, ub.sealed
	tmp, err := os.MkdirTemp("", "sealfs-view-*")
	if err != nil {
		b.Close()
		return nil, err
	}
	v = &bucketView{key: key, bucket: b, dir: filepath.Join(tmp, "store"), tmp: tmp}
	defer func() {
		if err != nil {
			v.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	v.report, err = recovery.Recover(ctx, recovery.Options{Bucket: b, Key: key, Store: v.dir, Sealed: sealed})
	if errors.Is(err, recovery.ErrBadInput) {
		return nil, usageError{err}
	}
	if err != nil {
		return nil, err
	}
	return v, nil
}

// unlockedBucket is a bucket opened for a store that exists only there,
// and the master key that opens it.
type unlockedBucket struct {
	key    *crypto.MasterKey
	bucket *remote.Bucket
	sealed []byte        // the credentials, sealed for the new store; nil if none
	slots  *keyslot.File // the bucket's genuine slot file; nil if none
}

// openBucketUnlocked opens the bucket at url with the credentials file (in
// the clear, as the user has it) and unlocks it as loc says: with a key
// file, or with a passphrase or recovery code that opens one of the
// bucket's key slots.
func openBucketUnlocked(loc location, url, credsFile string) (*unlockedBucket, error) {
	var creds []byte
	if credsFile != "" {
		var err error
		if creds, err = os.ReadFile(credsFile); err != nil {
			return nil, usageError{fmt.Errorf("credentials file: %w", err)}
		}
		defer clear(creds)
	}
	b, err := openBucketCreds(url, creds)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key, slots, err := loc.unlockBucket(ctx, b)
	if err != nil {
		b.Close()
		return nil, err
	}
	ub := &unlockedBucket{key: key, bucket: b, slots: slots}
	if creds != nil {
		if ub.sealed, err = key.SealCredentials(url, creds); err != nil {
			b.Close()
			return nil, err
		}
	}
	return ub, nil
}

// Close closes the bucket and removes the temporary store (closed first).
func (v *bucketView) Close() {
	v.bucket.Close()
	os.RemoveAll(v.tmp)
}

// serveBucketView mounts the newest snapshot of the bucket read-only, on
// a machine with no store of its own: content is read from the bucket as
// it is needed. It takes no lease, so the writer goes on writing.
func serveBucketView(loc location, so syncOptions, credsFile, mnt string, mo mountOpts, stderr io.Writer) error {
	v, err := openBucketView(loc, so.remote, credsFile)
	if err != nil {
		return err
	}
	defer v.Close()
	rep := v.report
	fmt.Fprintf(stderr, "sealfs: read-only view of snapshot %s taken %s: %d files, %d bytes\n",
		rep.Snapshot.ID(), rep.Snapshot.Taken().Format(time.RFC3339), rep.Files, rep.Bytes)
	for _, p := range rep.Missing {
		fmt.Fprintf(stderr, "sealfs: missing from the bucket (reads EIO): %s\n", quoteName(p))
	}
	st, err := store.Open(v.dir, v.key)
	if err != nil {
		return err
	}
	mo.view = v.bucket
	return serve(st, v.key, mnt, mo, so, stderr)
}
