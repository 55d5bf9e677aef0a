package meta

import (
	"encoding/json"
	"fmt"
)

// Unsettled marks a content version whose ciphertext may not be on disk
// yet: it was saved (so it survives a kill of the daemon), but the group
// commit has not synced its data since. Badger may make a commit durable on
// its own at any time (a memtable flush, the kernel writing back its log),
// so a record alone never proves that the bytes it covers are durable; the
// mark says "verify before trusting". The mark is written in the same
// transaction as the record it qualifies and deleted (settled) only after
// a sync covered the data.
type Unsettled struct {
	FileID [16]byte `json:"file_id"` // the version saved
	Size   uint64   `json:"size"`    // its plaintext size as saved
	// Seq tells two saves of the same version and size apart, so a settle
	// never clears a mark that a later save rewrote.
	Seq uint64 `json:"seq"`
	// Prev is the last settled version, kept (record and ciphertext) until
	// this one is durable, so a machine crash can fall back to it. Nil when
	// there is none: a new file, or a version changed in place after it
	// settled.
	Prev *Prev `json:"prev,omitempty"`
}

// Prev is a settled version that an unsettled one replaced.
type Prev struct {
	Content Content `json:"content"`
	Size    uint64  `json:"size"`
	Mtime   int64   `json:"mtime"`
}

// Unsettled returns the mark of ino, or ErrNotFound.
func (tx *Tx) Unsettled(ino Ino) (Unsettled, error) {
	var u Unsettled
	if err := tx.getJSON(inoKey(tagUnsettled, ino), &u); err != nil {
		return Unsettled{}, fmt.Errorf("unsettled mark of inode %d: %w", ino, err)
	}
	return u, nil
}

// PutUnsettled stores the mark of ino.
func (tx *Tx) PutUnsettled(ino Ino, u Unsettled) error {
	return tx.putJSON(inoKey(tagUnsettled, ino), u)
}

// DeleteUnsettled removes the mark of ino.
func (tx *Tx) DeleteUnsettled(ino Ino) error {
	return tx.delete(inoKey(tagUnsettled, ino))
}

// Unsettleds calls fn for every mark, in inode order, until fn returns false.
func (tx *Tx) Unsettleds(fn func(Ino, Unsettled) bool) error {
	var ino Ino
	return tx.scanKeys([]byte{tagUnsettled}, func(k, v []byte) (bool, error) {
		var u Unsettled
		if err := json.Unmarshal(v, &u); err != nil {
			return false, err
		}
		ino = inoFromKey(k)
		return fn(ino, u), nil
	})
}
