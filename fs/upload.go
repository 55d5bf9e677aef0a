package fs

import (
	"time"

	"github.com/sealfs/sealfs/meta"
)

// sealLocked queues the open version for upload at its last close. It runs
// in the transaction that saves the file, so a crash either keeps both the
// final size and the job or neither. A version from an earlier open was not
// changed (a change would have made a new one) and is queued already.
func (n *node) sealLocked(tx *meta.Tx, in *meta.Inode) error {
	o := n.open
	if n.fsys.upload == nil || !o.started {
		return nil
	}
	fi, err := o.data.Stat()
	if err != nil {
		return err
	}
	now := time.Now()
	o.rec.Sync, o.rec.SyncDetail = meta.SyncPending, ""
	if err := tx.PutContent(n.ino, o.rec); err != nil {
		return err
	}
	return tx.PutUpload(meta.Upload{
		Ino: in.Ino, FileID: o.rec.FileID, Size: fi.Size(),
		Due: now.Add(n.fsys.upload.Quiet).UnixNano(), Queued: now.UnixNano(),
	})
}

// retireVersion schedules the bucket copy of a superseded or deleted version
// for deletion once the retention period is over.
func (f *FS) retireVersion(tx *meta.Tx, id [16]byte) error {
	if f.upload == nil {
		return nil
	}
	return tx.PutDeletion(meta.Deletion{FileID: id, After: time.Now().Add(f.upload.Retention).UnixNano()})
}
