package version

import (
	"errors"
	"sync"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
)

// groupCommit batches durability work. One syncfs(2) of the store's disk
// replaces an fsync per file (an rsync of ten thousand files costs one call
// a second); then the versions that sync covered are settled, metadata is
// synced, and only then are replaced or deleted data files removed.
//
// A saved record is never trusted on its own: Badger may make a commit
// durable before the data it describes (a memtable flush, the kernel
// writing back its log), so every save also writes an unsettled mark, and
// only a sync that covered the data clears it. After a crash, Recover checks
// the versions still marked and falls back to the last settled one.
type groupCommit struct {
	mu      sync.Mutex
	written bool
	remove  []crypto.FileID
}

func (k *Keeper) markWritten() {
	k.commit.mu.Lock()
	k.commit.written = true
	k.commit.mu.Unlock()
}

// removeLater deletes data file id after the next metadata sync. The data
// that replaced it is synced first too.
func (k *Keeper) removeLater(id crypto.FileID) {
	k.commit.mu.Lock()
	k.commit.remove = append(k.commit.remove, id)
	k.commit.written = true
	k.commit.mu.Unlock()
}

// Commit makes everything saved so far durable, settles it, and removes the
// data files that no record points at any more.
func (k *Keeper) Commit() error {
	// Listed before the data sync: each mark was committed after the data
	// it covers was written, so the sync below covers it.
	marks, err := k.listMarks()
	if err != nil {
		return err
	}
	k.commit.mu.Lock()
	written, remove := k.commit.written, k.commit.remove
	k.commit.written, k.commit.remove = false, nil
	k.commit.mu.Unlock()
	err = k.commitSynced(written || len(marks) > 0, marks, &remove)
	if err != nil {
		k.commit.mu.Lock()
		k.commit.remove = append(k.commit.remove, remove...) // retry next time
		k.commit.written = k.commit.written || written
		k.commit.mu.Unlock()
		return err
	}
	var errs []error
	for _, id := range remove {
		errs = append(errs, k.cfg.Data.RemoveData(id))
	}
	return errors.Join(errs...)
}

// commitSynced syncs data (when syncData), settles marks and syncs
// metadata. The fallback versions of settled marks join remove.
func (k *Keeper) commitSynced(syncData bool, marks []markedVersion, remove *[]crypto.FileID) error {
	if syncData {
		if err := k.cfg.Data.SyncAll(); err != nil {
			return err
		}
	}
	prevs, err := k.settle(marks)
	if err != nil {
		return err
	}
	*remove = append(*remove, prevs...)
	if len(*remove) > 0 {
		return k.cfg.Meta.Sync()
	}
	return k.cfg.Meta.SyncIfDirty()
}

type markedVersion struct {
	ino  meta.Ino
	mark meta.Unsettled
}

func (k *Keeper) listMarks() ([]markedVersion, error) {
	var marks []markedVersion
	err := k.cfg.Meta.View(func(tx *meta.Tx) error {
		return tx.Unsettleds(func(ino meta.Ino, u meta.Unsettled) bool {
			marks = append(marks, markedVersion{ino, u})
			return true
		})
	})
	return marks, err
}

// settleBatch bounds one settle transaction (Badger limits a transaction's size).
const settleBatch = 1000

// settle clears the marks that no save rewrote since they were listed, and
// returns the fallback versions they kept, to be removed once that is
// durable.
func (k *Keeper) settle(marks []markedVersion) ([]crypto.FileID, error) {
	var prevs []crypto.FileID
	for len(marks) > 0 {
		batch := marks[:min(len(marks), settleBatch)]
		marks = marks[len(batch):]
		var got []crypto.FileID
		err := k.cfg.Meta.Update(func(tx *meta.Tx) error {
			got = got[:0]
			for _, mv := range batch {
				id, err := k.settleMark(tx, mv.ino, func(u meta.Unsettled) bool { return u.Seq == mv.mark.Seq })
				if err != nil {
					return err
				}
				if id != nil {
					got = append(got, *id)
				}
			}
			return nil
		})
		if err != nil {
			return prevs, err
		}
		prevs = append(prevs, got...)
	}
	return prevs, nil
}

// settleOne settles the mark of ino if it is for version id, whose data the
// caller made durable.
func (k *Keeper) settleOne(ino meta.Ino, id [16]byte) error {
	var prev *crypto.FileID
	err := k.cfg.Meta.Update(func(tx *meta.Tx) (err error) {
		prev, err = k.settleMark(tx, ino, func(u meta.Unsettled) bool { return u.FileID == id })
		return err
	})
	if err == nil && prev != nil {
		k.removeLater(*prev)
	}
	return err
}

// settleMark deletes the mark of ino when match approves it, retires the
// fallback version it kept and returns that version's file ID.
func (k *Keeper) settleMark(tx *meta.Tx, ino meta.Ino, match func(meta.Unsettled) bool) (*crypto.FileID, error) {
	u, err := tx.Unsettled(ino)
	if errors.Is(err, meta.ErrNotFound) {
		return nil, nil
	}
	if err != nil || !match(u) {
		return nil, err
	}
	if err := tx.DeleteUnsettled(ino); err != nil {
		return nil, err
	}
	if u.Prev == nil {
		return nil, nil
	}
	in, err := tx.Inode(ino)
	if err != nil {
		return nil, err
	}
	if err := k.retire(tx, retiredVersion(in, u.Prev.Content, u.Prev.Size, u.Prev.Mtime)); err != nil {
		return nil, err
	}
	id := crypto.FileID(u.Prev.Content.FileID)
	return &id, nil
}
