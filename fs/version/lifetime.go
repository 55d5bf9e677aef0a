package version

import (
	"errors"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
)

// Create makes the content of new regular file ino, a new, empty version
// (plain content when plain), and returns it open for one handle. place
// records the inode (and its name) in the same transaction as the content
// record.
func (k *Keeper) Create(ino meta.Ino, plain bool, place func(*meta.Tx) error) (*File, error) {
	rec, data, content, err := k.newContent(plain)
	if err != nil {
		return nil, err
	}
	err = k.cfg.Meta.Update(func(tx *meta.Tx) error {
		if err := place(tx); err != nil {
			return err
		}
		if err := tx.PutContent(ino, rec); err != nil {
			return err
		}
		return tx.PutUnsettled(ino, meta.Unsettled{FileID: rec.FileID, Seq: k.nextSeq()})
	})
	if err != nil {
		data.Close()
		k.cfg.Data.RemoveData(rec.FileID)
		return nil, err
	}
	f := k.ref(ino)
	f.Lock()
	f.state, f.rec, f.data, f.content = Fresh, rec, data, content
	f.Unlock()
	return f, nil
}

// Destroy deletes inode ino, which has no names left and no open handle,
// with its content; the ciphertext goes once the deletion is durable.
func (k *Keeper) Destroy(ino meta.Ino) error {
	var gone []crypto.FileID
	err := k.cfg.Meta.Update(func(tx *meta.Tx) error {
		gone = gone[:0]
		var retired []meta.Retired
		in, err := tx.Inode(ino)
		if errors.Is(err, meta.ErrNotFound) {
			return tx.DeleteInode(ino) // only marks are left
		}
		if err != nil {
			return err
		}
		c, err := tx.Content(ino)
		if err == nil {
			retired = append(retired, retiredVersion(in, c, in.Size, in.Mtime))
		} else if !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		u, err := tx.Unsettled(ino)
		if err == nil && u.Prev != nil {
			retired = append(retired, retiredVersion(in, u.Prev.Content, u.Prev.Size, u.Prev.Mtime))
		} else if err != nil && !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		lastPath, err := tx.OrphanPath(ino)
		if err != nil {
			return err
		}
		for _, r := range retired {
			r.Deleted, r.Path = true, lastPath
			if err := k.retire(tx, r); err != nil {
				return err
			}
			gone = append(gone, crypto.FileID(r.FileID))
		}
		return tx.DeleteInode(ino)
	})
	if err != nil {
		return err
	}
	for _, id := range gone {
		k.removeLater(id)
	}
	return nil
}

// InheritReplaced is called in the transaction of a rename that replaced
// regular file old (now without names or handles) by file ino. When ino's
// version is not durable yet and had nothing to fall back to (a new file:
// rsync's temporary file), old's settled version becomes its fallback and
// old is deleted here, its ciphertext kept until ino's version settles. So
// a crash right after rsync or a save-by-rename replaced a backup finds the
// old backup, not an empty file. It reports whether it took old over; if
// not, the caller destroys old as usual.
func (k *Keeper) InheritReplaced(tx *meta.Tx, ino, old meta.Ino) (bool, error) {
	mark, err := tx.Unsettled(ino)
	if errors.Is(err, meta.ErrNotFound) {
		return false, nil
	}
	if err != nil || mark.Prev != nil {
		return false, err
	}
	if _, err := tx.Unsettled(old); !errors.Is(err, meta.ErrNotFound) {
		return false, err // old's own version is not settled: no fallback
	}
	in, err := tx.Inode(old)
	if err != nil {
		return false, err
	}
	c, err := tx.Content(old)
	if errors.Is(err, meta.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	mark.Prev = &meta.Prev{Content: c, Size: in.Size, Mtime: in.Mtime}
	if err := tx.PutUnsettled(ino, mark); err != nil {
		return false, err
	}
	return true, tx.DeleteInode(old)
}
