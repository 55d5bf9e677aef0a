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

func openBucketView(keyFile, url, credsFile string) (v *bucketView, err error) {
	key, err := crypto.LoadKeyFile(keyFile)
	if err != nil {
		return nil, usageError{err}
	}
	sealed, err := sealCredentialsFile(key, url, credsFile)
	if err != nil {
		return nil, err
	}
	b, err := openBucketWith(key, url, url, sealed)
	if err != nil {
		return nil, err
	}
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

// Close closes the bucket and removes the temporary store (closed first).
func (v *bucketView) Close() {
	v.bucket.Close()
	os.RemoveAll(v.tmp)
}

// serveBucketView mounts the newest snapshot of the bucket read-only, on
// a machine with no store of its own: content is read from the bucket as
// it is needed. It takes no lease, so the writer goes on writing.
func serveBucketView(keyFile string, so syncOptions, credsFile, mnt string, mo mountOpts, stderr io.Writer) error {
	v, err := openBucketView(keyFile, so.remote, credsFile)
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
