package keyslot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"golang.org/x/sys/unix"
)

// Path is where a store keeps its slot file.
func Path(storeDir string) string { return filepath.Join(storeDir, "keys.json") }

// MaxFileSize bounds what Read (and a reader of the bucket's copy) takes in.
const MaxFileSize = 1 << 20

// Read returns the store's slot file; a store made before key slots has
// none and gets Implicit's.
func Read(storeDir, storeID, keyID string) (*File, error) {
	b, err := os.ReadFile(Path(storeDir))
	if errors.Is(err, os.ErrNotExist) {
		return Implicit(storeID, keyID), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read key slots: %w", err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("key slot file %s is damaged: %d bytes", Path(storeDir), len(b))
	}
	f, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Path(storeDir), err)
	}
	if f.StoreID != storeID {
		return nil, fmt.Errorf("%s: %w (it names store %s)", Path(storeDir), ErrNotAuthentic, f.StoreID)
	}
	return f, nil
}

// Update changes the store's slot file under its lock: read, check under
// k, fn, seal and replace atomically (a crash leaves the old file or the
// new one, each whole and authentic).
func Update(storeDir, storeID string, k *crypto.MasterKey, fn func(*File) error) error {
	unlock, err := lock(storeDir)
	if err != nil {
		return err
	}
	defer unlock()
	f, err := Read(storeDir, storeID, k.ID().String())
	if err != nil {
		return err
	}
	if err := f.Verify(k); err != nil {
		return err
	}
	if err := fn(f); err != nil {
		return err
	}
	return write(storeDir, f, k)
}

// Create writes a store's first slot file, f (sealed under k here).
func Create(storeDir string, f *File, k *crypto.MasterKey) error {
	unlock, err := lock(storeDir)
	if err != nil {
		return err
	}
	defer unlock()
	return write(storeDir, f, k)
}

// touchEvery is how stale a slot's last use may get before an unlock writes
// it again: commands run in a loop do not rewrite the file each time.
const touchEvery = time.Minute

// Touch records that slot id was used now. It is bookkeeping: the caller
// may ignore its error (a read-only store directory).
func Touch(storeDir, storeID string, k *crypto.MasterKey, id string) error {
	now := time.Now().UTC().Truncate(time.Second)
	err := Update(storeDir, storeID, k, func(f *File) error {
		s, err := f.Find(id)
		if err != nil {
			return err
		}
		if now.Sub(s.LastUsed) < touchEvery {
			return errUnchanged
		}
		s.LastUsed = now
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

// errUnchanged stops an Update that has nothing to write.
var errUnchanged = errors.New("unchanged")

// write replaces the slot file with f, sealed under k.
func write(storeDir string, f *File, k *crypto.MasterKey) error {
	f.Seal(k)
	tmp := Path(storeDir) + ".tmp"
	if err := writeFileSync(tmp, f.Marshal()); err != nil {
		return fmt.Errorf("write key slots: %w", err)
	}
	if err := os.Rename(tmp, Path(storeDir)); err != nil {
		return fmt.Errorf("write key slots: %w", err)
	}
	d, err := os.Open(storeDir)
	if err != nil {
		return fmt.Errorf("write key slots: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write key slots: %w", err)
	}
	return nil
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// lock takes STORE/keys.lock exclusively, waiting for another command's
// change to finish (they take milliseconds, or one Argon2id run). It is
// not the store's lock, so slots change while the store is mounted.
func lock(storeDir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(storeDir, "keys.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock key slots: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock key slots: %w", err)
	}
	return func() { f.Close() }, nil
}

// Rotate seals next to every slot of the store's slot file, whose key is
// old or (a rotation resumed) already next, and writes it sealed under
// next. No slot's secret is needed (File.Reseal).
func Rotate(storeDir, storeID string, old, next *crypto.MasterKey) error {
	unlock, err := lock(storeDir)
	if err != nil {
		return err
	}
	defer unlock()
	f, err := Read(storeDir, storeID, old.ID().String())
	if err != nil {
		return err
	}
	switch f.KeyID {
	case next.ID().String():
		return f.Verify(next) // done before
	case old.ID().String():
		if err := f.Verify(old); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w (slot file names key %s)", crypto.ErrWrongKey, f.KeyID)
	}
	if err := f.Reseal(next); err != nil {
		return err
	}
	return write(storeDir, f, next)
}
