// Package store owns the layout of a sealfs store directory: its config
// file, its lock, the encrypted metadata database and the ciphertext files.
//
//	STORE/sealfs.json   format, key ID, store ID, block size, remote; MACed
//	STORE/keys.json     the key slots (package keyslot); MACed
//	STORE/lock          flock held by the one process using the store
//	STORE/meta/         Badger, encrypted with a key derived from the master key
//	STORE/data/ab/<id>  one ciphertext file per content version, named by file ID
package store

import (
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/keyslot"
	"github.com/sealfs/sealfs/meta"
	"golang.org/x/sys/unix"
)

// FormatVersion is the store layout version written by Init. Format 1
// (metadata values in the clear under Badger's encryption, no config MAC)
// is upgraded in place at the first open.
const FormatVersion = 2

// Sentinel errors for the CLI to turn into one-line messages.
var (
	ErrExists   = errors.New("store already exists")
	ErrNotExist = errors.New("store does not exist")
	ErrWrongKey = errors.New("key does not match the store")
	ErrBusy     = errors.New("store is in use by another sealfs process")
	ErrConfig   = errors.New("store config fails authentication (edited outside sealfs?)")
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
	// Instance tells copies of one store apart: a store recovered on a
	// new machine keeps the store ID (its snapshots continue) but gets a
	// new instance, so it cannot take the old machine's live lease unseen.
	Instance string `json:"instance,omitempty"`
	// MAC authenticates every other field (format 2 on): hex of
	// HMAC-SHA256 under a key derived from the master key, over the
	// config's JSON with MAC empty. Only format and key ID are used
	// before it is checked.
	MAC string `json:"mac,omitempty"`
}

// mac returns the MAC cfg should carry under key.
func (cfg Config) mac(key *crypto.MasterKey) string {
	cfg.MAC = ""
	b, err := json.Marshal(cfg)
	if err != nil {
		panic("store: marshal config: " + err.Error()) // only strings and ints
	}
	return hex.EncodeToString(key.ConfigMAC(b))
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
	id, err := crypto.NewFileID() // any 16 random bytes do
	if err != nil {
		return err
	}
	instance, err := newInstance()
	if err != nil {
		return err
	}
	cfg := Config{Format: FormatVersion, KeyID: key.ID().String(), BlockSize: crypto.DefaultBlockSize, StoreID: id.String(), Instance: instance}
	return create(dir, key, cfg, nil, nil, nil)
}

// create makes the store in dir (which holds none) with cfg: the
// directory (the user's alone), the lock, the metadata database, which
// fill (if any) loads, the sealed credentials (if any), the key slots
// (slots, or else one key-file slot), and the config, written last since
// its presence marks a complete store.
func create(dir string, key *crypto.MasterKey, cfg Config, sealed []byte, slots *keyslot.File, fill func(*meta.Store) error) error {
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return fmt.Errorf("create store: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("create store: %w", err)
	}
	// The lock file and an empty metadata database exist from the start,
	// so that read-only commands never have to create them.
	lock, err := lockStore(dir, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer lock.Close()
	m, err := meta.Open(filepath.Join(dir, "meta"), metaKeys(key))
	if err != nil {
		return err
	}
	if fill != nil {
		err = fill(m)
	}
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if sealed != nil {
		if err := WriteSealedCredentials(dir, sealed); err != nil {
			return err
		}
	}
	if slots == nil {
		slots = keyslot.New(cfg.StoreID, key)
		if _, err := slots.AddKeyFile(); err != nil {
			return err
		}
	}
	if err := keyslot.Create(dir, slots, key); err != nil {
		return err
	}
	return writeConfig(dir, key, cfg)
}

// newInstance returns a random instance name (8 bytes, hex).
func newInstance() (string, error) {
	id, err := crypto.NewFileID()
	if err != nil {
		return "", err
	}
	return id.String()[:16], nil
}

func metaKeys(key *crypto.MasterKey) meta.Keys {
	return meta.Keys{AtRest: key.BadgerKey(), Values: key.MetaValueKey()}
}

// SetRemote points the store at the bucket url; sealed, its credentials
// for that bucket, or nil to keep none. Credentials are bound to the URL
// they were given for, so changing the URL without new credentials drops
// the old ones: they are never sent to another endpoint. It returns whether
// old credentials were dropped.
func SetRemote(dir string, key *crypto.MasterKey, url string, sealed []byte) (dropped bool, err error) {
	cfg, err := CheckKey(dir, key)
	if err != nil {
		return false, err
	}
	if cfg.Format < FormatVersion {
		return false, fmt.Errorf("%s: store has format %d; mount it once to upgrade it first", dir, cfg.Format)
	}
	old, err := ReadSealedCredentials(dir)
	if err != nil {
		return false, err
	}
	switch {
	case sealed != nil:
		if err := WriteSealedCredentials(dir, sealed); err != nil {
			return false, err
		}
	case old != nil && url != cfg.Remote:
		if err := removeCredentials(dir); err != nil {
			return false, err
		}
		dropped = true
	}
	cfg.Remote = url
	return dropped, writeConfig(dir, key, cfg)
}

// writeConfig replaces STORE/sealfs.json atomically, with its MAC.
func writeConfig(dir string, key *crypto.MasterKey, cfg Config) error {
	cfg.MAC = cfg.mac(key)
	if err := replaceJSON(configPath(dir), cfg); err != nil {
		return fmt.Errorf("write store config: %w", err)
	}
	return nil
}

// replaceJSON replaces the file at path with v as indented JSON in one
// step: written and fsynced beside it, renamed over it, the directory
// fsynced.
func replaceJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := writeFileSync(tmp, append(b, '\n')); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// ReadConfig reads STORE/sealfs.json and checks its form; CheckKey
// authenticates it.
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
	if cfg.Format < 1 || cfg.Format > FormatVersion {
		return Config{}, fmt.Errorf("store %s has format %d; this sealfs reads formats 1 to %d", dir, cfg.Format, FormatVersion)
	}
	if id, err := hex.DecodeString(cfg.StoreID); cfg.Format >= 2 && (err != nil || len(id) != 16) {
		return Config{}, fmt.Errorf("store config %s is damaged: store ID %q", configPath(dir), cfg.StoreID)
	}
	return cfg, nil
}

// CheckKey verifies, without changing anything, that key opens the store in
// dir and that the config is authentic (format 2; a format 1 config has no
// MAC and is upgraded by the next open).
func CheckKey(dir string, key *crypto.MasterKey) (Config, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return Config{}, err
	}
	if cfg.KeyID != key.ID().String() {
		return Config{}, fmt.Errorf("%s: %w (store key ID %s, key file has %s)", dir, ErrWrongKey, cfg.KeyID, key.ID())
	}
	if cfg.Format >= 2 && !hmac.Equal([]byte(cfg.MAC), []byte(cfg.mac(key))) {
		return Config{}, fmt.Errorf("%s: %w", configPath(dir), ErrConfig)
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
	if Rotating(dir) {
		return nil, fmt.Errorf("%s: %w", dir, ErrRotating)
	}
	cfg, err := CheckKey(dir, key)
	if err != nil {
		return nil, err
	}
	if err := checkOwner(dir); err != nil {
		return nil, err
	}
	if cfg.Format < FormatVersion {
		if cfg, err = upgrade(dir, key, cfg); err != nil {
			return nil, err
		}
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
	m, err := metaOpen(filepath.Join(dir, "meta"), metaKeys(key))
	if err != nil {
		lock.Close()
		if errors.Is(err, meta.ErrWrongKey) {
			return nil, fmt.Errorf("%s: %w", dir, ErrWrongKey)
		}
		return nil, err
	}
	return &Store{Dir: dir, Config: cfg, Meta: m, Wrapper: crypto.NewWrapper(key), lock: lock}, nil
}

// ErrUnsafe: the store directory is not the user's alone.
var ErrUnsafe = errors.New("store directory is not safe")

// checkOwner refuses a store directory (or its data/ or meta/) that is a
// symlink, owned by another user, or writable by group or others: whoever
// can write there can plant files for sealfs to read or upload.
func checkOwner(dir string) error {
	for _, p := range []string{dir, filepath.Join(dir, "data"), filepath.Join(dir, "meta")} {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			if errors.Is(err, unix.ENOENT) && p != dir {
				continue
			}
			return fmt.Errorf("store %s: %w", p, err)
		}
		switch {
		case st.Mode&unix.S_IFMT != unix.S_IFDIR:
			return fmt.Errorf("%s is not a directory (a symlink?): %w", p, ErrUnsafe)
		case int(st.Uid) != os.Geteuid():
			return fmt.Errorf("%s is owned by uid %d, not by you (uid %d): %w", p, st.Uid, os.Geteuid(), ErrUnsafe)
		case st.Mode&0o022 != 0:
			return fmt.Errorf("%s is writable by group or others (mode %o; run: chmod go-w %s): %w", p, st.Mode&0o777, p, ErrUnsafe)
		}
	}
	return nil
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

// ID returns the store's random ID, its name as a bucket writer.
func (s *Store) ID() [16]byte {
	var id [16]byte
	b, _ := hex.DecodeString(s.Config.StoreID)
	copy(id[:], b)
	return id
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
