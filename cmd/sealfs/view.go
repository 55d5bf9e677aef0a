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
	"github.com/sealfs/sealfs/store"
)

// serveBucketView mounts the newest snapshot of the bucket at url read-only,
// on a machine with no store of its own: the metadata is restored into a
// temporary store (removed at unmount) and content is read from the bucket
// as it is needed. It takes no lease, so the writer goes on writing.
func serveBucketView(keyFile string, so syncOptions, credsFile, mnt string, mo mountOpts, stderr io.Writer) error {
	url := so.remote
	key, err := crypto.LoadKeyFile(keyFile)
	if err != nil {
		return usageError{err}
	}
	sealed, err := sealCredentialsFile(key, url, credsFile)
	if err != nil {
		return err
	}
	b, err := openBucketWith(key, url, url, sealed)
	if err != nil {
		return err
	}
	defer b.Close()
	tmp, err := os.MkdirTemp("", "sealfs-view-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "store")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	rep, err := recovery.Recover(ctx, recovery.Options{Bucket: b, Key: key, Store: dir, Sealed: sealed})
	cancel()
	if errors.Is(err, recovery.ErrBadInput) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "sealfs: read-only view of snapshot %s taken %s: %d files, %d bytes\n",
		rep.Snapshot.ID(), rep.Snapshot.Taken().Format(time.RFC3339), rep.Files, rep.Bytes)
	for _, p := range rep.Missing {
		fmt.Fprintf(stderr, "sealfs: missing from the bucket (reads EIO): %s\n", quoteName(p))
	}
	st, err := store.Open(dir, key)
	if err != nil {
		return err
	}
	mo.view = b
	return serve(st, key, mnt, mo, so, stderr)
}
