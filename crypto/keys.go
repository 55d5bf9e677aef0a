package crypto

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// KeySize is the size in bytes of the master key, of DEKs and of every
// derived key.
const KeySize = 32

// HKDF labels: one per purpose, so that no derived key is ever used for two
// jobs, and the master key itself is used for none.
const (
	labelKeyID  = "sealfs key-id v1"
	labelDEKKey = "sealfs dek-wrap v1"
	labelBadger = "sealfs badger-at-rest v1"
	labelMeta   = "sealfs meta-value v2"
	labelConfig = "sealfs config-mac v2"
)

// ErrWrongKey reports that a DEK could not be unwrapped with the master key
// at hand: the file was sealed under another key (its key ID differs), or
// the wrapped DEK failed authentication.
var ErrWrongKey = errors.New("wrong master key")

// KeyID names a master key without revealing it: it is derived one-way from
// the key (HKDF label "sealfs key-id v1"), and tags every wrapped DEK so key
// rotation knows what to rewrap.
type KeyID [16]byte

// String returns the key ID in lowercase hex.
func (id KeyID) String() string { return hex.EncodeToString(id[:]) }

// MasterKey is the root secret of a sealfs store. Its bytes never leave the
// package except through the key file: it formats as its key ID under every
// fmt verb, so it cannot leak into a log line by accident.
type MasterKey struct {
	key [KeySize]byte
	id  KeyID
}

// GenerateMasterKey returns a new random master key.
func GenerateMasterKey() (*MasterKey, error) {
	var b [KeySize]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("generate master key: %w", err)
	}
	return newMasterKey(b), nil
}

func newMasterKey(b [KeySize]byte) *MasterKey {
	k := &MasterKey{key: b}
	copy(k.id[:], k.derive(labelKeyID, len(k.id)))
	return k
}

// ID returns the key's public identifier.
func (k *MasterKey) ID() KeyID { return k.id }

// BadgerKey returns the 32-byte key for Badger's encryption at rest
// (HKDF-SHA256 of the master key, label "sealfs badger-at-rest v1").
func (k *MasterKey) BadgerKey() []byte { return k.derive(labelBadger, KeySize) }

// MetaValueKey returns the 32-byte key that seals every metadata value
// (HKDF-SHA256 of the master key, label "sealfs meta-value v2").
func (k *MasterKey) MetaValueKey() []byte { return k.derive(labelMeta, KeySize) }

// ConfigMAC returns HMAC-SHA256 of b under a key derived from the master
// key (label "sealfs config-mac v2"): it authenticates the store config.
func (k *MasterKey) ConfigMAC(b []byte) []byte {
	mk := k.derive(labelConfig, KeySize)
	defer clear(mk)
	m := hmac.New(sha256.New, mk)
	m.Write(b)
	return m.Sum(nil)
}

// String describes the key by its ID; it never shows key bytes.
func (k MasterKey) String() string { return "sealfs master key " + k.id.String() }

// Format makes every fmt verb (%x and %d included) print String, never the
// key bytes.
func (k MasterKey) Format(s fmt.State, _ rune) { _, _ = s.Write([]byte(k.String())) }

// derive returns n bytes of HKDF-SHA256(master key, no salt, label).
func (k *MasterKey) derive(label string, n int) []byte {
	out, err := hkdf.Key(sha256.New, k.key[:], nil, label, n)
	if err != nil {
		// Only an impossible length makes HKDF fail; n is a constant here.
		panic("sealfs/crypto: hkdf: " + err.Error())
	}
	return out
}
