package fs

import (
	"context"
	"time"
)

// SyncAll makes everything written so far durable and then removes the
// data files that no record points at any more (the group commit).
func (f *FS) SyncAll() error { return f.versions.Commit() }

// WaitReleased waits up to grace for the files written and closed before
// the call to be released by the kernel (it delivers RELEASE after
// close(2) returns), and returns how many written files are still open.
func (f *FS) WaitReleased(ctx context.Context, grace time.Duration) int {
	return f.versions.WaitReleased(ctx, grace)
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
