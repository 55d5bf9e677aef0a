package store

import (
	"time"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
)

// Shredded returns the file IDs of every shredded version.
func (s *Store) Shredded() (map[[16]byte]bool, error) {
	ids := map[[16]byte]bool{}
	err := s.Meta.View(func(tx *meta.Tx) error {
		return tx.EachShredded(func(id [16]byte, _ int64) bool { ids[id] = true; return true })
	})
	return ids, err
}

// RemoveShreddedData deletes the ciphertext files of shredded versions and
// returns how many it found.
func (s *Store) RemoveShreddedData() (int, error) {
	ids, err := s.Shredded()
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	var found []crypto.FileID
	if err := s.ListData(func(id crypto.FileID, _ int64, _ time.Time) {
		if ids[id] {
			found = append(found, id)
		}
	}); err != nil {
		return 0, err
	}
	for _, id := range found {
		if err := s.RemoveData(id); err != nil {
			return 0, err
		}
	}
	return len(found), nil
}
