package meta

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
)

// ErrDamaged reports a record whose value fails authentication: it was
// altered, or moved from another key. The message names the record's key
// (table tag and inode number), never its value.
var ErrDamaged = errors.New("metadata record fails authentication")

// ValueKeySize is the size of the key that seals every value.
const ValueKeySize = 32

// Sealed value format (docs/FORMAT.md): one version byte, then
// nonce(12) || AES-256-GCM ciphertext || tag(16). The AAD is valueAADPrefix
// followed by the record's Badger key, so a value opens only under the key
// it was written for: it cannot be altered, moved to another key, or
// presented for another inode. Badger's own encryption at rest (AES-CTR,
// unauthenticated) stays underneath and hides the keys.
const (
	sealedValueVersion = 2
	valueAADPrefix     = "sealfs meta value v2\x00"
	sealedOverhead     = 1 + 12 + 16
)

// sealer seals and opens values. It is safe for concurrent use. While a
// key rotation is under way it also opens values sealed under the previous
// key (prev); it seals under the current one only, passing every value
// through the rotation's rewrite first (so a record read before the
// rotation and written back after it is moved to the new key too).
type sealer struct {
	keys    atomic.Pointer[sealKeys]
	rewrite atomic.Pointer[Rewrite] // nil outside a rotation of a running store
}

type sealKeys struct {
	aead cipher.AEAD
	prev cipher.AEAD // nil outside a rotation
}

func newSealer(key, prev []byte) (*sealer, error) {
	aead, err := newValueAEAD(key)
	if err != nil {
		return nil, err
	}
	k := &sealKeys{aead: aead}
	if prev != nil {
		if k.prev, err = newValueAEAD(prev); err != nil {
			return nil, err
		}
	}
	s := &sealer{}
	s.keys.Store(k)
	return s, nil
}

func newValueAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != ValueKeySize {
		return nil, fmt.Errorf("metadata value key is %d bytes, want %d", len(key), ValueKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(block)
}

func valueAAD(key []byte) []byte {
	return append([]byte(valueAADPrefix), key...)
}

// seal returns the sealed form of plain for the record key.
func (s *sealer) seal(key, plain []byte) []byte {
	if rw := s.rewrite.Load(); rw != nil {
		// A value it cannot rewrite is written as given: Reseal reports it.
		if np, changed, err := (*rw)(key, plain); err == nil && changed {
			plain = np
		}
	}
	out := make([]byte, 1, sealedOverhead+len(plain))
	out[0] = sealedValueVersion
	return s.keys.Load().aead.Seal(out, nil, plain, valueAAD(key))
}

// open returns the plaintext of the value stored under key, or an error
// wrapping ErrDamaged.
func (s *sealer) open(key, sealed []byte) ([]byte, error) {
	plain, _, err := s.openWhich(key, sealed)
	return plain, err
}

// openWhich is open, and reports whether the value was sealed under the
// previous key (so a rotation must reseal it).
func (s *sealer) openWhich(key, sealed []byte) (plain []byte, old bool, err error) {
	if len(sealed) < sealedOverhead || sealed[0] != sealedValueVersion {
		return nil, false, fmt.Errorf("%s: %w", describeKey(key), ErrDamaged)
	}
	aad := valueAAD(key)
	k := s.keys.Load()
	if plain, err := k.aead.Open(nil, nil, sealed[1:], aad); err == nil {
		return plain, false, nil
	}
	if k.prev != nil {
		if plain, err := k.prev.Open(nil, nil, sealed[1:], aad); err == nil {
			return plain, true, nil
		}
	}
	return nil, false, fmt.Errorf("%s: %w", describeKey(key), ErrDamaged)
}

// unsealed reports whether the record under key is written by Badger itself
// (the inode sequence's lease) and so is not sealed.
func unsealed(key []byte) bool {
	return string(key) == keyInoSeq
}

// describeKey names a record for an error or log line without its name part
// (a file name is not for logs): "inode 12", "entry in directory 5".
func describeKey(key []byte) string {
	if len(key) < 9 {
		return strconv.Quote(string(key)) + " record"
	}
	ino := inoFromKey(key)
	switch key[0] {
	case tagInode:
		return fmt.Sprintf("inode record %d", ino)
	case tagEntry:
		return fmt.Sprintf("an entry of directory %d", ino)
	case tagContent:
		return fmt.Sprintf("content record of inode %d", ino)
	case tagXattr:
		return fmt.Sprintf("an xattr of inode %d", ino)
	case tagOrphan:
		return fmt.Sprintf("orphan mark of inode %d", ino)
	case tagUnsettled:
		return fmt.Sprintf("unsettled mark of inode %d", ino)
	case tagUpload:
		return "an upload job"
	case tagRetired:
		return "a retired version"
	case tagSchedule:
		return "a backup schedule"
	case tagRekey:
		return fmt.Sprintf("rekey record of directory %d", ino)
	}
	return fmt.Sprintf("record with tag %q", key[0])
}
