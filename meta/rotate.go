package meta

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Key rotation, the metadata's part. A store being rotated is opened with
// the new value key and the old one as Keys.PrevValues: every value opens,
// every write seals under the new key. Reseal then walks the whole store,
// resealing what the old key sealed and letting the caller rewrite values
// that hold keys themselves (content records' wrapped DEKs); it is
// idempotent, so a rotation cut short is finished by running it again.
// RotateAtRest moves Badger's own encryption to the new key.

// resealBatch and resealBytes bound one Reseal transaction (Badger limits
// a transaction's size; xattr values may be 64 KiB each).
const (
	resealBatch = 500
	resealBytes = 1 << 20
)

// maxResealConflicts bounds the retries of one Reseal; each halves the
// batch, down to one key.
const maxResealConflicts = 10000

// ResealReport says what Reseal did.
type ResealReport struct {
	Seen, Written int
	// Damaged lists the records that open under neither key; they are
	// left as they are (they read as damage before and after).
	Damaged []string
}

// Rewrite returns a value's new plaintext and true, or false to keep it.
// It must be idempotent: Reseal may show it a value twice.
type Rewrite func(key, plain []byte) ([]byte, bool, error)

// Reseal rewrites, under the current value key, every value the previous
// key (Keys.PrevValues) sealed and every value rewrite changes; progress
// (if not nil) is told how many values were looked at so far. It runs
// beside other writers: each batch is one transaction, retried when a
// concurrent write touched it.
func (s *Store) Reseal(rewrite Rewrite, progress func(seen int)) (ResealReport, error) {
	var rep ResealReport
	var after []byte
	limit, conflicts := resealBatch, 0
	for {
		var n, looked, size int
		var last []byte
		var damaged []string
		exhausted := true
		err := s.db.Update(func(txn *badger.Txn) error {
			tx := &Tx{txn: txn, s: s.s}
			n, looked, size, last, damaged, exhausted = 0, 0, 0, nil, nil, true
			it := tx.txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 64})
			defer it.Close()
			it.Rewind()
			if after != nil {
				for it.Seek(after); it.Valid() && string(it.Item().Key()) == string(after); {
					it.Next()
				}
			}
			for ; it.Valid(); it.Next() {
				if looked >= limit || size >= resealBytes {
					exhausted = false
					return nil
				}
				item := it.Item()
				k := item.KeyCopy(nil)
				last = k
				looked++
				if unsealed(k) {
					continue
				}
				v, err := item.ValueCopy(nil)
				if err != nil {
					return err
				}
				plain, old, err := tx.s.openWhich(k, v)
				if err != nil {
					// Damage: neither dropped nor blessed under the new key.
					damaged = append(damaged, describeKey(k))
					continue
				}
				if rewrite != nil {
					np, changed, err := rewrite(k, plain)
					if err != nil {
						return fmt.Errorf("%s: %w", describeKey(k), err)
					}
					if changed {
						plain, old = np, true
					}
				}
				if !old {
					continue
				}
				if err := tx.txn.Set(k, tx.s.seal(k, plain)); err != nil {
					return err
				}
				n++
				size += len(k) + len(plain)
			}
			return nil
		})
		if errors.Is(err, badger.ErrConflict) && conflicts < maxResealConflicts {
			// A writer touched the batch: retry it smaller, so that busy
			// keys are taken a few at a time.
			conflicts++
			limit = max(1, limit/2)
			continue
		}
		if err != nil {
			return rep, fmt.Errorf("reseal metadata: %w", err)
		}
		limit = min(resealBatch, limit*2)
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
		rep.Written += n
		rep.Seen += looked
		rep.Damaged = append(rep.Damaged, damaged...)
		after = last
		if progress != nil {
			progress(rep.Seen)
		}
		if exhausted {
			return rep, s.Sync()
		}
	}
}

// Count returns how many records the store holds (for a progress bar).
func (s *Store) Count() (int, error) {
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	return n, err
}

// RotateAtRest re-encrypts the key registry of the closed store in dir
// from Badger encryption key old to next (Badger's data keys, which the
// registry holds, stay; new tables get new ones). Badger writes the
// registry to a new file and renames it, so a crash leaves it under one
// key or the other; a registry already under next is left alone, and a
// store whose database was never opened has none.
func RotateAtRest(dir string, old, next []byte) error {
	opt := badger.KeyRegistryOptions{
		Dir: dir, EncryptionKey: old, ReadOnly: true,
		EncryptionKeyRotationDuration: badger.DefaultOptions(dir).EncryptionKeyRotationDuration,
	}
	if _, err := os.Stat(filepath.Join(dir, badger.KeyRegistryFileName)); errors.Is(err, os.ErrNotExist) {
		return nil // never opened: the next open creates it under its key
	} else if err != nil {
		return fmt.Errorf("rotate metadata encryption: %w", err)
	}
	kr, err := badger.OpenKeyRegistry(opt)
	if errors.Is(err, badger.ErrEncryptionKeyMismatch) {
		opt.EncryptionKey = next
		if kr, err := badger.OpenKeyRegistry(opt); err == nil {
			kr.Close()
			return nil // done before
		}
		return ErrWrongKey
	}
	if err != nil {
		return fmt.Errorf("rotate metadata encryption: %w", err)
	}
	defer kr.Close()
	opt.EncryptionKey = next
	if err := badger.WriteKeyRegistry(kr, opt); err != nil {
		return fmt.Errorf("rotate metadata encryption: %w", err)
	}
	return nil
}

// RewrapContent is a Rewrite that passes every content record a value
// holds (a file's, a retired version's, an unsettled version's fallback)
// through fn, which changes it in place and reports whether it did.
func RewrapContent(fn func(*Content) (bool, error)) Rewrite {
	return func(key, plain []byte) ([]byte, bool, error) {
		switch key[0] {
		case tagContent:
			return rewriteJSON[Content](plain, func(c *Content) (bool, error) { return fn(c) })
		case tagRetired:
			return rewriteJSON[Retired](plain, func(r *Retired) (bool, error) {
				if r.Content == nil {
					return false, nil
				}
				return fn(r.Content)
			})
		case tagUnsettled:
			return rewriteJSON[Unsettled](plain, func(u *Unsettled) (bool, error) {
				if u.Prev == nil {
					return false, nil
				}
				return fn(&u.Prev.Content)
			})
		}
		return nil, false, nil
	}
}

func rewriteJSON[T any](plain []byte, fn func(*T) (bool, error)) ([]byte, bool, error) {
	var v T
	if err := json.Unmarshal(plain, &v); err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	changed, err := fn(&v)
	if err != nil || !changed {
		return nil, false, err
	}
	b, err := json.Marshal(v)
	return b, err == nil, err
}

// MarkSnapshotsStale records that the bucket's snapshots are sealed under
// a key the store no longer has: the next snapshot starts over, and the
// older ones are deleted with the mark.
func (tx *Tx) MarkSnapshotsStale(since time.Time) error {
	return tx.putJSON([]byte{tagStale}, since.UnixNano())
}

// SnapshotsStale returns the mark's time, or zero when there is none.
func (tx *Tx) SnapshotsStale() (int64, error) {
	var since int64
	err := tx.getJSON([]byte{tagStale}, &since)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	return since, err
}

// ClearSnapshotsStale removes the mark, if it is still the one of since.
func (tx *Tx) ClearSnapshotsStale(since int64) error {
	now, err := tx.SnapshotsStale()
	if err != nil || now != since {
		return err
	}
	return tx.delete([]byte{tagStale})
}

// Advance starts the rotation of an open store to the value key next:
// values sealed under the current key still open, and every value written
// from now on passes through rewrite and is sealed under next. Reseal then
// moves what is stored. A store opened with PrevValues, or advanced once,
// is refused: it still has values under two keys.
func (s *Store) Advance(next []byte, rewrite Rewrite) error {
	cur := s.s.keys.Load()
	if cur.prev != nil {
		return errors.New("the metadata is still being moved from an earlier key")
	}
	aead, err := newValueAEAD(next)
	if err != nil {
		return err
	}
	s.s.rewrite.Store(&rewrite)
	s.s.keys.Store(&sealKeys{aead: aead, prev: cur.aead})
	return nil
}

// RotateAtRestOpen is RotateAtRest on the open store: it rewrites Badger's
// key registry under next beside the running database, which, with
// dataKeyLifetime, has every data key it will use in memory and never
// writes the file again. The next open takes next.
func (s *Store) RotateAtRestOpen(old, next []byte) error {
	if err := s.db.Sync(); err != nil {
		return err
	}
	return RotateAtRest(s.dir, old, next)
}
