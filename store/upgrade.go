package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
	"golang.org/x/sys/unix"
)

// upgrade brings a format 1 store to format 2, in place, under the exclusive
// lock: every metadata value is sealed, the credentials are rebound to the
// configured URL, and the config gets its MAC. The config is written last,
// so a crash in between leaves a format 1 store that the next open finishes
// upgrading (each step is idempotent). Content files stay as they are:
// version 1 files keep reading, and every change writes a version 2 copy.
func upgrade(dir string, key *crypto.MasterKey, cfg Config) (Config, error) {
	lock, err := lockStore(dir, unix.LOCK_EX)
	if err != nil {
		return Config{}, err
	}
	defer lock.Close()
	m, err := meta.Open(filepath.Join(dir, "meta"), metaKeys(key))
	if err != nil {
		if errors.Is(err, meta.ErrWrongKey) {
			return Config{}, fmt.Errorf("%s: %w", dir, ErrWrongKey)
		}
		return Config{}, err
	}
	_, err = m.SealPlainValues()
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Config{}, fmt.Errorf("upgrade store %s to format %d: %w", dir, FormatVersion, err)
	}
	if err := rebindCredentials(dir, key, cfg.Remote); err != nil {
		return Config{}, fmt.Errorf("upgrade store %s to format %d: %w", dir, FormatVersion, err)
	}
	if cfg.StoreID == "" { // stores from before store IDs
		id, err := crypto.NewFileID()
		if err != nil {
			return Config{}, err
		}
		cfg.StoreID = id.String()
	}
	if cfg.Instance == "" {
		if cfg.Instance, err = newInstance(); err != nil {
			return Config{}, err
		}
	}
	cfg.Format = FormatVersion
	if err := writeConfig(dir, key, cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// rebindCredentials reseals format 1 credentials (bound to their purpose
// only) to url. Credentials already bound to url are left alone.
func rebindCredentials(dir string, key *crypto.MasterKey, url string) error {
	sealed, err := ReadSealedCredentials(dir)
	if err != nil || sealed == nil {
		return err
	}
	if _, err := key.OpenCredentials(url, sealed); err == nil {
		return nil
	}
	plain, err := key.OpenCredentials("", sealed)
	if err != nil {
		return fmt.Errorf("sealed credentials: %w", err)
	}
	defer clear(plain)
	if url == "" {
		return removeCredentials(dir) // for no bucket at all
	}
	resealed, err := key.SealCredentials(url, plain)
	if err != nil {
		return err
	}
	return WriteSealedCredentials(dir, resealed)
}

func removeCredentials(dir string) error {
	if err := os.Remove(credentialsPath(dir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove credentials: %w", err)
	}
	return syncDir(dir)
}
