// Package store owns the layout of a sealfs store directory: its config
// file, its lock, the encrypted metadata database and the ciphertext files.
//
//	STORE/sealfs.json   format version and key ID (no secrets)
//	STORE/lock          flock held by the one process using the store
//	STORE/meta/         Badger, encrypted with a key derived from the master key
//	STORE/data/ab/<id>  one ciphertext file per content version, named by file ID
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
	"golang.org/x/sys/unix"
)

// FormatVersion is the store layout version written by Init.
const FormatVersion = 1

// Sentinel errors for the CLI to turn into one-line messages.
var (
	ErrExists   = errors.New("store already exists")
	ErrNotExist = errors.New("store does not exist")
	ErrWrongKey = errors.New("key does not match the store")
	ErrBusy     = errors.New("store is in use by another sealfs process")
)

// Config is STORE/sealfs.json.
type Config struct {
	Format    int    `json:"format"`
	KeyID     string `json:"key_id"`
	BlockSize int    `json:"block_size"`
	// StoreID names this store as a bucket writer (the lease holder).
	StoreID string `json:"store_id,omitempty"`
	// Remote is the bucket URL set by `init --remote` or `remote set`.
	Remote string `json:"remote,omitempty"`
}

// Store is an open, locked store directory.
type Store struct {
	Dir     string
	Config  Config
	Meta    *meta.Store
	Wrapper *crypto.Wrapper
	lock    *os.File
}

func configPath(dir string) string { return filepath.Join(dir, "sealfs.json") }

// Exists reports whether dir holds a store.
func Exists(dir string) bool {
	_, err := os.Stat(configPath(dir))
	return err == nil
}

// Init creates a new, empty store in dir for key. It refuses a directory
// that already holds a store.
func Init(dir string, key *crypto.MasterKey) error {
	if Exists(dir) {
		return fmt.Errorf("%s: %w", dir, ErrExists)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return fmt.Errorf("create store: %w", err)
	}
	id, err := crypto.NewFileID() // any 16 random bytes do
	if err != nil {
		return err
	}
	cfg := Config{Format: FormatVersion, KeyID: key.ID().String(), BlockSize: crypto.DefaultBlockSize, StoreID: id.String()}
	// The lock file and an empty metadata database exist from the start,
	// so that read-only commands never have to create them.
	lock, err := lockStore(dir, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer lock.Close()
	m, err := meta.Open(filepath.Join(dir, "meta"), key.BadgerKey())
	if err != nil {
		return err
	}
	if err := m.Close(); err != nil {
		return err
	}
	// The config is written last: its presence marks a complete store.
	return WriteConfig(dir, cfg)
}

// WriteConfig replaces STORE/sealfs.json atomically.
func WriteConfig(dir string, cfg Config) error {
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	tmp := configPath(dir) + ".tmp"
	if err := writeFileSync(tmp, append(b, '\n')); err != nil {
		return fmt.Errorf("write store config: %w", err)
	}
	if err := os.Rename(tmp, configPath(dir)); err != nil {
		return fmt.Errorf("write store config: %w", err)
	}
	return syncDir(dir)
}

// ReadConfig reads and validates STORE/sealfs.json.
func ReadConfig(dir string) (Config, error) {
	b, err := os.ReadFile(configPath(dir))
	if errors.Is(err, os.ErrNotExist) {
		return Config{}, fmt.Errorf("%s: %w", dir, ErrNotExist)
	}
	if err != nil {
		return Config{}, fmt.Errorf("read store config: %w", err)
	}
	var cfg Config
	if err := json.Unmarshal(b, &cfg); err != nil {
		return Config{}, fmt.Errorf("store config %s is damaged: %w", configPath(dir), err)
	}
	if cfg.Format != FormatVersion {
		return Config{}, fmt.Errorf("store %s has format %d; this sealfs reads format %d", dir, cfg.Format, FormatVersion)
	}
	return cfg, nil
}

// CheckKey verifies, without changing anything, that key opens the store in dir.
func CheckKey(dir string, key *crypto.MasterKey) (Config, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return Config{}, err
	}
	if cfg.KeyID != key.ID().String() {
		return Config{}, fmt.Errorf("%s: %w (store key ID %s, key file has %s)", dir, ErrWrongKey, cfg.KeyID, key.ID())
	}
	return cfg, nil
}

// Open validates the key, takes the store lock and opens the metadata
// database. Nothing in dir is written before both checks pass.
func Open(dir string, key *crypto.MasterKey) (*Store, error) {
	return open(dir, key, false)
}

// OpenReadOnly opens the store for a command that only reads it, under a
// shared lock (a mount, which takes the lock exclusively, is refused as busy
// meanwhile): nothing in dir is written, so looking at a backup cannot
// change it. The one exception is a store whose daemon crashed: its
// metadata log is recovered first, once, exactly as the next mount would.
func OpenReadOnly(dir string, key *crypto.MasterKey) (*Store, error) {
	st, err := open(dir, key, true)
	if !errors.Is(err, meta.ErrNeedsRecovery) {
		return st, err
	}
	if st, err = open(dir, key, false); err != nil {
		return nil, err
	}
	if err := st.Close(); err != nil {
		return nil, err
	}
	return open(dir, key, true)
}

func open(dir string, key *crypto.MasterKey, readOnly bool) (*Store, error) {
	cfg, err := CheckKey(dir, key)
	if err != nil {
		return nil, err
	}
	how, metaOpen := unix.LOCK_EX, meta.Open
	// A store initialized by an older sealfs and never mounted has no
	// database yet; creating the empty one cannot change a backup.
	if _, err := os.Stat(filepath.Join(dir, "meta", "MANIFEST")); readOnly && err == nil {
		how, metaOpen = unix.LOCK_SH, meta.OpenReadOnly
	}
	lock, err := lockStore(dir, how)
	if err != nil {
		return nil, err
	}
	m, err := metaOpen(filepath.Join(dir, "meta"), key.BadgerKey())
	if err != nil {
		lock.Close()
		if errors.Is(err, meta.ErrWrongKey) {
			return nil, fmt.Errorf("%s: %w", dir, ErrWrongKey)
		}
		return nil, err
	}
	return &Store{Dir: dir, Config: cfg, Meta: m, Wrapper: crypto.NewWrapper(key), lock: lock}, nil
}

// lockStore takes the store's lock (unix.LOCK_EX or LOCK_SH) without
// blocking; ErrBusy when another process holds it in a conflicting way. The
// lock file is created once and never rewritten.
func lockStore(dir string, how int) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock store: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", dir, ErrBusy)
		}
		return nil, fmt.Errorf("lock store: %w", err)
	}
	return f, nil
}

// Close closes the metadata database and releases the lock.
func (s *Store) Close() error {
	err := s.Meta.Close()
	if cerr := s.lock.Close(); err == nil {
		err = cerr
	}
	return err
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
