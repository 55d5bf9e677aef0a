package crypto

import (
	"crypto/rand"
	"fmt"
)

const labelCredentials = "sealfs credentials v1"

// credentialsAAD binds sealed credentials to their purpose and, from store
// format 2, to the bucket URL they were given for, so they are never
// presented to another endpoint. url "" is the format 1 binding (purpose
// only), read once when a store is upgraded.
func credentialsAAD(url string) []byte {
	aad := []byte("sealfs bucket credentials")
	if url != "" {
		aad = append(append(aad, " for "...), url...)
	}
	return aad
}

// SealCredentials encrypts a bucket credentials file for the bucket at url
// with a key derived from the master key (HKDF label "sealfs credentials
// v1"): nonce || ciphertext || tag.
func (k *MasterKey) SealCredentials(url string, plain []byte) ([]byte, error) {
	aead := newAEAD(k.derive(labelCredentials, KeySize))
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal credentials: %w", err)
	}
	return aead.Seal(nonce, nonce, plain, credentialsAAD(url)), nil
}

// OpenCredentials reverses SealCredentials; ErrAuth when the bytes were
// changed, sealed under another key or for another URL.
func (k *MasterKey) OpenCredentials(url string, sealed []byte) ([]byte, error) {
	aead := newAEAD(k.derive(labelCredentials, KeySize))
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("open credentials: too short: %w", ErrAuth)
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], credentialsAAD(url))
	if err != nil {
		return nil, fmt.Errorf("open credentials: %w", ErrAuth)
	}
	return plain, nil
}
