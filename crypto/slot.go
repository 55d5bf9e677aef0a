package crypto

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Key slots keep the master key for a secret the user holds: a passphrase
// (Argon2id) or a recovery code (HKDF; the code is 160 random bits, so a
// slow KDF would add nothing) gives a key-encryption key (KEK), which opens
// the slot's private key, to which the master key is sealed. The slot
// file's layout is package keyslot's; this file holds the primitives.

const (
	labelSlots    = "sealfs key-slots v1"
	labelRecovery = "sealfs recovery-code v1"
)

// Argon2Params are the Argon2id cost parameters of a passphrase slot; they
// are stored with the slot, so they can be raised later without breaking
// slots made before.
type Argon2Params struct {
	Time      uint32 // passes
	MemoryKiB uint32
	Threads   uint8
}

// DefaultArgon2 costs 64 MiB and takes about 0.4 s on a 2-core machine
// (measured: 16 passes, 2 lanes: 0.30-0.45 s), inside the 0.2-1.0 s that
// keeps an unlock bearable and a guess expensive.
var DefaultArgon2 = Argon2Params{Time: 16, MemoryKiB: 64 << 10, Threads: 2}

// ErrSlotParams reports Argon2id parameters outside what sealfs accepts:
// a slot file asking for terabytes of memory must not be obeyed.
var ErrSlotParams = errors.New("key slot parameters out of range")

// Check refuses costs so low that they protect nothing or so high that a
// tampered slot file could exhaust the machine.
func (p Argon2Params) Check() error {
	if p.Time < 1 || p.Time > 1000 || p.MemoryKiB < 8<<10 || p.MemoryKiB > 4<<20 || p.Threads < 1 || p.Threads > 64 {
		return fmt.Errorf("%w: argon2id time %d, memory %d KiB, threads %d", ErrSlotParams, p.Time, p.MemoryKiB, p.Threads)
	}
	return nil
}

// SlotSaltSize is the size of every slot's random salt.
const SlotSaltSize = 16

// NewSlotSalt returns a random salt for a new slot.
func NewSlotSalt() ([]byte, error) {
	s := make([]byte, SlotSaltSize)
	if _, err := rand.Read(s); err != nil {
		return nil, fmt.Errorf("new slot salt: %w", err)
	}
	return s, nil
}

// PassphraseKEK derives a slot's key-encryption key from a passphrase. The
// caller clears it.
func PassphraseKEK(passphrase, salt []byte, p Argon2Params) ([]byte, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	return argon2.IDKey(passphrase, salt, p.Time, p.MemoryKiB, p.Threads, KeySize), nil
}

// RecoveryKEK derives a slot's key-encryption key from a recovery code's
// random bytes. The caller clears it.
func RecoveryKEK(code, salt []byte) []byte {
	out, err := hkdf.Key(sha256.New, code, salt, labelRecovery, KeySize)
	if err != nil {
		panic("sealfs/crypto: hkdf: " + err.Error())
	}
	return out
}

// A slot that takes a secret (passphrase, recovery code) is an HPKE
// recipient (RFC 9180; ML-KEM-768 + X25519, HKDF-SHA256, AES-256-GCM): its
// private key is derived from a random seed, the seed is wrapped under the
// key-encryption key the secret gives, and the master key is sealed to the
// public key. So a new master key (rotation) is sealed to every slot
// without knowing any slot's secret, and a slot's secret learns only the
// master keys sealed to it since it was set. The hybrid KEM keeps a sealed
// key safe from a future quantum computer that could break X25519 alone:
// the bucket keeps these for years.
var (
	slotKEM  = hpke.MLKEM768X25519()
	slotKDF  = hpke.HKDFSHA256()
	slotAEAD = hpke.AES256GCM()
)

// SlotSeedSize is the size of a slot's private key seed.
const SlotSeedSize = 32

// WrappedSeedSize is the size of a slot seed wrapped under its KEK.
const WrappedSeedSize = 12 + SlotSeedSize + 16

// NewSlotSeed returns a new slot's private key seed and its public key.
// The caller clears the seed.
func NewSlotSeed() (seed, public []byte, err error) {
	seed = make([]byte, SlotSeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, nil, fmt.Errorf("new slot seed: %w", err)
	}
	priv, err := slotKEM.DeriveKeyPair(seed)
	if err != nil {
		return nil, nil, fmt.Errorf("new slot key: %w", err)
	}
	return seed, priv.PublicKey().Bytes(), nil
}

// WrapSlotSeed seals a slot's seed under kek: nonce(12) || AES-256-GCM(seed)
// || tag(16). aad binds it to its store and slot.
func WrapSlotSeed(kek, seed, aad []byte) []byte {
	return newAEAD(kek).Seal(nil, nil, seed, aad)
}

// UnwrapSlotSeed opens what WrapSlotSeed sealed; ErrWrongKey when kek or
// aad differ or the bytes were changed (a wrong passphrase, mostly). The
// caller clears the seed.
func UnwrapSlotSeed(kek, wrapped, aad []byte) ([]byte, error) {
	if len(wrapped) != WrappedSeedSize {
		return nil, fmt.Errorf("wrapped slot seed: %d bytes, want %d: %w", len(wrapped), WrappedSeedSize, ErrWrongKey)
	}
	seed, err := newAEAD(kek).Open(nil, nil, wrapped, aad)
	if err != nil {
		return nil, ErrWrongKey
	}
	return seed, nil
}

// SealToSlot seals k to a slot's public key (HPKE base mode, info aad).
func SealToSlot(public []byte, k *MasterKey, aad []byte) ([]byte, error) {
	pub, err := slotKEM.NewPublicKey(public)
	if err != nil {
		return nil, fmt.Errorf("slot public key: %w", ErrWrongKey)
	}
	return hpke.Seal(pub, slotKDF, slotAEAD, aad, k.key[:])
}

// OpenSlot opens the master key sealed to the slot whose seed is given;
// ErrWrongKey when anything differs.
func OpenSlot(seed, sealed, aad []byte) (*MasterKey, error) {
	priv, err := slotKEM.DeriveKeyPair(seed)
	if err != nil {
		return nil, ErrWrongKey
	}
	b, err := hpke.Open(priv, slotKDF, slotAEAD, aad, sealed)
	if err != nil || len(b) != KeySize {
		return nil, ErrWrongKey
	}
	defer clear(b)
	return newMasterKey([KeySize]byte(b)), nil
}

// SlotsMAC returns HMAC-SHA256 of b under a key derived from the master key
// (label "sealfs key-slots v1"): it authenticates the slot file, whose
// listing (kinds, dates) no secret protects.
func (k *MasterKey) SlotsMAC(b []byte) []byte {
	mk := k.derive(labelSlots, KeySize)
	defer clear(mk)
	m := hmac.New(sha256.New, mk)
	m.Write(b)
	return m.Sum(nil)
}

// RecoveryCodeSize is the number of random bytes in a recovery code.
const RecoveryCodeSize = 20

// recoveryEncoding is base32 (RFC 4648) without padding: letters and the
// digits 2-7, none that reads like another in print (no 0, 1, 8, 9).
var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewRecoveryCode returns a random recovery code: its bytes and the text a
// human writes down, 8 groups of 4 characters ("ABCD-EFGH-...").
func NewRecoveryCode() (code []byte, text string, err error) {
	code = make([]byte, RecoveryCodeSize)
	if _, err := rand.Read(code); err != nil {
		return nil, "", fmt.Errorf("new recovery code: %w", err)
	}
	s := recoveryEncoding.EncodeToString(code)
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i : i+4])
	}
	return code, b.String(), nil
}

// ParseRecoveryCode returns the bytes of a recovery code typed back in any
// case, with or without its dashes and spaces; ok is false for anything
// else (a passphrase).
func ParseRecoveryCode(text []byte) (code []byte, ok bool) {
	s := strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ':
			return -1
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, strings.TrimSpace(string(text)))
	if len(s) != recoveryEncoding.EncodedLen(RecoveryCodeSize) {
		return nil, false
	}
	code, err := recoveryEncoding.DecodeString(s)
	if err != nil || len(code) != RecoveryCodeSize {
		return nil, false
	}
	return code, true
}
