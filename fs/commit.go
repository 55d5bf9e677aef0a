package fs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/sealfs/sealfs/crypto"
)

// groupCommit batches durability work: the data files written since the
// last commit are fsynced, then metadata, and only then are replaced or
// deleted data files removed, so a crash at any point finds every record
// pointing at a complete data file.
type groupCommit struct {
	mu      sync.Mutex
	touched map[crypto.FileID]struct{}
	remove  []crypto.FileID
}

func (f *FS) markTouched(id crypto.FileID) {
	f.commit.mu.Lock()
	if f.commit.touched == nil {
		f.commit.touched = make(map[crypto.FileID]struct{})
	}
	f.commit.touched[id] = struct{}{}
	f.commit.mu.Unlock()
}

// removeLater deletes data file id after the next metadata sync.
func (f *FS) removeLater(id crypto.FileID) {
	f.commit.mu.Lock()
	f.commit.remove = append(f.commit.remove, id)
	f.commit.mu.Unlock()
}

// SyncAll makes everything written so far durable and then removes the
// data files that no record points at any more.
func (f *FS) SyncAll() error {
	f.commit.mu.Lock()
	touched, remove := f.commit.touched, f.commit.remove
	f.commit.touched, f.commit.remove = nil, nil
	f.commit.mu.Unlock()
	var errs []error
	for id := range touched {
		errs = append(errs, f.syncData(id))
	}
	if len(remove) > 0 {
		errs = append(errs, f.meta.Sync())
	} else {
		errs = append(errs, f.meta.SyncIfDirty())
	}
	if err := errors.Join(errs...); err != nil {
		f.commit.mu.Lock()
		f.commit.remove = append(f.commit.remove, remove...) // retry next time
		f.commit.mu.Unlock()
		return err
	}
	for _, id := range remove {
		errs = append(errs, f.data.RemoveData(id))
	}
	return errors.Join(errs...)
}

func (f *FS) syncData(id crypto.FileID) error {
	d, err := f.data.OpenData(id)
	if errors.Is(err, os.ErrNotExist) {
		return nil // removed since it was written
	}
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync data file %s: %w", id, err)
	}
	return f.data.SyncDataDir(id)
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
