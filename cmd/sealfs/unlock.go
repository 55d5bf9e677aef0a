package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/keyslot"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/uploader"
	"github.com/sealfs/sealfs/store"
	"golang.org/x/term"
)

// maxSecretSize bounds a passphrase read from a file or a command.
const maxSecretSize = 4096

// secret finds what the user unlocks with, first of: --key-file,
// --passphrase-file, --passphrase-command (one at most); then
// $SEALFS_PASSPHRASE_FILE or $SEALFS_KEY_FILE (one at most); then the
// default key file if it exists; then a prompt, if stdin is a terminal.
// A passphrase is never taken from a flag's value or the environment
// itself: those end up in shell histories and /proc.
func (l *location) secret() (keyslot.Secret, error) {
	var given []string
	for _, g := range []struct{ flag, value string }{
		{"--" + l.keyFileFlag(), l.keyFileArg}, {"--passphrase-file", l.passphraseFile}, {"--passphrase-command", l.passphraseCommand},
	} {
		if g.value != "" {
			given = append(given, g.flag)
		}
	}
	if len(given) > 1 {
		return keyslot.Secret{}, badInput("give one way to unlock, not %s", strings.Join(given, " and "))
	}
	envPass, envKey := os.Getenv("SEALFS_PASSPHRASE_FILE"), os.Getenv("SEALFS_KEY_FILE")
	switch {
	case l.keyFileArg != "":
		return loadKeySecret(l.keyFile)
	case l.passphraseFile != "":
		return passphraseFromFile(l.passphraseFile)
	case l.passphraseCommand != "":
		return passphraseFromCommand(l.passphraseCommand)
	case envPass != "" && envKey != "":
		return keyslot.Secret{}, badInput("both SEALFS_PASSPHRASE_FILE and SEALFS_KEY_FILE are set; unset one, or give a flag")
	case envPass != "":
		return passphraseFromFile(envPass)
	case envKey != "":
		return loadKeySecret(l.keyFile)
	}
	if _, err := os.Lstat(l.keyFile); err == nil {
		return loadKeySecret(l.keyFile)
	}
	if term.IsTerminal(int(os.Stdin.Fd())) {
		p, err := prompt(fmt.Sprintf("Passphrase for %s: ", l.store))
		return keyslot.Secret{Passphrase: p}, err
	}
	return keyslot.Secret{}, badInput("no key to unlock %s: the key file %s does not exist; give --%s, --passphrase-file or --passphrase-command",
		l.store, l.keyFile, l.keyFileFlag())
}

func loadKeySecret(path string) (keyslot.Secret, error) {
	k, err := crypto.LoadKeyFile(path)
	if err != nil {
		return keyslot.Secret{}, usageError{err}
	}
	return keyslot.Secret{Key: k}, nil
}

// passphraseFromFile reads the first line of a file that only its owner
// may read, as key files must be.
func passphraseFromFile(path string) (keyslot.Secret, error) {
	b, err := readSecretFile(path)
	if err != nil {
		return keyslot.Secret{}, err
	}
	return keyslot.Secret{Passphrase: b}, nil
}

func readSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, badInput("passphrase file: %v", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, badInput("passphrase file: %v", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, badInput("passphrase file %s: mode %04o: readable by others; run: chmod 600 %s", path, perm, path)
	}
	p, err := firstLine(f)
	if err != nil {
		return nil, badInput("passphrase file %s: %v", path, err)
	}
	return p, nil
}

// passphraseFromCommand runs cmd with sh -c, as restic's
// --password-command: a secret manager, a KMS client or Vault prints the
// passphrase on its first line. Its stderr is the user's.
func passphraseFromCommand(cmd string) (keyslot.Secret, error) {
	var out bytes.Buffer
	c := exec.CommandContext(context.Background(), "/bin/sh", "-c", cmd)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, &out, os.Stderr
	err := c.Run()
	defer clear(out.Bytes())
	if err != nil {
		return keyslot.Secret{}, badInput("passphrase command: %v", err)
	}
	p, err := firstLine(&out)
	if err != nil {
		return keyslot.Secret{}, badInput("passphrase command: %v", err)
	}
	return keyslot.Secret{Passphrase: p}, nil
}

// firstLine returns the first line of r without its line end; an empty
// one is refused.
func firstLine(r io.Reader) ([]byte, error) {
	buf := make([]byte, maxSecretSize+1)
	defer clear(buf)
	n, err := io.ReadFull(r, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if n > maxSecretSize {
		return nil, fmt.Errorf("longer than %d bytes", maxSecretSize)
	}
	line, _, _ := bytes.Cut(buf[:n], []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) == 0 {
		return nil, errors.New("empty passphrase")
	}
	return bytes.Clone(line), nil
}

// prompt reads a passphrase from the terminal on stdin, echo off; the
// prompt goes to stderr, so stdout stays the command's.
func prompt(text string) ([]byte, error) {
	fmt.Fprint(os.Stderr, text)
	p, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if len(p) == 0 {
		return nil, badInput("empty passphrase")
	}
	return p, nil
}

// unlock returns the master key of the store at l, from whatever secret
// the user gave, and notes the slot it opened as used. A secret that opens
// nothing is bad input, and nothing is changed.
func (l *location) unlock() (*crypto.MasterKey, error) {
	s, err := l.secret()
	if err != nil {
		return nil, err
	}
	defer clear(s.Passphrase)
	return l.unlockWith(s)
}

// unlockWith is unlock with the secret given.
func (l *location) unlockWith(s keyslot.Secret) (*crypto.MasterKey, error) {
	if store.Rotating(l.store) {
		// Keys and slots are between two master keys: only key rotate,
		// which knows both, opens the store.
		return nil, usageError{fmt.Errorf("%s: %w", l.store, store.ErrRotating)}
	}
	cfg, err := store.ReadConfig(l.store)
	if err != nil {
		if errors.Is(err, store.ErrNotExist) {
			return nil, usageError{err}
		}
		return nil, err
	}
	slots, err := keyslot.Read(l.store, cfg.StoreID, cfg.KeyID)
	if err != nil {
		return nil, usageError{err}
	}
	k, slot, err := slots.Unlock(s)
	if err != nil {
		return nil, unlockError(l.store, s, err)
	}
	// Last use is bookkeeping; a store on a read-only disk still opens.
	_ = keyslot.Touch(l.store, cfg.StoreID, k, slot.ID)
	return k, nil
}

// unlockError says in one line why s did not unlock where.
func unlockError(where string, s keyslot.Secret, err error) error {
	switch {
	case errors.Is(err, crypto.ErrWrongKey) && s.Key != nil:
		return usageError{fmt.Errorf("%s: %w: %w", where, store.ErrWrongKey, err)}
	case errors.Is(err, keyslot.ErrNoSlot):
		return badInput("%s: the passphrase %v", where, err)
	}
	return usageError{fmt.Errorf("%s: %w", where, err)}
}

// unlockBucket returns the master key for a store that exists only in the
// bucket b (recover, a read-only mount of the bucket), and the bucket's
// slot file when it is genuine under that key (nil otherwise). A key file
// needs no slot file; a passphrase needs the one in the bucket.
func (l *location) unlockBucket(ctx context.Context, b *remote.Bucket) (*crypto.MasterKey, *keyslot.File, error) {
	s, err := l.secret()
	if err != nil {
		return nil, nil, err
	}
	defer clear(s.Passphrase)
	f, ferr := readBucketSlots(ctx, b)
	if s.Key != nil {
		if ferr != nil || f.Verify(s.Key) != nil {
			f = nil
		}
		return s.Key, f, nil
	}
	if ferr != nil {
		return nil, nil, ferr
	}
	k, _, err := f.Unlock(s)
	if err != nil {
		return nil, nil, unlockError(b.URL(), s, err)
	}
	return k, f, nil
}

// readBucketSlots fetches and parses the bucket's slot file.
func readBucketSlots(ctx context.Context, b *remote.Bucket) (*keyslot.File, error) {
	r, err := b.NewRangeReader(ctx, uploader.SlotsKey, 0, -1)
	if errors.Is(err, remote.ErrNotFound) {
		return nil, badInput("%s has no key slots (its store was made before key slots, or never synced): recover it with its key file", b.URL())
	}
	if err != nil {
		return nil, fmt.Errorf("read key slots: %w", err)
	}
	defer r.Close()
	body, err := io.ReadAll(io.LimitReader(r, keyslot.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read key slots: %w", err)
	}
	if len(body) > keyslot.MaxFileSize {
		return nil, badInput("%s: key slots object is damaged: larger than %d bytes", b.URL(), keyslot.MaxFileSize)
	}
	f, err := keyslot.Parse(body)
	if err != nil {
		return nil, usageError{fmt.Errorf("%s: %w", b.URL(), err)}
	}
	return f, nil
}
