package meta

import (
	"fmt"
	"io"
)

// Load adds every record of a Backup to the store, which should be empty:
// it is how a store is rebuilt from a snapshot.
func (s *Store) Load(r io.Reader) error {
	if err := s.db.Load(r, 256); err != nil {
		return fmt.Errorf("load metadata backup: %w", err)
	}
	s.mu.Lock()
	s.dirty = true
	s.mu.Unlock()
	return nil
}
