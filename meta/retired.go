package meta

import (
	"encoding/json"
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
	Size    uint64   `json:"size,omitempty"` // plaintext bytes
	Mtime   int64    `json:"mtime,omitempty"`
	Mode    uint32   `json:"mode,omitempty"`
	Uid     uint32   `json:"uid,omitempty"`
	Gid     uint32   `json:"gid,omitempty"`
}

// Restorable reports whether r holds what reading the version back needs.
func (r Retired) Restorable() bool { return r.Content != nil && len(r.Content.WrappedDEK) > 0 }

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
