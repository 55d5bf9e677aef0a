package version

import (
	"errors"

	"github.com/sealfs/sealfs/meta"
)

// Save writes buffered ciphertext and saves size and mtime, so the file
// survives a kill of the daemon (close(2) runs it).
func (f *File) Save() error { return f.save(false) }

// save is Save; with seal (the last close) it also queues a version this
// open made for upload, in the same transaction.
func (f *File) save(seal bool) error {
	if f.state == Closed || f.state == Broken {
		return nil // nothing was written: writes fail
	}
	if err := f.content.Flush(); err != nil {
		return err
	}
	seal = seal && f.state.started() && f.k.cfg.Upload != nil
	if !f.unsaved && !seal && f.state != Copying {
		return nil
	}
	var superseded *meta.Content
	err := f.k.cfg.Meta.Update(func(tx *meta.Tx) error {
		superseded = nil
		in, err := tx.Inode(f.ino)
		if err != nil {
			return err
		}
		if f.state == Copying || f.unsaved {
			if superseded, err = f.putMark(tx, in); err != nil {
				return err
			}
		}
		if f.unsaved {
			in.Size = uint64(f.content.Size())
			in.Mtime, in.Ctime = f.mtime, f.mtime
			if err := tx.PutInode(in); err != nil {
				return err
			}
		}
		if seal {
			return f.queueUpload(tx)
		}
		return tx.PutContent(f.ino, f.rec)
	})
	if err != nil {
		return err
	}
	f.k.afterSupersede(superseded)
	if f.state == Copying {
		f.state, f.old = Fresh, nil
	}
	f.unsaved = false
	f.k.markWritten()
	if seal && f.k.cfg.Upload.Queued != nil {
		f.k.cfg.Upload.Queued()
	}
	return nil
}

// putMark records that the version being saved is not durable yet. in is
// the inode as saved before this save.
func (f *File) putMark(tx *meta.Tx, in meta.Inode) (superseded *meta.Content, err error) {
	var mark meta.Unsettled
	if f.state == Copying {
		mark, superseded, err = f.k.markReplacing(tx, f.ino, *f.old, in)
	} else {
		mark, err = tx.Unsettled(f.ino)
		if errors.Is(err, meta.ErrNotFound) {
			// A settled version changed in place: there is no older one to
			// fall back to.
			mark, err = meta.Unsettled{}, nil
		}
	}
	if err != nil {
		return nil, err
	}
	mark.FileID, mark.Size, mark.Seq = f.rec.FileID, uint64(f.content.Size()), f.k.nextSeq()
	return superseded, tx.PutUnsettled(f.ino, mark)
}

// markReplacing starts the mark of a new version of ino that replaces old,
// the version the record points at (in is its inode). A settled old one
// becomes the fallback; an unsettled one is superseded for good, and the
// mark keeps the fallback it had.
func (k *Keeper) markReplacing(tx *meta.Tx, ino meta.Ino, old meta.Content, in meta.Inode) (meta.Unsettled, *meta.Content, error) {
	mark, err := tx.Unsettled(ino)
	if errors.Is(err, meta.ErrNotFound) {
		prev := &meta.Prev{Content: old, Size: in.Size, Mtime: in.Mtime}
		return meta.Unsettled{Prev: prev}, nil, nil
	}
	if err != nil {
		return meta.Unsettled{}, nil, err
	}
	if err := k.retire(tx, retiredVersion(in, old, in.Size, in.Mtime)); err != nil {
		return meta.Unsettled{}, nil, err
	}
	return mark, &old, nil
}

// afterSupersede removes the ciphertext of a version no record points at
// any more, once that is durable.
func (k *Keeper) afterSupersede(c *meta.Content) {
	if c != nil {
		k.removeLater(c.FileID)
	}
}

// Fsync makes the content and its metadata durable on disk.
func (f *File) Fsync() error {
	if err := f.Err(); err != nil {
		return err
	}
	if err := f.save(false); err != nil {
		return err
	}
	if err := f.data.Sync(); err != nil {
		return err
	}
	// The data is durable: the version can be trusted without checking.
	if err := f.k.settleOne(f.ino, f.rec.FileID); err != nil {
		return err
	}
	if err := f.k.cfg.Meta.Sync(); err != nil {
		return err
	}
	if f.state == Fresh {
		f.state = Durable
	}
	return nil
}

// close saves the file at its last release, seals its version and closes
// the ciphertext.
func (f *File) close() error {
	err := f.save(true)
	if f.data != nil {
		if cerr := f.data.Close(); err == nil {
			err = cerr
		}
	}
	f.state, f.rec, f.data, f.content = Closed, meta.Content{}, nil, nil
	f.old, f.damage, f.unsaved, f.mtime, f.where = nil, nil, false, 0, nil
	return err
}
