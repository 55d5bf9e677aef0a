package main

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/store"
	"github.com/spf13/pflag"
)

// location is where a command finds its store and key file: flags win over
// SEALFS_STORE / SEALFS_KEY_FILE, which win over the XDG defaults.
type location struct {
	store, keyFile string
}

func (l *location) register(fs *pflag.FlagSet) {
	fs.StringVar(&l.store, "store", "", "store directory (default $SEALFS_STORE, else $XDG_DATA_HOME/sealfs)")
	fs.StringVar(&l.keyFile, "key-file", "", "master key file (default $SEALFS_KEY_FILE, else $XDG_CONFIG_HOME/sealfs/master.key)")
}

// resolve fills in defaults and makes both paths absolute, since the daemon
// does not stay in the directory it was started from.
func (l *location) resolve() error {
	if l.store == "" {
		l.store = os.Getenv("SEALFS_STORE")
	}
	if l.store == "" {
		l.store = filepath.Join(xdgDir("XDG_DATA_HOME", ".local", "share"), "sealfs")
	}
	if l.keyFile == "" {
		l.keyFile = os.Getenv("SEALFS_KEY_FILE")
	}
	if l.keyFile == "" {
		l.keyFile = filepath.Join(xdgDir("XDG_CONFIG_HOME", ".config"), "sealfs", "master.key")
	}
	var err error
	if l.store, err = filepath.Abs(l.store); err != nil {
		return err
	}
	l.keyFile, err = filepath.Abs(l.keyFile)
	return err
}

func xdgDir(env string, fallback ...string) string {
	if d := os.Getenv(env); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "/"
	}
	return filepath.Join(append([]string{home}, fallback...)...)
}

// openAt opens the store of l with its key, for writing or (readOnly) not.
// A wrong or unsafe key file and a store that cannot be opened as asked
// are the caller's to fix: usage errors.
func openAt(l location, readOnly bool) (*store.Store, *crypto.MasterKey, error) {
	key, err := crypto.LoadKeyFile(l.keyFile)
	if err != nil {
		return nil, nil, usageError{err}
	}
	open := store.Open
	if readOnly {
		open = store.OpenReadOnly
	}
	st, err := open(l.store, key)
	if isStoreInputError(err) {
		return nil, nil, usageError{err}
	}
	if err != nil {
		return nil, nil, err
	}
	return st, key, nil
}

// isStoreInputError reports whether opening a store failed for a reason
// the caller must fix (exit 2): a wrong key, a store in use, no store, or a
// config edited outside sealfs.
func isStoreInputError(err error) bool {
	return errors.Is(err, store.ErrWrongKey) || errors.Is(err, store.ErrBusy) ||
		errors.Is(err, store.ErrNotExist) || errors.Is(err, store.ErrConfig) || errors.Is(err, store.ErrUnsafe)
}
