package uploader

import (
	"context"
	"errors"
	"strings"
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
		key, owned, err := u.retiredKey(r)
		if err != nil {
			u.noteErr(err)
			continue
		}
		if !owned {
			if err := u.cfg.Bucket.Delete(ctx, key); err != nil {
				u.noteErr(err)
				continue
			}
		}
		if err := u.cfg.Meta.Update(func(tx *meta.Tx) error { return tx.DeleteRetired(r) }); err != nil {
			u.noteErr(err)
		}
	}
}

// retiredKey is the bucket object of retired version r, and whether a live
// file owns that key now: a plain version's copy is under its path, which
// a newer version of the file, or a new file of that name, takes over.
func (u *Uploader) retiredKey(r meta.Retired) (key string, owned bool, err error) {
	if r.Content == nil || r.Content.Object == "" {
		return ObjectKey(r.FileID), false, nil
	}
	key = r.Content.Object
	err = u.cfg.Meta.View(func(tx *meta.Tx) error {
		ino, err := tx.LookupPath(strings.TrimPrefix(key, "plain"))
		if errors.Is(err, meta.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		c, err := tx.Content(ino)
		if errors.Is(err, meta.ErrNotFound) {
			return nil
		}
		owned = err == nil && c.Object == key
		return err
	})
	return key, owned, err
}

// deletionLoop runs deleteExpired every interval until ctx ends.
func (u *Uploader) deletionLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		u.applyRekeys(false)
		u.deleteExpired(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
