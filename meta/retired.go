package meta

import (
	"encoding/json"
	"errors"
	"time"
)

// Retired is a version no file points at any more: replaced by a newer one
// or deleted with its file. Its bucket object is kept until After (the
// retention period), and the record with it: that is the trash and the
// undo. The record holds what reading the version back needs (its keys,
// its size) and what bringing it back needs (its attributes, its last
// path), because the inode and its names may be gone.
type Retired struct {
	FileID [16]byte `json:"file_id"`
	After  int64    `json:"after"` // unix ns: the bucket object goes from then on

	Ino     Ino    `json:"ino,omitempty"`     // the file it was a version of
	At      int64  `json:"at,omitempty"`      // unix ns: when it was replaced or deleted
	Deleted bool   `json:"deleted,omitempty"` // retired by deleting the file, not by a newer version
	Path    string `json:"path,omitempty"`    // the file's last path, when it was deleted ("" when unknown)
	// Content is the version's record as it was retired; nil for a version
	// a crash cut short, which cannot be brought back.
	Content *Content `json:"content,omitempty"`
	// Moved: not a version but a plain file's bucket copy left under the
	// file's old path by a rename; only the object is retired.
	Moved bool   `json:"moved,omitempty"`
	Size  uint64 `json:"size,omitempty"` // plaintext bytes
	Mtime int64  `json:"mtime,omitempty"`
	Mode  uint32 `json:"mode,omitempty"`
	Uid   uint32 `json:"uid,omitempty"`
	Gid   uint32 `json:"gid,omitempty"`
}

// Restorable reports whether r holds what reading the version back needs.
func (r Retired) Restorable() bool {
	return !r.Moved && r.Content != nil && len(r.Content.WrappedDEK) > 0
}

func retiredKey(after int64, id [16]byte) []byte {
	k := uploadKey(after, id)
	k[0] = tagRetired
	return k
}

// PutRetired records a retired version.
func (tx *Tx) PutRetired(r Retired) error {
	return tx.putJSON(retiredKey(r.After, r.FileID), r)
}

// DeleteRetired removes the record of a retired version.
func (tx *Tx) DeleteRetired(r Retired) error {
	return tx.delete(retiredKey(r.After, r.FileID))
}

// DueRetired returns the retired versions whose retention is over.
func (tx *Tx) DueRetired(now time.Time) ([]Retired, error) {
	var out []Retired
	err := tx.EachRetired(func(r Retired) bool {
		if r.After > now.UnixNano() {
			return false
		}
		out = append(out, r)
		return true
	})
	return out, err
}

// EachRetired calls fn for every retired version, oldest retention end
// first, until fn returns false.
func (tx *Tx) EachRetired(fn func(Retired) bool) error {
	return tx.scan([]byte{tagRetired}, func(v []byte) (bool, error) {
		var r Retired
		if err := json.Unmarshal(v, &r); err != nil {
			return false, err
		}
		return fn(r), nil
	})
}

// RekeyPlain points the readable bucket copy of plain file ino at newKey,
// its new path's (a rename): the copy under the old key is retired until
// after (then deleted, unless a live file owns that key again), and the
// version is queued for upload under newKey, due at due. It reports
// whether anything changed: encrypted content, and plain content already
// at newKey or not yet given a key, stay as they are.
func (tx *Tx) RekeyPlain(ino Ino, newKey string, due, after time.Time) (bool, error) {
	c, err := tx.Content(ino)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil || c.Encrypted || c.Object == "" || c.Object == newKey {
		return false, err
	}
	if c.Sync == SyncSynced || c.Sync == SyncUploading {
		old := c // its copy may be under the old key: retire that
		if err := tx.PutRetired(Retired{FileID: c.FileID, After: after.UnixNano(), Ino: ino, At: time.Now().UnixNano(), Content: &old, Moved: true}); err != nil {
			return false, err
		}
	}
	sent := c.Sync == SyncSynced || c.Sync == SyncUploading
	c.Object, c.Sync, c.SyncDetail = newKey, SyncPending, ""
	if err := tx.PutContent(ino, c); err != nil {
		return false, err
	}
	if !sent {
		return false, nil // the queued job reads the key when it runs
	}
	return true, tx.PutUpload(Upload{Ino: ino, FileID: c.FileID, Due: due.UnixNano(), Queued: time.Now().UnixNano()})
}

// Rekey is a pending move of the readable bucket copies of the plain files
// under a renamed directory: their keys follow the directory's new path.
// A later rename of the directory replaces the record.
type Rekey struct {
	Dir  Ino    `json:"dir"`
	Path string `json:"path"` // the directory's path after the rename
	Seq  int64  `json:"seq"`  // unix ns of the rename; tells a replaced record
}

// PutRekey records r.
func (tx *Tx) PutRekey(r Rekey) error { return tx.putJSON(inoKey(tagRekey, r.Dir), r) }

// DeleteRekey removes the record of directory r.Dir if it is still r.
func (tx *Tx) DeleteRekey(r Rekey) error {
	var cur Rekey
	err := tx.getJSON(inoKey(tagRekey, r.Dir), &cur)
	if errors.Is(err, ErrNotFound) || err == nil && cur.Seq != r.Seq {
		return nil
	}
	if err != nil {
		return err
	}
	return tx.delete(inoKey(tagRekey, r.Dir))
}

// Rekeys returns the pending rekey records.
func (tx *Tx) Rekeys() ([]Rekey, error) {
	var out []Rekey
	err := tx.scan([]byte{tagRekey}, func(v []byte) (bool, error) {
		var r Rekey
		if err := json.Unmarshal(v, &r); err != nil {
			return false, err
		}
		out = append(out, r)
		return true, nil
	})
	return out, err
}
