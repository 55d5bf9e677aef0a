package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync/atomic"
)

// FileID identifies one content file; it is random, chosen at creation.
type FileID [16]byte

// NewFileID returns a random file ID.
func NewFileID() (FileID, error) {
	var id FileID
	if _, err := rand.Read(id[:]); err != nil {
		return id, fmt.Errorf("new file ID: %w", err)
	}
	return id, nil
}

// String returns the file ID in lowercase hex.
func (id FileID) String() string { return hex.EncodeToString(id[:]) }

// WrappedDEKSize is the size of a wrapped DEK: nonce(12) || sealed DEK(32) || tag(16).
const WrappedDEKSize = 12 + KeySize + 16

// Wrapper wraps and unwraps per-file DEKs with a key derived from the master
// key (HKDF label "sealfs dek-wrap v1"), using AES-256-GCM with a random
// nonce. The AAD is fileID || keyID, so a wrapped DEK cannot be moved to
// another file's header or presented as belonging to another key. A Wrapper
// is safe for concurrent use.
type Wrapper struct {
	cur atomic.Pointer[wrapKey]
	// old is the key a rotation of a running store moved away from: DEKs
	// it wrapped still unwrap (records not rewrapped yet, or written back
	// from memory); nothing new is wrapped under it.
	old atomic.Pointer[wrapKey]
}

type wrapKey struct {
	aead  cipher.AEAD
	keyID KeyID
}

func newWrapKey(k *MasterKey) *wrapKey {
	kek := k.derive(labelDEKKey, KeySize)
	defer clear(kek)
	return &wrapKey{aead: newAEAD(kek), keyID: k.ID()}
}

// NewWrapper returns the DEK wrapper for k.
func NewWrapper(k *MasterKey) *Wrapper {
	w := &Wrapper{}
	w.cur.Store(newWrapKey(k))
	return w
}

// Advance makes next the key new DEKs are wrapped under; the current one
// still unwraps (key rotation of a running store).
func (w *Wrapper) Advance(next *MasterKey) {
	w.old.Store(w.cur.Load())
	w.cur.Store(newWrapKey(next))
}

// KeyID returns the ID of the master key this wrapper wraps under.
func (w *Wrapper) KeyID() KeyID { return w.cur.Load().keyID }

// NewDEK returns a fresh random DEK for fileID, wrapped; the plain DEK never
// leaves the package.
func (w *Wrapper) NewDEK(fileID FileID) (wrapped []byte, err error) {
	k, err := w.newFileKey(fileID)
	return k.Wrapped, err
}

// newFileKey is NewDEK with the ID of the key it is wrapped under (read
// once: a rotation may Advance the wrapper at any time).
func (w *Wrapper) newFileKey(fileID FileID) (FileKey, error) {
	var dek [KeySize]byte
	defer clear(dek[:])
	if _, err := rand.Read(dek[:]); err != nil {
		return FileKey{}, fmt.Errorf("new DEK: %w", err)
	}
	cur := w.cur.Load()
	return FileKey{KeyID: cur.keyID, Wrapped: cur.wrap(fileID, dek[:])}, nil
}

// CheckWrapped reports whether wrapped is a DEK this wrapper can unwrap for
// fileID under keyID: nil, or an error wrapping ErrWrongKey.
func (w *Wrapper) CheckWrapped(fileID FileID, keyID KeyID, wrapped []byte) error {
	dek, err := w.unwrap(fileID, keyID, wrapped)
	clear(dek)
	return err
}

// FileKey is a file's DEK as its content record keeps it: wrapped by the
// master key KeyID names, with fileID || KeyID as the AAD. From format
// version 2 this is the only copy: the ciphertext does not carry it, so
// rewrapping (key rotation) or destroying it (crypto-shredding) reaches every
// copy of the ciphertext, wherever it is.
type FileKey struct {
	KeyID   KeyID
	Wrapped []byte // WrappedDEKSize bytes
}

// Rewrap moves fileID's DEK from the master key behind from to the one
// behind to. Content blocks and (from version 2) headers do not depend on
// the wrapping, so key rotation rewrites content records and nothing else.
func Rewrap(from, to *Wrapper, fileID FileID, k FileKey) (FileKey, error) {
	dek, err := from.unwrap(fileID, k.KeyID, k.Wrapped)
	if err != nil {
		return FileKey{}, fmt.Errorf("rewrap %s: %w", fileID, err)
	}
	defer clear(dek)
	cur := to.cur.Load()
	return FileKey{KeyID: cur.keyID, Wrapped: cur.wrap(fileID, dek)}, nil
}

// Stale reports whether k is wrapped under the key Advance moved away
// from (so a rotation must rewrap it).
func (w *Wrapper) Stale(k FileKey) bool {
	old := w.old.Load()
	return old != nil && k.KeyID == old.keyID && len(k.Wrapped) > 0
}

func (w *Wrapper) wrap(fileID FileID, dek []byte) []byte { return w.cur.Load().wrap(fileID, dek) }

func (k *wrapKey) wrap(fileID FileID, dek []byte) []byte {
	aad := wrapAAD(fileID, k.keyID)
	return k.aead.Seal(make([]byte, 0, WrappedDEKSize), nil, dek, aad[:])
}

// unwrap returns the plain DEK; the caller clears it.
func (w *Wrapper) unwrap(fileID FileID, keyID KeyID, wrapped []byte) ([]byte, error) {
	k := w.cur.Load()
	if old := w.old.Load(); old != nil && keyID == old.keyID {
		k = old
	}
	if keyID != k.keyID {
		return nil, fmt.Errorf("file %s is sealed under key %s, have key %s: %w",
			fileID, keyID, k.keyID, ErrWrongKey)
	}
	if len(wrapped) != WrappedDEKSize {
		return nil, fmt.Errorf("wrapped DEK of file %s is %d bytes, want %d: %w",
			fileID, len(wrapped), WrappedDEKSize, ErrAuth)
	}
	aad := wrapAAD(fileID, keyID)
	dek, err := k.aead.Open(make([]byte, 0, KeySize), nil, wrapped, aad[:])
	if err != nil {
		// The key IDs match, so the key is right (barring a 2^-128 ID
		// collision): the header was tampered with. Say both.
		return nil, fmt.Errorf("unwrap DEK of file %s: %w (%w)", fileID, ErrWrongKey, ErrAuth)
	}
	return dek, nil
}

func wrapAAD(fileID FileID, keyID KeyID) (aad [32]byte) {
	copy(aad[:16], fileID[:])
	copy(aad[16:], keyID[:])
	return aad
}

// newAEAD returns AES-256-GCM with random 96-bit nonces drawn from
// crypto/rand's source on every Seal and stored in front of the ciphertext
// (nonce || ciphertext || tag, 28 bytes of overhead).
func newAEAD(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("sealfs/crypto: aes: " + err.Error()) // only a bad key length fails
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		panic("sealfs/crypto: gcm: " + err.Error())
	}
	return aead
}
