package crypto

import "fmt"

// labelRotation derives the key that seals one master key under another
// while a rotation is under way (the store's rotation state file).
const labelRotation = "sealfs rotation v1"

// SealKey seals other under k: nonce(12) || AES-256-GCM(other) || tag(16),
// AAD "sealfs rotation v1" || k's ID || other's ID. A rotation keeps the new
// key sealed under the old one and the old under the new, so that a
// rotation cut short is finished with either.
func (k *MasterKey) SealKey(other *MasterKey) []byte {
	kek := k.derive(labelRotation, KeySize)
	defer clear(kek)
	return newAEAD(kek).Seal(nil, nil, other.key[:], rotationAAD(k.id, other.id))
}

// OpenKey opens what SealKey sealed under k for the key named otherID;
// ErrWrongKey when anything differs.
func (k *MasterKey) OpenKey(sealed []byte, otherID KeyID) (*MasterKey, error) {
	kek := k.derive(labelRotation, KeySize)
	defer clear(kek)
	b, err := newAEAD(kek).Open(nil, nil, sealed, rotationAAD(k.id, otherID))
	if err != nil || len(b) != KeySize {
		return nil, fmt.Errorf("sealed key %s: %w", otherID, ErrWrongKey)
	}
	defer clear(b)
	other := newMasterKey([KeySize]byte(b))
	if other.id != otherID {
		return nil, fmt.Errorf("sealed key is %s, want %s: %w", other.id, otherID, ErrWrongKey)
	}
	return other, nil
}

func rotationAAD(a, b KeyID) []byte {
	aad := append([]byte(labelRotation), a[:]...)
	return append(aad, b[:]...)
}
