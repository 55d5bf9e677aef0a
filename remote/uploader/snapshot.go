package uploader

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"time"
)

// Snapshot uploads a sealed snapshot of the whole metadata (names,
// attributes, wrapped DEKs) and its manifest, unless nothing changed since
// the last one.
func (u *Uploader) Snapshot(ctx context.Context) error {
	if u.cfg.Snapshots == nil {
		return nil
	}
	if err := u.uploadSlots(ctx); err != nil {
		return err
	}
	version := u.cfg.Meta.CommitVersion()
	u.mu.Lock()
	unchanged := version == u.snapshotVersion
	u.mu.Unlock()
	if unchanged {
		u.counts.mu.Lock()
		u.counts.lastSnapshot = time.Now() // the last one still names everything
		u.counts.mu.Unlock()
		return nil
	}
	_, err := u.cfg.Snapshots.Write(ctx, func(w io.Writer) error {
		_, err := u.cfg.Meta.Backup(w)
		return err
	})
	if err != nil {
		return err
	}
	u.mu.Lock()
	u.snapshotVersion = version
	u.mu.Unlock()
	u.counts.mu.Lock()
	u.counts.lastSnapshot = time.Now()
	u.counts.mu.Unlock()
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

// SlotsKey is the bucket object of the store's key slots.
const SlotsKey = "keyslots"

// uploadSlots uploads the key slot file if it changed since the last time.
func (u *Uploader) uploadSlots(ctx context.Context) error {
	if u.cfg.KeySlots == nil {
		return nil
	}
	b, err := u.cfg.KeySlots()
	if err != nil || b == nil {
		return err
	}
	sum := sha256.Sum256(b)
	u.mu.Lock()
	same := sum == u.slotsSum
	u.mu.Unlock()
	if same {
		return nil
	}
	if _, err := u.cfg.Bucket.Replace(ctx, SlotsKey, bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("upload key slots: %w", err)
	}
	u.mu.Lock()
	u.slotsSum = sum
	u.mu.Unlock()
	return nil
}
