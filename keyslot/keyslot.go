// Package keyslot keeps the ways a store's master key can be unlocked, in
// STORE/keys.json (and, uploaded as it is, in the bucket object "keyslots"):
//
//   - a key-file slot: the key file holds the master key itself (key file
//     format v1), so the slot keeps no secret; it records that key files
//     may unlock the store, and when one last did (no path: the file
//     travels to the bucket);
//   - a passphrase slot: the master key wrapped under Argon2id(passphrase);
//   - a recovery-code slot: the master key wrapped under HKDF(a random code
//     shown once).
//
// The file is readable without the key (unlocking needs the KDF
// parameters), and once a slot has given the master key the whole file is
// checked against its MAC. docs/FORMAT.md has every field.
package keyslot

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sealfs/sealfs/crypto"
)

// Version is the slot file format written here.
const Version = 1

// Kind is what secret a slot takes.
type Kind string

const (
	KeyFile      Kind = "key-file"
	Passphrase   Kind = "passphrase"
	RecoveryCode Kind = "recovery-code"
)

// Errors for the CLI to turn into one-line messages (all bad input).
var (
	ErrNoSlot       = errors.New("opens no key slot")
	ErrNoKeyFile    = errors.New("the store takes no key file any more (its key-file slots were removed); unlock it with a passphrase or a recovery code")
	ErrLastSlot     = errors.New("refusing to remove the last key slot: nothing could unlock the store after it")
	ErrUnknownSlot  = errors.New("no such key slot")
	ErrNotAuthentic = errors.New("key slots fail authentication (edited outside sealfs?)")
)

// KDF says how a slot's key-encryption key is derived from its secret.
type KDF struct {
	Alg       string `json:"alg"` // "argon2id" or "hkdf-sha256"
	Salt      string `json:"salt"`
	Time      uint32 `json:"time,omitempty"`
	MemoryKiB uint32 `json:"memory_kib,omitempty"`
	Threads   uint8  `json:"threads,omitempty"`
}

const (
	algArgon2id = "argon2id"
	algHKDF     = "hkdf-sha256"
)

// Slot is one way to unlock the store.
type Slot struct {
	ID       string    `json:"id"`
	Kind     Kind      `json:"kind"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used,omitzero"`
	KDF      *KDF      `json:"kdf,omitempty"`
	// For the kinds that take a secret: the slot's HPKE public key, its
	// private key seed wrapped under the secret's KEK, and the master key
	// sealed to the public key (all hex).
	Public string `json:"public,omitempty"`
	Seed   string `json:"seed,omitempty"`
	Sealed string `json:"sealed,omitempty"`
}

// File is the slot file of one store.
type File struct {
	Version int    `json:"version"`
	StoreID string `json:"store_id"`
	KeyID   string `json:"key_id"`
	Slots   []Slot `json:"slots"`
	// MAC is hex of HMAC-SHA256 (crypto.MasterKey.SlotsMAC) over the
	// file's JSON with MAC empty.
	MAC string `json:"mac"`

	implicit bool // made by Implicit, not read: it has no MAC yet
}

// maxSlots bounds the work one unlock can be made to do (each passphrase
// slot costs an Argon2id run).
const maxSlots = 32

// New returns a slot file for the store storeID with no slots yet.
func New(storeID string, k *crypto.MasterKey) *File {
	return &File{Version: Version, StoreID: storeID, KeyID: k.ID().String()}
}

// Implicit is the slot file of a store made before key slots: one key-file
// slot, whose ID is the start of the key ID so that it reads the same until
// the file is first written.
func Implicit(storeID, keyID string) *File {
	id := keyID
	if len(id) > 8 {
		id = id[:8]
	}
	return &File{Version: Version, StoreID: storeID, KeyID: keyID, Slots: []Slot{{ID: id, Kind: KeyFile}}, implicit: true}
}

// Parse decodes a slot file and checks its form; Verify authenticates it.
func Parse(b []byte) (*File, error) {
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("key slot file is damaged: %w", err)
	}
	if f.Version != Version {
		return nil, fmt.Errorf("key slot file has version %d; this sealfs reads version %d", f.Version, Version)
	}
	if len(f.Slots) > maxSlots {
		return nil, fmt.Errorf("key slot file is damaged: %d slots (at most %d)", len(f.Slots), maxSlots)
	}
	return &f, nil
}

// Marshal encodes f as it is stored.
func (f *File) Marshal() []byte {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		panic("keyslot: marshal: " + err.Error()) // strings, ints and times only
	}
	return append(b, '\n')
}

func (f *File) mac(k *crypto.MasterKey) string {
	c := *f
	c.MAC = ""
	b, err := json.Marshal(c)
	if err != nil {
		panic("keyslot: marshal: " + err.Error())
	}
	return hex.EncodeToString(k.SlotsMAC(b))
}

// Seal sets f's MAC under k, after any change.
func (f *File) Seal(k *crypto.MasterKey) { f.MAC, f.implicit = f.mac(k), false }

// Verify checks that f belongs to k and that nothing in it was changed.
// Only a file Implicit made has no MAC to check.
func (f *File) Verify(k *crypto.MasterKey) error {
	if f.KeyID != k.ID().String() {
		return fmt.Errorf("%w (slot file names key %s, the key is %s)", crypto.ErrWrongKey, f.KeyID, k.ID())
	}
	if f.implicit {
		return nil
	}
	if !hmac.Equal([]byte(f.MAC), []byte(f.mac(k))) {
		return ErrNotAuthentic
	}
	return nil
}

// Find returns the slot with the given ID.
func (f *File) Find(id string) (*Slot, error) {
	for i := range f.Slots {
		if f.Slots[i].ID == id {
			return &f.Slots[i], nil
		}
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownSlot, id)
}

// newSlotID returns a random slot ID that f does not use (8 hex digits).
func (f *File) newSlotID() (string, error) {
	for {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("new slot ID: %w", err)
		}
		id := hex.EncodeToString(b[:])
		if _, err := f.Find(id); err != nil {
			return id, nil
		}
	}
}

func (f *File) add(s Slot) (*Slot, error) {
	if len(f.Slots) >= maxSlots {
		return nil, fmt.Errorf("a store takes at most %d key slots", maxSlots)
	}
	id, err := f.newSlotID()
	if err != nil {
		return nil, err
	}
	s.ID, s.Created = id, time.Now().UTC().Truncate(time.Second)
	f.Slots = append(f.Slots, s)
	return &f.Slots[len(f.Slots)-1], nil
}

// AddKeyFile adds a key-file slot. Every key file holds the same master
// key, so the slot records that one more copy exists; which copy unlocked
// is not known.
func (f *File) AddKeyFile() (*Slot, error) {
	return f.add(Slot{Kind: KeyFile})
}

// AddPassphrase adds a slot that passphrase opens.
func (f *File) AddPassphrase(k *crypto.MasterKey, passphrase []byte, p crypto.Argon2Params) (*Slot, error) {
	s, err := f.add(Slot{Kind: Passphrase})
	if err != nil {
		return nil, err
	}
	if err := f.wrapPassphrase(s, k, passphrase, p); err != nil {
		f.Slots = f.Slots[:len(f.Slots)-1]
		return nil, err
	}
	return s, nil
}

// AddRecoveryCode adds a slot opened by a new random recovery code, whose
// text it returns: the only time it is ever shown.
func (f *File) AddRecoveryCode(k *crypto.MasterKey) (*Slot, string, error) {
	code, text, err := crypto.NewRecoveryCode()
	if err != nil {
		return nil, "", err
	}
	defer clear(code)
	salt, err := crypto.NewSlotSalt()
	if err != nil {
		return nil, "", err
	}
	s, err := f.add(Slot{Kind: RecoveryCode, KDF: &KDF{Alg: algHKDF, Salt: hex.EncodeToString(salt)}})
	if err != nil {
		return nil, "", err
	}
	kek := crypto.RecoveryKEK(code, salt)
	defer clear(kek)
	if err := f.setSecret(s, k, kek); err != nil {
		f.Slots = f.Slots[:len(f.Slots)-1]
		return nil, "", err
	}
	return s, text, nil
}

// Passwd gives the passphrase slot id a new passphrase (and a new salt).
func (f *File) Passwd(k *crypto.MasterKey, id string, passphrase []byte, p crypto.Argon2Params) error {
	s, err := f.Find(id)
	if err != nil {
		return err
	}
	if s.Kind != Passphrase {
		return fmt.Errorf("slot %s is a %s slot; only a passphrase slot has a passphrase to change", id, s.Kind)
	}
	return f.wrapPassphrase(s, k, passphrase, p)
}

func (f *File) wrapPassphrase(s *Slot, k *crypto.MasterKey, passphrase []byte, p crypto.Argon2Params) error {
	salt, err := crypto.NewSlotSalt()
	if err != nil {
		return err
	}
	kek, err := crypto.PassphraseKEK(passphrase, salt, p)
	if err != nil {
		return err
	}
	defer clear(kek)
	s.KDF = &KDF{Alg: algArgon2id, Salt: hex.EncodeToString(salt), Time: p.Time, MemoryKiB: p.MemoryKiB, Threads: p.Threads}
	return f.setSecret(s, k, kek)
}

// setSecret gives slot s a new key pair, its seed wrapped under kek, and k
// sealed to it. A new secret always gets a new key pair: whoever knew the
// old secret (and kept the old file) must not learn keys sealed later.
func (f *File) setSecret(s *Slot, k *crypto.MasterKey, kek []byte) error {
	seed, public, err := crypto.NewSlotSeed()
	if err != nil {
		return err
	}
	defer clear(seed)
	s.Public = hex.EncodeToString(public)
	s.Seed = hex.EncodeToString(crypto.WrapSlotSeed(kek, seed, f.aad(s)))
	return f.sealTo(s, k)
}

func (f *File) sealTo(s *Slot, k *crypto.MasterKey) error {
	public, err := hex.DecodeString(s.Public)
	if err != nil {
		return fmt.Errorf("slot %s: damaged public key", s.ID)
	}
	sealed, err := crypto.SealToSlot(public, k, f.aad(s))
	if err != nil {
		return fmt.Errorf("slot %s: %w", s.ID, err)
	}
	s.Sealed = hex.EncodeToString(sealed)
	return nil
}

// Reseal makes next the key every slot gives, without any slot's secret:
// the master key is sealed anew to each slot's public key, and the file
// names next (seal it under next). Key files hold the key itself, so their
// slots need nothing; the caller writes the new key file.
func (f *File) Reseal(next *crypto.MasterKey) error {
	for i := range f.Slots {
		if s := &f.Slots[i]; s.Kind != KeyFile {
			if err := f.sealTo(s, next); err != nil {
				return err
			}
		}
	}
	f.KeyID = next.ID().String()
	return nil
}

// Remove deletes slot id; it refuses the last one.
func (f *File) Remove(id string) (Slot, error) {
	s, err := f.Find(id)
	if err != nil {
		return Slot{}, err
	}
	if len(f.Slots) == 1 {
		return Slot{}, ErrLastSlot
	}
	removed := *s
	f.Slots = slices.DeleteFunc(f.Slots, func(s Slot) bool { return s.ID == id })
	return removed, nil
}

// aad binds a wrapped master key to its store, slot and kind: a slot
// copied into another store's file, or relabelled, does not open.
func (f *File) aad(s *Slot) []byte {
	aad := []byte("sealfs key slot v1")
	for _, part := range []string{f.StoreID, s.ID, string(s.Kind)} {
		aad = append(append(aad, 0), part...)
	}
	return aad
}
