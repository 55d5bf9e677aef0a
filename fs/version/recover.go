package version

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
)

// Recovery says what Recover did.
type Recovery struct {
	// Restored lists the files whose newest version was lost in a crash
	// and that are back at their previous, settled version.
	Restored []meta.Ino
	// Emptied lists the files whose only version was lost in a crash (new
	// files, or files changed in place): they are now empty.
	Emptied []meta.Ino
	// Settled counts versions written before the last mount ended that
	// were found complete.
	Settled int
	// RemovedData counts ciphertext files no record pointed at: versions
	// being written when the daemon or the machine died.
	RemovedData int
}

// Recover makes the store whole after the last mount ended, however it
// ended. It runs before anything is opened. Every version still marked
// unsettled is checked: a complete one is made durable and settled; one a
// machine crash cut short falls back to the settled version before it, or
// to an empty file when there is none, so that no file reads EIO because
// of a crash. Then ciphertext files no record points at are removed.
func (k *Keeper) Recover() (Recovery, error) {
	var rep Recovery
	marks, err := k.listMarks()
	if err != nil {
		return rep, fmt.Errorf("list unsettled versions: %w", err)
	}
	for _, mv := range marks {
		if err := k.recoverOne(mv, &rep); err != nil {
			return rep, fmt.Errorf("recover inode %d: %w", mv.ino, err)
		}
	}
	// A kill of the daemon leaves complete versions in the page cache only.
	left, err := k.listMarks()
	if err != nil {
		return rep, err
	}
	var remove []crypto.FileID
	if err := k.commitSynced(len(left) > 0, left, &remove); err != nil {
		return rep, err
	}
	for _, id := range remove {
		if err := k.cfg.Data.RemoveData(id); err != nil {
			return rep, err
		}
	}
	n, err := k.removeUnreferencedData()
	rep.RemovedData = n
	return rep, err
}

// recoverOne checks one unsettled version and repairs its file if needed.
func (k *Keeper) recoverOne(mv markedVersion, rep *Recovery) error {
	var in meta.Inode
	var c meta.Content
	err := k.cfg.Meta.View(func(tx *meta.Tx) (err error) {
		if in, err = tx.Inode(mv.ino); err != nil {
			return err
		}
		c, err = tx.Content(mv.ino)
		return err
	})
	if errors.Is(err, meta.ErrNotFound) {
		return k.cfg.Meta.Update(func(tx *meta.Tx) error { return tx.DeleteUnsettled(mv.ino) })
	}
	if err != nil {
		return err
	}
	if c.FileID == mv.mark.FileID && k.verify(c, in.Size) == nil {
		rep.Settled++
		return nil
	}
	if p := mv.mark.Prev; p != nil && k.verify(p.Content, p.Size) == nil {
		rep.Restored = append(rep.Restored, mv.ino)
		return k.restorePrev(mv.ino, c, *p)
	}
	rep.Emptied = append(rep.Emptied, mv.ino)
	return k.resetEmpty(mv.ino, c)
}

// verify reports whether the ciphertext of c is complete and authentic at size.
func (k *Keeper) verify(c meta.Content, size uint64) error {
	data, _, err := k.openVersion(context.Background(), c, size)
	if err != nil {
		return err
	}
	return data.Close()
}

// restorePrev points ino's record back at its settled version p; lost, the
// version that replaced it, goes to the bucket's trash.
func (k *Keeper) restorePrev(ino meta.Ino, lost meta.Content, p meta.Prev) error {
	return k.cfg.Meta.Update(func(tx *meta.Tx) error {
		in, err := tx.Inode(ino)
		if err != nil {
			return err
		}
		in.Size, in.Mtime, in.Ctime = p.Size, p.Mtime, time.Now().UnixNano()
		if err := k.retire(tx, cutShort(ino, lost)); err != nil {
			return err
		}
		if err := tx.PutContent(ino, p.Content); err != nil {
			return err
		}
		if err := tx.DeleteUnsettled(ino); err != nil {
			return err
		}
		return tx.PutInode(in)
	})
}

// resetEmpty gives ino a new, empty version in place of lost.
func (k *Keeper) resetEmpty(ino meta.Ino, lost meta.Content) error {
	rec, data, _, err := k.newContent(!lost.Encrypted)
	if err != nil {
		return err
	}
	defer data.Close()
	rec.Version = lost.Version + 1
	return k.cfg.Meta.Update(func(tx *meta.Tx) error {
		in, err := tx.Inode(ino)
		if err != nil {
			return err
		}
		now := time.Now().UnixNano()
		in.Size, in.Mtime, in.Ctime = 0, now, now
		if err := k.retire(tx, cutShort(ino, lost)); err != nil {
			return err
		}
		if err := tx.PutContent(ino, rec); err != nil {
			return err
		}
		if err := tx.PutUnsettled(ino, meta.Unsettled{FileID: rec.FileID, Seq: k.nextSeq()}); err != nil {
			return err
		}
		return tx.PutInode(in)
	})
}

// removeUnreferencedData deletes ciphertext files no record points at: a
// version that was being written (a copy, or a file whose metadata never
// committed) when the daemon or the machine died.
func (k *Keeper) removeUnreferencedData() (int, error) {
	used := map[crypto.FileID]bool{}
	err := k.cfg.Meta.View(func(tx *meta.Tx) error {
		if err := tx.Contents(func(_ meta.Ino, c meta.Content) bool {
			used[c.FileID] = true
			return true
		}); err != nil {
			return err
		}
		return tx.Unsettleds(func(_ meta.Ino, u meta.Unsettled) bool {
			if u.Prev != nil {
				used[u.Prev.Content.FileID] = true
			}
			return true
		})
	})
	if err != nil {
		return 0, fmt.Errorf("list content records: %w", err)
	}
	var unused []crypto.FileID
	if err := k.cfg.Data.ListData(func(id crypto.FileID, _ int64, _ time.Time) {
		if !used[id] {
			unused = append(unused, id)
		}
	}); err != nil {
		return 0, fmt.Errorf("list data files: %w", err)
	}
	for _, id := range unused {
		if err := k.cfg.Data.RemoveData(id); err != nil {
			return 0, err
		}
	}
	return len(unused), nil
}
