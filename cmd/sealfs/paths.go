package main

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/store"
	"github.com/spf13/pflag"
)

// location is where a command finds its store and how it unlocks it:
// flags win over SEALFS_STORE / SEALFS_KEY_FILE / SEALFS_PASSPHRASE_FILE,
// which win over the XDG defaults (see secret).
type location struct {
	store   string
	keyFile string // resolved: the flag's, the environment's or the default

	keyFileArg        string // --key-file as given
	keyFileName       string // that flag's name, "key-file" unless renamed
	passphraseFile    string
	passphraseCommand string
}

func (l *location) register(fs *pflag.FlagSet) { l.registerAs(fs, "key-file") }

// registerAs registers the flags with the key file flag under another name,
// for a command whose --key-file means something else (key add).
func (l *location) registerAs(fs *pflag.FlagSet, keyFileFlag string) {
	l.keyFileName = keyFileFlag
	fs.StringVar(&l.store, "store", "", "store directory (default $SEALFS_STORE, else $XDG_DATA_HOME/sealfs)")
	fs.StringVar(&l.keyFileArg, keyFileFlag, "", "master key file (default $SEALFS_KEY_FILE, else $XDG_CONFIG_HOME/sealfs/master.key)")
	fs.StringVar(&l.passphraseFile, "passphrase-file", "", "unlock with the passphrase (or recovery code) on this file's first line (default $SEALFS_PASSPHRASE_FILE)")
	fs.StringVar(&l.passphraseCommand, "passphrase-command", "", "unlock with the passphrase this shell command prints on its first line")
}

func (l *location) keyFileFlag() string {
	if l.keyFileName == "" {
		return "key-file"
	}
	return l.keyFileName
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
	if l.keyFile = l.keyFileArg; l.keyFile == "" {
		l.keyFile = os.Getenv("SEALFS_KEY_FILE")
	}
	if l.keyFile == "" {
		l.keyFile = filepath.Join(xdgDir("XDG_CONFIG_HOME", ".config"), "sealfs", "master.key")
	}
	var err error
	if l.store, err = filepath.Abs(l.store); err != nil {
		return err
	}
	if l.keyFile, err = filepath.Abs(l.keyFile); err != nil {
		return err
	}
	if l.passphraseFile != "" {
		l.passphraseFile, err = filepath.Abs(l.passphraseFile)
	}
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

// openAt opens the store of l, unlocked as l says, for writing or
// (readOnly) not. A secret that does not unlock it and a store that cannot
// be opened as asked are the caller's to fix: usage errors.
func openAt(l location, readOnly bool) (*store.Store, *crypto.MasterKey, error) {
	key, err := l.unlock()
	if err != nil {
		return nil, nil, err
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
