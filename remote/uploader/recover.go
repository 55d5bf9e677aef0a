package uploader

import (
	"errors"
	"os"
	"time"

	"github.com/sealfs/sealfs/meta"
)

// QueueUnsynced queues every version that is not in the bucket and not in
// the queue. It runs before the filesystem is mounted, when no file is
// open, and catches what the queue cannot hold: a version whose last close
// never reached the daemon (killed between close(2) and the kernel's
// release), and every file of a store that just got its first remote.
// It returns how many versions it queued.
func (u *Uploader) QueueUnsynced() (int, error) {
	queued := map[[16]byte]bool{}
	var missing []meta.Upload
	err := u.cfg.Meta.View(func(tx *meta.Tx) error {
		if err := tx.Uploads(func(j meta.Upload) bool {
			queued[j.FileID] = true
			return true
		}); err != nil {
			return err
		}
		now := time.Now().UnixNano()
		return tx.Contents(func(ino meta.Ino, c meta.Content) bool {
			if c.Sync != meta.SyncSynced && !queued[c.FileID] {
				missing = append(missing, meta.Upload{Ino: ino, FileID: c.FileID, Due: now, Queued: now})
			}
			return true
		})
	})
	if err != nil {
		return 0, err
	}
	for _, job := range missing {
		f, err := u.cfg.Data.OpenData(job.FileID)
		if errors.Is(err, os.ErrNotExist) {
			continue // its inode is being destroyed
		}
		if err != nil {
			return 0, err
		}
		if fi, err := f.Stat(); err == nil {
			job.Size = fi.Size()
		}
		f.Close()
		if err := u.cfg.Meta.Update(func(tx *meta.Tx) error { return tx.PutUpload(job) }); err != nil {
			return 0, err
		}
	}
	return len(missing), nil
}
