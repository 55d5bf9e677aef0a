package version

import (
	"time"

	"github.com/sealfs/sealfs/meta"
)

// queueUpload saves the record as pending and queues the version for
// upload after the quiet period. It runs in the transaction that saves the
// file at its last close, so a crash keeps both the final size and the job
// or neither.
func (f *File) queueUpload(tx *meta.Tx) error {
	fi, err := f.data.Stat()
	if err != nil {
		return err
	}
	now := time.Now()
	f.rec.Sync, f.rec.SyncDetail = meta.SyncPending, ""
	if err := tx.PutContent(f.ino, f.rec); err != nil {
		return err
	}
	return tx.PutUpload(meta.Upload{
		Ino: f.ino, FileID: f.rec.FileID, Size: fi.Size(),
		Due: now.Add(f.k.cfg.Upload.Quiet).UnixNano(), Queued: now.UnixNano(),
	})
}

// retireVersion schedules the bucket copy of a superseded or deleted version
// for deletion once the retention period is over.
func (k *Keeper) retireVersion(tx *meta.Tx, id [16]byte) error {
	if k.cfg.Upload == nil {
		return nil
	}
	return tx.PutDeletion(meta.Deletion{FileID: id, After: time.Now().Add(k.cfg.Upload.Retention).UnixNano()})
}
