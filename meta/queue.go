package meta

import (
	"encoding/binary"
	"encoding/json"
	"errors"

	badger "github.com/dgraph-io/badger/v4"
)

// Upload is one queued upload of a sealed content version. Jobs are kept in
// due-time order, so a restart resumes them where the last mount left off.
type Upload struct {
	Ino      Ino      `json:"ino"`
	FileID   [16]byte `json:"file_id"`
	Size     int64    `json:"size"`     // ciphertext bytes
	Due      int64    `json:"due"`      // unix ns: not before (quiet period, backoff)
	Queued   int64    `json:"queued"`   // unix ns: first queued, for the oldest-pending age
	Attempts int      `json:"attempts"` // failed attempts so far
	LastErr  string   `json:"last_err,omitempty"`
}

func uploadKey(due int64, id [16]byte) []byte {
	k := make([]byte, 1+8+16)
	k[0] = tagUpload
	binary.BigEndian.PutUint64(k[1:], uint64(due))
	copy(k[9:], id[:])
	return k
}

// PutUpload queues u.
func (tx *Tx) PutUpload(u Upload) error {
	return tx.putJSON(uploadKey(u.Due, u.FileID), u)
}

// DeleteUpload removes u (as it was queued, same Due) from the queue.
func (tx *Tx) DeleteUpload(u Upload) error {
	return tx.delete(uploadKey(u.Due, u.FileID))
}

// Uploads calls fn for queued uploads in due order until fn returns false.
func (tx *Tx) Uploads(fn func(Upload) bool) error {
	return tx.scan([]byte{tagUpload}, func(v []byte) (bool, error) {
		var u Upload
		if err := json.Unmarshal(v, &u); err != nil {
			return false, err
		}
		return fn(u), nil
	})
}

// scan calls fn with each value under prefix in key order until it returns false.
func (tx *Tx) scan(prefix []byte, fn func(v []byte) (bool, error)) error {
	return tx.scanKeys(prefix, func(_, v []byte) (bool, error) { return fn(v) })
}

// scanKeys is scan with each record's key.
func (tx *Tx) scanKeys(prefix []byte, fn func(k, v []byte) (bool, error)) error {
	it := tx.txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		var more bool
		k := it.Item().Key()
		v, err := tx.openItem(it.Item())
		if err == nil {
			more, err = fn(k, v)
		}
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// HasUpload reports whether u (as queued, same Due) is still in the queue.
func (tx *Tx) HasUpload(u Upload) (bool, error) {
	_, err := tx.txn.Get(uploadKey(u.Due, u.FileID))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}
