package store

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"golang.org/x/sys/unix"
)

// DataPath is where the ciphertext of file id lives. A two-hex-digit fan-out
// keeps directories small for stores with millions of files.
func (s *Store) DataPath(id crypto.FileID) string {
	h := id.String()
	return filepath.Join(s.Dir, "data", h[:2], h)
}

// Store files are opened without following symlinks, at the file and at
// its fan-out directory: a link planted in data/ (to /etc/shadow, say) is
// never read, written or uploaded.
const noFollow = unix.O_NOFOLLOW

// CreateData creates the empty ciphertext file for id; it must not exist.
func (s *Store) CreateData(id crypto.FileID) (*os.File, error) {
	p := s.DataPath(id)
	if err := checkFanOut(filepath.Dir(p)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL|noFollow, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		f, err = os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL|noFollow, 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("create data file %s: %w", id, err)
	}
	return f, nil
}

// OpenData opens the ciphertext file of id for reading and writing.
func (s *Store) OpenData(id crypto.FileID) (*os.File, error) {
	p := s.DataPath(id)
	if err := checkFanOut(filepath.Dir(p)); err != nil {
		return nil, fmt.Errorf("open data file %s: %w", id, err)
	}
	f, err := os.OpenFile(p, os.O_RDWR|noFollow, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("open data file %s: it is a symlink, which sealfs never follows: %w", id, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open data file %s: %w", id, err)
	}
	return f, nil
}

// checkFanOut refuses a fan-out directory that is a symlink.
func checkFanOut(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory (a symlink?); sealfs does not follow it", dir)
	}
	return nil
}

// RemoveData deletes the ciphertext file of id; a missing file is not an error.
func (s *Store) RemoveData(id crypto.FileID) error {
	err := os.Remove(s.DataPath(id))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove data file %s: %w", id, err)
	}
	return nil
}

// SyncAll makes every write to the store's disk durable, with one
// syncfs(2) instead of an fsync per file.
func (s *Store) SyncAll() error {
	d, err := os.Open(s.Dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("sync store disk: %w", err)
	}
	return nil
}

// Statfs reports the free space of the disk that holds the store.
func (s *Store) Statfs() (unix.Statfs_t, error) {
	var st unix.Statfs_t
	err := unix.Statfs(s.Dir, &st)
	return st, err
}

// TempDir is the store's scratch folder (metadata snapshots being sealed and
// uploaded); it is created on first use.
func (s *Store) TempDir() string {
	d := filepath.Join(s.Dir, "tmp")
	os.MkdirAll(d, 0o700)
	return d
}

// ListData calls fn for every ciphertext file with its size and mtime.
func (s *Store) ListData(fn func(id crypto.FileID, size int64, mtime time.Time)) error {
	root := filepath.Join(s.Dir, "data")
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := hex.DecodeString(d.Name())
		if err != nil || len(b) != len(crypto.FileID{}) {
			return nil // not a data file
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		fn(crypto.FileID(b), fi.Size(), fi.ModTime())
		return nil
	})
}
