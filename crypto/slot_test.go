package crypto_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/sealfs/sealfs/crypto"
)

// cheapArgon2 keeps the tests fast; the default's cost is measured by
// BenchmarkPassphraseKEK.
var cheapArgon2 = crypto.Argon2Params{Time: 1, MemoryKiB: 8 << 10, Threads: 1}

// TestSlotSeedAndSeal: a slot's seed opens only with its KEK and AAD, and
// the master key sealed to its public key only with its seed and AAD; a
// new key sealed to the same public key needs no secret.
func TestSlotSeedAndSeal(t *testing.T) {
	k, err := crypto.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	salt, err := crypto.NewSlotSalt()
	if err != nil {
		t.Fatal(err)
	}
	kek, err := crypto.PassphraseKEK([]byte("correct horse"), salt, cheapArgon2)
	if err != nil {
		t.Fatal(err)
	}
	seed, public, err := crypto.NewSlotSeed()
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("store\x00slot")
	w := crypto.WrapSlotSeed(kek, seed, aad)
	if len(w) != crypto.WrappedSeedSize {
		t.Fatalf("wrapped seed is %d bytes, want %d", len(w), crypto.WrappedSeedSize)
	}
	if w2 := crypto.WrapSlotSeed(kek, seed, aad); bytes.Equal(w, w2) {
		t.Error("two wraps of one seed are equal: the nonce is not random")
	}
	got, err := crypto.UnwrapSlotSeed(kek, w, aad)
	if err != nil || !bytes.Equal(got, seed) {
		t.Fatalf("unwrap: %v", err)
	}
	sealed, err := crypto.SealToSlot(public, k, aad)
	if err != nil {
		t.Fatal(err)
	}
	if opened, err := crypto.OpenSlot(seed, sealed, aad); err != nil || opened.ID() != k.ID() {
		t.Fatalf("open sealed key: %v", err)
	}
	// Rotation: a new key sealed to the public key alone.
	k2, _ := crypto.GenerateMasterKey()
	sealed2, err := crypto.SealToSlot(public, k2, aad)
	if err != nil {
		t.Fatal(err)
	}
	if opened, err := crypto.OpenSlot(seed, sealed2, aad); err != nil || opened.ID() != k2.ID() {
		t.Fatalf("open the key sealed without the secret: %v", err)
	}

	wrongKEK, _ := crypto.PassphraseKEK([]byte("correct horsf"), salt, cheapArgon2)
	otherSalt, _ := crypto.NewSlotSalt()
	saltKEK, _ := crypto.PassphraseKEK([]byte("correct horse"), otherSalt, cheapArgon2)
	flipped := bytes.Clone(w)
	flipped[20] ^= 1
	for name, tc := range map[string]struct {
		kek, w, aad []byte
	}{
		"wrong passphrase": {wrongKEK, w, aad},
		"other salt":       {saltKEK, w, aad},
		"other aad":        {kek, w, []byte("store\x00slot2")},
		"flipped bit":      {kek, flipped, aad},
		"short":            {kek, w[:len(w)-1], aad},
	} {
		if _, err := crypto.UnwrapSlotSeed(tc.kek, tc.w, tc.aad); !errors.Is(err, crypto.ErrWrongKey) {
			t.Errorf("seed, %s: %v, want ErrWrongKey", name, err)
		}
	}
	otherSeed, _, _ := crypto.NewSlotSeed()
	flippedSealed := bytes.Clone(sealed)
	flippedSealed[len(sealed)-20] ^= 1
	for name, tc := range map[string]struct {
		seed, sealed, aad []byte
	}{
		"other seed":  {otherSeed, sealed, aad},
		"other aad":   {seed, sealed, []byte("store\x00slot2")},
		"flipped bit": {seed, flippedSealed, aad},
		"short":       {seed, sealed[:len(sealed)-1], aad},
	} {
		if _, err := crypto.OpenSlot(tc.seed, tc.sealed, tc.aad); !errors.Is(err, crypto.ErrWrongKey) {
			t.Errorf("sealed key, %s: %v, want ErrWrongKey", name, err)
		}
	}
	if _, err := crypto.SealToSlot(public[:10], k, aad); err == nil {
		t.Error("sealed to a cut public key")
	}
}

func TestArgon2ParamsCheck(t *testing.T) {
	if err := crypto.DefaultArgon2.Check(); err != nil {
		t.Fatal(err)
	}
	if crypto.DefaultArgon2.MemoryKiB < 64<<10 || crypto.DefaultArgon2.Time < 3 {
		t.Errorf("default %+v is below 64 MiB and 3 passes", crypto.DefaultArgon2)
	}
	for _, p := range []crypto.Argon2Params{
		{Time: 0, MemoryKiB: 64 << 10, Threads: 1},
		{Time: 1, MemoryKiB: 1024, Threads: 1},
		{Time: 1, MemoryKiB: 1 << 30, Threads: 1},
		{Time: 1, MemoryKiB: 64 << 10, Threads: 0},
		{Time: 100000, MemoryKiB: 64 << 10, Threads: 1},
	} {
		if _, err := crypto.PassphraseKEK([]byte("x"), make([]byte, 16), p); !errors.Is(err, crypto.ErrSlotParams) {
			t.Errorf("%+v: %v, want ErrSlotParams", p, err)
		}
	}
}

func TestRecoveryCode(t *testing.T) {
	code, text, err := crypto.NewRecoveryCode()
	if err != nil {
		t.Fatal(err)
	}
	groups := strings.Split(text, "-")
	if len(groups) != 8 || len(code) != crypto.RecoveryCodeSize {
		t.Fatalf("code %q: %d groups, %d bytes", text, len(groups), len(code))
	}
	for _, g := range groups {
		if len(g) != 4 || strings.Trim(g, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
			t.Errorf("group %q of %q", g, text)
		}
	}
	for _, typed := range []string{
		text,
		strings.ToLower(text),
		strings.ReplaceAll(text, "-", ""),
		strings.ReplaceAll(text, "-", " "),
		"  " + text + "\n",
	} {
		got, ok := crypto.ParseRecoveryCode([]byte(typed))
		if !ok || !bytes.Equal(got, code) {
			t.Errorf("ParseRecoveryCode(%q) = %x, %v; want %x", typed, got, ok, code)
		}
	}
	for _, notCode := range []string{
		"", "correct horse battery staple", text[:len(text)-1], text + "A",
		strings.Replace(text, text[:1], "1", 1), // 1 is not base32
	} {
		if _, ok := crypto.ParseRecoveryCode([]byte(notCode)); ok {
			t.Errorf("ParseRecoveryCode(%q) took it for a code", notCode)
		}
	}
	_, text2, _ := crypto.NewRecoveryCode()
	if text == text2 {
		t.Error("two recovery codes are equal")
	}

	salt, _ := crypto.NewSlotSalt()
	if bytes.Equal(crypto.RecoveryKEK(code, salt), crypto.RecoveryKEK(code, make([]byte, 16))) {
		t.Error("the recovery KEK ignores its salt")
	}
}

func TestSlotsMAC(t *testing.T) {
	k, _ := crypto.GenerateMasterKey()
	k2, _ := crypto.GenerateMasterKey()
	a := k.SlotsMAC([]byte("slots"))
	if !bytes.Equal(a, k.SlotsMAC([]byte("slots"))) {
		t.Error("MAC is not deterministic")
	}
	if bytes.Equal(a, k.SlotsMAC([]byte("slotS"))) || bytes.Equal(a, k2.SlotsMAC([]byte("slots"))) {
		t.Error("MAC ignores its input or its key")
	}
	if bytes.Equal(a, k.ConfigMAC([]byte("slots"))) {
		t.Error("the slot MAC key is the config MAC key")
	}
}

// BenchmarkPassphraseKEK is what one passphrase unlock costs with the
// default parameters (the bar: 0.2-1.0 s here).
func BenchmarkPassphraseKEK(b *testing.B) {
	salt, _ := crypto.NewSlotSalt()
	for b.Loop() {
		if _, err := crypto.PassphraseKEK([]byte("correct horse battery staple"), salt, crypto.DefaultArgon2); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSealKey(t *testing.T) {
	k1, _ := crypto.GenerateMasterKey()
	k2, _ := crypto.GenerateMasterKey()
	k3, _ := crypto.GenerateMasterKey()
	s := k1.SealKey(k2)
	got, err := k1.OpenKey(s, k2.ID())
	if err != nil || got.ID() != k2.ID() {
		t.Fatalf("open: %v", err)
	}
	if _, err := k3.OpenKey(s, k2.ID()); !errors.Is(err, crypto.ErrWrongKey) {
		t.Errorf("another key opens it: %v", err)
	}
	if _, err := k1.OpenKey(s, k3.ID()); !errors.Is(err, crypto.ErrWrongKey) {
		t.Errorf("opens for another ID: %v", err)
	}
	s[20] ^= 1
	if _, err := k1.OpenKey(s, k2.ID()); !errors.Is(err, crypto.ErrWrongKey) {
		t.Errorf("flipped bit: %v", err)
	}
}
