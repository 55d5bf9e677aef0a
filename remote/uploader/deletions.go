package uploader

import (
	"context"
	"time"

	"github.com/sealfs/sealfs/meta"
)

// deleteExpired removes the bucket copies of superseded and deleted versions
// whose retention period is over, and their records with them.
func (u *Uploader) deleteExpired(ctx context.Context) {
	var due []meta.Retired
	if err := u.cfg.Meta.View(func(tx *meta.Tx) (err error) {
		due, err = tx.DueRetired(time.Now())
		return err
	}); err != nil {
		u.noteErr(err)
		return
	}
	for _, r := range due {
		if err := u.cfg.Bucket.Delete(ctx, ObjectKey(r.FileID)); err != nil {
			u.noteErr(err)
			continue
		}
		if err := u.cfg.Meta.Update(func(tx *meta.Tx) error { return tx.DeleteRetired(r) }); err != nil {
			u.noteErr(err)
		}
	}
}

// deletionLoop runs deleteExpired every interval until ctx ends.
func (u *Uploader) deletionLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		u.deleteExpired(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
