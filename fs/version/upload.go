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
	f.rec.Object, f.rec.SHA256 = "", ""
	if !f.rec.Encrypted && f.where != nil {
		if p := f.where(); p != "" {
			f.rec.Object = meta.PlainObject(p)
		}
	}
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

// Renamed follows a rename in transaction tx: the readable bucket copy of
// plain file ino moves to its new path p (re-uploaded there; the old one is
// retired), and for a directory the same is recorded for every plain file
// under it, which the uploader does in the background. It reports whether
// an upload was queued (then call Wake after the commit).
func (k *Keeper) Renamed(tx *meta.Tx, ino meta.Ino, isDir bool, p string) (bool, error) {
	if k.cfg.Upload == nil {
		return false, nil
	}
	now := time.Now()
	if isDir {
		// The uploader walks the directory; waking it starts the walk.
		return true, tx.PutRekey(meta.Rekey{Dir: ino, Path: p, Seq: now.UnixNano()})
	}
	return tx.RekeyPlain(ino, meta.PlainObject(p), now.Add(k.cfg.Upload.Quiet), now.Add(k.cfg.Upload.Retention))
}

// Wake tells the uploader that uploads were queued.
func (k *Keeper) Wake() {
	if k.cfg.Upload != nil && k.cfg.Upload.Queued != nil {
		k.cfg.Upload.Queued()
	}
}
