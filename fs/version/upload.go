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

// retire records a superseded or deleted version (meta.Retired): its bucket
// copy is deleted once the retention period is over, and until then it can
// be listed and brought back. Without a bucket nothing is kept.
func (k *Keeper) retire(tx *meta.Tx, r meta.Retired) error {
	if k.cfg.Upload == nil {
		return nil
	}
	now := time.Now()
	r.At, r.After = now.UnixNano(), now.Add(k.cfg.Upload.Retention).UnixNano()
	return tx.PutRetired(r)
}

// retiredVersion describes version c of file in, of size bytes modified at
// mtime (a fallback version's own, not the inode's).
func retiredVersion(in meta.Inode, c meta.Content, size uint64, mtime int64) meta.Retired {
	return meta.Retired{
		FileID: c.FileID, Ino: in.Ino, Content: &c, Size: size, Mtime: mtime,
		Mode: in.Mode, Uid: in.Uid, Gid: in.Gid,
	}
}

// cutShort describes a version a crash cut short: it cannot be brought
// back, but a copy of it may have reached the bucket.
func cutShort(ino meta.Ino, c meta.Content) meta.Retired {
	return meta.Retired{FileID: c.FileID, Ino: ino}
}
