package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/keyslot"
	"github.com/sealfs/sealfs/meta"
)

// ErrNotEmpty: a store is only ever restored into a new or empty directory.
var ErrNotEmpty = errors.New("directory is not empty; recover into a new one")

// CheckEmpty returns ErrNotEmpty unless dir is missing or an empty directory.
func CheckEmpty(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store directory: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s: %w", dir, ErrNotEmpty)
	}
	return nil
}

// Restore makes a store in the new or empty directory dir for a store that
// existed elsewhere: cfg names it (store ID, remote), sealed are its bucket
// credentials sealed for cfg.Remote (or nil), slots its key slots (nil:
// one key-file slot; they must name cfg's store), and fill loads its metadata
// into the new database. The config is written last, so a restore cut
// short leaves no store; on failure everything created is removed again.
func Restore(dir string, key *crypto.MasterKey, cfg Config, sealed []byte, slots *keyslot.File, fill func(*meta.Store) error) (err error) {
	if err := CheckEmpty(dir); err != nil {
		return err
	}
	_, statErr := os.Stat(dir)
	existed := statErr == nil
	defer func() {
		if err == nil {
			return
		}
		if existed {
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		} else {
			os.RemoveAll(dir)
		}
	}()
	cfg.Format, cfg.KeyID = FormatVersion, key.ID().String()
	if cfg.Instance, err = newInstance(); err != nil {
		return err
	}
	if cfg.BlockSize == 0 {
		cfg.BlockSize = crypto.DefaultBlockSize
	}
	if slots != nil && slots.StoreID != cfg.StoreID {
		return fmt.Errorf("key slots of store %s given for store %s", slots.StoreID, cfg.StoreID)
	}
	return create(dir, key, cfg, sealed, slots, fill)
}
