package fs

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sealfs/sealfs/crypto"
)

// groupCommit batches durability work: the data written since the last
// commit is synced, then metadata, and only then are replaced or deleted
// data files removed, so a crash at any point finds every record pointing at
// a complete data file. One syncfs(2) of the store's filesystem replaces an
// fsync per file: an rsync of ten thousand files costs one call a second.
type groupCommit struct {
	mu      sync.Mutex
	written bool
	remove  []crypto.FileID
}

func (f *FS) markWritten() {
	f.commit.mu.Lock()
	f.commit.written = true
	f.commit.mu.Unlock()
}

// removeLater deletes data file id after the next metadata sync. The data
// that replaced it is synced first too: a tick that ran during a long copy
// may have taken the written mark before the copy was done.
func (f *FS) removeLater(id crypto.FileID) {
	f.commit.mu.Lock()
	f.commit.remove = append(f.commit.remove, id)
	f.commit.written = true
	f.commit.mu.Unlock()
}

// SyncAll makes everything written so far durable and then removes the
// data files that no record points at any more.
func (f *FS) SyncAll() error {
	f.commit.mu.Lock()
	written, remove := f.commit.written, f.commit.remove
	f.commit.written, f.commit.remove = false, nil
	f.commit.mu.Unlock()
	var errs []error
	if written {
		errs = append(errs, f.data.SyncAll())
	}
	if len(remove) > 0 {
		errs = append(errs, f.meta.Sync())
	} else {
		errs = append(errs, f.meta.SyncIfDirty())
	}
	if err := errors.Join(errs...); err != nil {
		f.commit.mu.Lock()
		f.commit.remove = append(f.commit.remove, remove...) // retry next time
		f.commit.written = f.commit.written || written
		f.commit.mu.Unlock()
		return err
	}
	for _, id := range remove {
		errs = append(errs, f.data.RemoveData(id))
	}
	return errors.Join(errs...)
}

// SyncLoop runs the group commit about once every interval until ctx ends.
func (f *FS) SyncLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := f.SyncAll(); err != nil {
				f.log.Error("group commit", "err", err)
			}
		}
	}
}
