package uploader

import (
	"errors"
	"syscall"
	"time"

	"github.com/sealfs/sealfs/meta"
)

// rekeyBatch bounds the files one transaction rekeys: a renamed directory
// may hold any number of them.
const rekeyBatch = 256

// applyRekeys moves the readable bucket copies of the plain files under
// renamed directories (meta.Rekey) to their new paths: each is queued for
// upload under its new key and the old key is retired. One run at a time:
// a call while one runs returns at once, unless wait.
func (u *Uploader) applyRekeys(wait bool) {
	if wait {
		u.rekeying.Lock()
	} else if !u.rekeying.TryLock() {
		return
	}
	defer u.rekeying.Unlock()
	var pending []meta.Rekey
	if err := u.cfg.Meta.View(func(tx *meta.Tx) (err error) {
		pending, err = tx.Rekeys()
		return err
	}); err != nil {
		u.noteErr(err)
		return
	}
	for _, r := range pending {
		if err := u.rekeyTree(r); err != nil {
			u.noteErr(err)
			continue
		}
		if err := u.cfg.Meta.Update(func(tx *meta.Tx) error { return tx.DeleteRekey(r) }); err != nil {
			u.noteErr(err)
		}
	}
}

// rekeyTree rekeys every plain file under directory r.Dir, now at r.Path.
func (u *Uploader) rekeyTree(r meta.Rekey) error {
	type placed struct {
		ino  meta.Ino
		path string
	}
	dirs := []placed{{r.Dir, r.Path}}
	seen := map[meta.Ino]bool{}
	queued := false
	for len(dirs) > 0 {
		dir := dirs[0]
		dirs = dirs[1:]
		if seen[dir.ino] {
			continue // a cycle only tampering could make
		}
		seen[dir.ino] = true
		var files []placed
		err := u.cfg.Meta.View(func(tx *meta.Tx) error {
			return tx.Entries(dir.ino, func(e meta.Entry) bool {
				p := dir.path + "/" + e.Name
				switch e.Mode {
				case syscall.S_IFDIR:
					dirs = append(dirs, placed{e.Ino, p})
				case syscall.S_IFREG:
					files = append(files, placed{e.Ino, p})
				}
				return true
			})
		})
		if err != nil && !errors.Is(err, meta.ErrDamaged) {
			return err
		}
		for len(files) > 0 {
			batch := files[:min(rekeyBatch, len(files))]
			files = files[len(batch):]
			err := u.cfg.Meta.Update(func(tx *meta.Tx) error {
				now := time.Now()
				for _, f := range batch {
					q, err := tx.RekeyPlain(f.ino, meta.PlainObject(f.path), now, now.Add(u.cfg.Retention))
					if err != nil {
						return err
					}
					queued = queued || q
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	if queued {
		u.Wake()
	}
	return nil
}
