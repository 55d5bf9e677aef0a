package uploader

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/sealfs/sealfs/crypto"
)

// snapshotPrefix holds the sealed metadata snapshots: with the master key
// and the bucket alone, a new machine can find every file again.
const snapshotPrefix = "meta/"

// Snapshot seals a full backup of the metadata like file content (its own
// file ID and DEK) and uploads it as meta/<UTC time>, unless nothing changed
// since the last one.
func (u *Uploader) Snapshot(ctx context.Context) error {
	version := u.cfg.Meta.CommitVersion()
	u.mu.Lock()
	unchanged := version == u.snapshotVersion
	u.mu.Unlock()
	if unchanged {
		return nil
	}
	tmp, err := os.CreateTemp(u.cfg.TempDir, "snapshot-*")
	if err != nil {
		return fmt.Errorf("metadata snapshot: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	id, err := crypto.NewFileID()
	if err != nil {
		return err
	}
	sealed, err := crypto.CreateFileWithID(u.cfg.Wrapper, tmp, id, 0)
	if err != nil {
		return fmt.Errorf("metadata snapshot: %w", err)
	}
	w := &appendWriter{f: sealed}
	if _, err := u.cfg.Meta.Backup(w); err != nil {
		return fmt.Errorf("metadata snapshot: %w", err)
	}
	if err := sealed.Flush(); err != nil {
		return fmt.Errorf("metadata snapshot: %w", err)
	}
	fi, err := tmp.Stat()
	if err != nil {
		return err
	}
	key := snapshotPrefix + time.Now().UTC().Format("20060102T150405.000000000Z")
	if _, err := u.cfg.Bucket.Put(ctx, key, tmp, fi.Size()); err != nil {
		return err
	}
	u.mu.Lock()
	u.snapshotVersion = version
	u.mu.Unlock()
	return nil
}

// snapshotLoop snapshots every interval while there are changes.
func (u *Uploader) snapshotLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := u.Snapshot(ctx); err != nil && ctx.Err() == nil {
				u.noteErr(err)
			}
		}
	}
}

// appendWriter turns sequential writes into WriteAt calls on sealed content.
type appendWriter struct {
	f   *crypto.File
	off int64
}

func (w *appendWriter) Write(p []byte) (int, error) {
	n, err := w.f.WriteAt(p, w.off)
	w.off += int64(n)
	return n, err
}
