package uploader

import (
	"context"
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
