package crypto

import (
	"crypto/rand"
	"fmt"
)

const labelCredentials = "sealfs credentials v1"

// credentialsAAD binds sealed credentials to their purpose.
var credentialsAAD = []byte("sealfs bucket credentials")

// SealCredentials encrypts a bucket credentials file with a key derived from
// the master key (HKDF label "sealfs credentials v1"): nonce || ciphertext || tag.
func (k *MasterKey) SealCredentials(plain []byte) ([]byte, error) {
	aead := newAEAD(k.derive(labelCredentials, KeySize))
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal credentials: %w", err)
	}
	return aead.Seal(nonce, nonce, plain, credentialsAAD), nil
}

// OpenCredentials reverses SealCredentials; ErrAuth when the bytes were
// changed or sealed under another key.
func (k *MasterKey) OpenCredentials(sealed []byte) ([]byte, error) {
	aead := newAEAD(k.derive(labelCredentials, KeySize))
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("open credentials: too short: %w", ErrAuth)
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], credentialsAAD)
	if err != nil {
		return nil, fmt.Errorf("open credentials: %w", ErrAuth)
	}
	return plain, nil
}
