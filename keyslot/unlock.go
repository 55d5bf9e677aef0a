package keyslot

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/sealfs/sealfs/crypto"
)

// Secret is what a user unlocks with: a key file's key, or a passphrase
// (which may be a recovery code).
type Secret struct {
	Key *crypto.MasterKey // from a key file
	// Passphrase is a passphrase or a recovery code; the caller clears it.
	Passphrase []byte
}

// Unlock returns the master key s opens in f and the slot that opened it,
// after checking f's MAC under that key. A passphrase is tried against each
// passphrase slot (one Argon2id run each: there is no cheaper test of a
// guess); text that reads as a recovery code is tried against the
// recovery-code slots first.
func (f *File) Unlock(s Secret) (*crypto.MasterKey, *Slot, error) {
	if s.Key != nil {
		return f.unlockKeyFile(s)
	}
	var tried []Kind
	if code, ok := crypto.ParseRecoveryCode(s.Passphrase); ok {
		defer clear(code)
		tried = append(tried, RecoveryCode)
		if k, slot, err := f.try(RecoveryCode, func(salt []byte, _ *KDF) ([]byte, error) {
			return crypto.RecoveryKEK(code, salt), nil
		}); k != nil || err != nil {
			return k, slot, err
		}
	}
	tried = append(tried, Passphrase)
	k, slot, err := f.try(Passphrase, func(salt []byte, kdf *KDF) ([]byte, error) {
		if kdf.Alg != algArgon2id {
			return nil, fmt.Errorf("passphrase slot with KDF %q", kdf.Alg)
		}
		return crypto.PassphraseKEK(s.Passphrase, salt, crypto.Argon2Params{Time: kdf.Time, MemoryKiB: kdf.MemoryKiB, Threads: kdf.Threads})
	})
	if k != nil || err != nil {
		return k, slot, err
	}
	if f.count(Passphrase)+f.count(RecoveryCode) == 0 {
		return nil, nil, fmt.Errorf("%w: the store has no passphrase or recovery-code slot (unlock it with its key file)", ErrNoSlot)
	}
	return nil, nil, ErrNoSlot
}

// try opens the first slot of kind whose key-encryption key (from kek)
// unwraps its master key; no key and no error when none does.
func (f *File) try(kind Kind, kek func(salt []byte, kdf *KDF) ([]byte, error)) (*crypto.MasterKey, *Slot, error) {
	var errs []error
	for i := range f.Slots {
		s := &f.Slots[i]
		if s.Kind != kind {
			continue
		}
		k, err := f.open(s, kek)
		if errors.Is(err, crypto.ErrWrongKey) {
			continue
		}
		if err != nil {
			// A damaged slot must not hide the others.
			errs = append(errs, fmt.Errorf("slot %s: %w", s.ID, err))
			continue
		}
		if err := f.Verify(k); err != nil {
			return nil, nil, err
		}
		return k, s, nil
	}
	if len(errs) > 0 && len(errs) == f.count(kind) {
		return nil, nil, errors.Join(errs...)
	}
	return nil, nil, nil
}

func (f *File) open(s *Slot, kek func(salt []byte, kdf *KDF) ([]byte, error)) (*crypto.MasterKey, error) {
	if s.KDF == nil {
		return nil, errors.New("no KDF")
	}
	salt, err := hex.DecodeString(s.KDF.Salt)
	if err != nil || len(salt) != crypto.SlotSaltSize {
		return nil, errors.New("damaged salt")
	}
	wrapped, err := hex.DecodeString(s.Seed)
	if err != nil {
		return nil, errors.New("damaged seed")
	}
	sealed, err := hex.DecodeString(s.Sealed)
	if err != nil {
		return nil, errors.New("damaged sealed key")
	}
	key, err := kek(salt, s.KDF)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	seed, err := crypto.UnwrapSlotSeed(key, wrapped, f.aad(s))
	if err != nil {
		return nil, err
	}
	defer clear(seed)
	k, err := crypto.OpenSlot(seed, sealed, f.aad(s))
	if err != nil {
		// The secret was right (the seed opened): the sealed key is not
		// the slot's. Tampering, not a wrong passphrase.
		return nil, fmt.Errorf("sealed key does not open: %w", ErrNotAuthentic)
	}
	return k, nil
}

// unlockKeyFile accepts the key of a key file if the store still has a
// key-file slot (the first is the one marked used).
func (f *File) unlockKeyFile(s Secret) (*crypto.MasterKey, *Slot, error) {
	if err := f.Verify(s.Key); err != nil {
		return nil, nil, err
	}
	for i := range f.Slots {
		if f.Slots[i].Kind == KeyFile {
			return s.Key, &f.Slots[i], nil
		}
	}
	return nil, nil, ErrNoKeyFile
}

func (f *File) count(kind Kind) int {
	n := 0
	for _, s := range f.Slots {
		if s.Kind == kind {
			n++
		}
	}
	return n
}
