package keyslot_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/keyslot"
)

var cheap = crypto.Argon2Params{Time: 1, MemoryKiB: 8 << 10, Threads: 1}

const storeID = "0123456789abcdef0123456789abcdef"

func newKey(t *testing.T) *crypto.MasterKey {
	t.Helper()
	k, err := crypto.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// slotsOf returns a sealed, reparsed file with a key-file, a passphrase
// and a recovery-code slot: what a reader of keys.json gets.
func slotsOf(t *testing.T, k *crypto.MasterKey) (f *keyslot.File, code string) {
	t.Helper()
	f = keyslot.New(storeID, k)
	if _, err := f.AddKeyFile(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.AddPassphrase(k, []byte("correct horse"), cheap); err != nil {
		t.Fatal(err)
	}
	_, code, err := f.AddRecoveryCode(k)
	if err != nil {
		t.Fatal(err)
	}
	f.Seal(k)
	return reparse(t, f), code
}

func reparse(t *testing.T, f *keyslot.File) *keyslot.File {
	t.Helper()
	g, err := keyslot.Parse(f.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestUnlockEachKind(t *testing.T) {
	k := newKey(t)
	f, code := slotsOf(t, k)
	for name, s := range map[string]keyslot.Secret{
		"key file":         {Key: k},
		"passphrase":       {Passphrase: []byte("correct horse")},
		"recovery code":    {Passphrase: []byte(code)},
		"code, lower case": {Passphrase: []byte(strings.ToLower(strings.ReplaceAll(code, "-", "")))},
	} {
		got, slot, err := f.Unlock(s)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got.ID() != k.ID() {
			t.Errorf("%s: key %v, want %v", name, got.ID(), k.ID())
		}
		want := map[string]keyslot.Kind{"key file": keyslot.KeyFile, "passphrase": keyslot.Passphrase}[name]
		if want == "" {
			want = keyslot.RecoveryCode
		}
		if slot.Kind != want {
			t.Errorf("%s: opened a %s slot", name, slot.Kind)
		}
	}
}

func TestUnlockRefuses(t *testing.T) {
	k := newKey(t)
	f, code := slotsOf(t, k)
	other := newKey(t)
	for name, s := range map[string]keyslot.Secret{
		"wrong passphrase": {Passphrase: []byte("correct horsE")},
		"empty":            {Passphrase: nil},
		"other code":       {Passphrase: []byte(strings.Replace(code, code[:4], "AAAA", 1))},
	} {
		if _, _, err := f.Unlock(s); !errors.Is(err, keyslot.ErrNoSlot) {
			t.Errorf("%s: %v, want ErrNoSlot", name, err)
		}
	}
	if _, _, err := f.Unlock(keyslot.Secret{Key: other}); !errors.Is(err, crypto.ErrWrongKey) {
		t.Errorf("another store's key file: %v, want ErrWrongKey", err)
	}

	// A store with key-file slots only says so to a passphrase.
	g := keyslot.New(storeID, k)
	g.AddKeyFile()
	g.Seal(k)
	if _, _, err := reparse(t, g).Unlock(keyslot.Secret{Passphrase: []byte("x")}); !errors.Is(err, keyslot.ErrNoSlot) || !strings.Contains(err.Error(), "key file") {
		t.Errorf("passphrase on a key-file-only store: %v", err)
	}
}

// TestTamper: a change to any field of the file is caught once a slot has
// given the key, and a slot moved to another store's file opens nothing.
func TestTamper(t *testing.T) {
	k := newKey(t)
	f, _ := slotsOf(t, k)
	good := f.Marshal()

	edits := map[string]func(*keyslot.File){
		"kind":      func(f *keyslot.File) { f.Slots[0].Kind = keyslot.Passphrase },
		"created":   func(f *keyslot.File) { f.Slots[2].Created = f.Slots[2].Created.Add(1) },
		"last used": func(f *keyslot.File) { f.Slots[0].LastUsed = f.Slots[1].Created },
		"dropped":   func(f *keyslot.File) { f.Slots = f.Slots[1:] },
		"id":        func(f *keyslot.File) { f.Slots[2].ID = "ffffffff" },
		"public":    func(f *keyslot.File) { f.Slots[1].Public = f.Slots[2].Public },
		"sealed":    func(f *keyslot.File) { f.Slots[1].Sealed = f.Slots[2].Sealed },
	}
	for name, edit := range edits {
		// The passphrase still opens its slot's seed; the sealed key or
		// the MAC over the whole file then fails.
		g, _ := keyslot.Parse(good)
		edit(g)
		g = reparse(t, g)
		_, _, err1 := g.Unlock(keyslot.Secret{Passphrase: []byte("correct horse")})
		if !errors.Is(err1, keyslot.ErrNotAuthentic) {
			t.Errorf("%s: passphrase unlock: %v, want ErrNotAuthentic", name, err1)
		}
		if err := g.Verify(k); !errors.Is(err, keyslot.ErrNotAuthentic) {
			t.Errorf("%s: Verify: %v", name, err)
		}
	}

	// The wrapped key of this store's passphrase slot, pasted into another
	// store's file under the same slot ID, does not unwrap (the AAD names
	// the store).
	k2 := newKey(t)
	f2 := keyslot.New("fedcba9876543210fedcba9876543210", k2)
	f2.AddKeyFile()
	f2.Slots = append(f2.Slots, f.Slots[1])
	f2.Seal(k2)
	if _, _, err := reparse(t, f2).Unlock(keyslot.Secret{Passphrase: []byte("correct horse")}); !errors.Is(err, keyslot.ErrNoSlot) {
		t.Errorf("slot moved to another store: %v, want ErrNoSlot", err)
	}
}

func TestPasswdAndRemove(t *testing.T) {
	k := newKey(t)
	f, code := slotsOf(t, k)
	pass := f.Slots[1].ID
	if err := f.Passwd(k, pass, []byte("battery staple"), cheap); err != nil {
		t.Fatal(err)
	}
	f.Seal(k)
	f = reparse(t, f)
	if _, _, err := f.Unlock(keyslot.Secret{Passphrase: []byte("correct horse")}); !errors.Is(err, keyslot.ErrNoSlot) {
		t.Errorf("old passphrase after passwd: %v", err)
	}
	if _, s, err := f.Unlock(keyslot.Secret{Passphrase: []byte("battery staple")}); err != nil || s.ID != pass {
		t.Errorf("new passphrase: %v, slot %v", err, s)
	}
	if err := f.Passwd(k, f.Slots[0].ID, []byte("x"), cheap); err == nil {
		t.Error("passwd of a key-file slot succeeded")
	}
	if err := f.Passwd(k, "nope", []byte("x"), cheap); !errors.Is(err, keyslot.ErrUnknownSlot) {
		t.Errorf("passwd of a missing slot: %v", err)
	}

	if _, err := f.Remove(f.Slots[0].ID); err != nil {
		t.Fatal(err)
	}
	f.Seal(k)
	f = reparse(t, f)
	if _, _, err := f.Unlock(keyslot.Secret{Key: k}); !errors.Is(err, keyslot.ErrNoKeyFile) {
		t.Errorf("key file after its slot was removed: %v", err)
	}
	if _, err := f.Remove(pass); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Remove(f.Slots[0].ID); !errors.Is(err, keyslot.ErrLastSlot) {
		t.Errorf("removing the last slot: %v", err)
	}
	f.Seal(k)
	if _, s, err := reparse(t, f).Unlock(keyslot.Secret{Passphrase: []byte(code)}); err != nil || s.Kind != keyslot.RecoveryCode {
		t.Errorf("recovery code, the last slot: %v", err)
	}
}

// TestHostileParams: a slot file asking for absurd Argon2id costs is
// refused, not obeyed.
func TestHostileParams(t *testing.T) {
	k := newKey(t)
	f, _ := slotsOf(t, k)
	f.Slots[1].KDF.MemoryKiB = 1 << 31
	if _, _, err := reparse(t, f).Unlock(keyslot.Secret{Passphrase: []byte("correct horse")}); !errors.Is(err, crypto.ErrSlotParams) {
		t.Errorf("2 TiB Argon2id: %v, want ErrSlotParams", err)
	}
	if _, err := f.AddPassphrase(k, []byte("x"), crypto.Argon2Params{Time: 1, MemoryKiB: 1, Threads: 1}); !errors.Is(err, crypto.ErrSlotParams) {
		t.Errorf("adding a 1 KiB slot: %v", err)
	}
	if len(f.Slots) != 3 {
		t.Errorf("a refused add left %d slots", len(f.Slots))
	}
}

func TestParseRefuses(t *testing.T) {
	for name, b := range map[string]string{
		"not json":      "{",
		"version 2":     `{"version":2,"store_id":"x","slots":[]}`,
		"too many":      `{"version":1,"slots":[` + strings.Repeat(`{},`, 40) + `{}]}`,
		"wrong type":    `{"version":"1"}`,
		"trailing junk": `{"version":1} x`,
	} {
		if _, err := keyslot.Parse([]byte(b)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestImplicit(t *testing.T) {
	k := newKey(t)
	dir := t.TempDir()
	f, err := keyslot.Read(dir, storeID, k.ID().String())
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Slots) != 1 || f.Slots[0].Kind != keyslot.KeyFile || !strings.HasPrefix(k.ID().String(), f.Slots[0].ID) {
		t.Fatalf("implicit slots: %+v", f.Slots)
	}
	if _, _, err := f.Unlock(keyslot.Secret{Key: k}); err != nil {
		t.Errorf("key file on a store without keys.json: %v", err)
	}
	if _, _, err := f.Unlock(keyslot.Secret{Key: newKey(t)}); !errors.Is(err, crypto.ErrWrongKey) {
		t.Errorf("another key: %v", err)
	}
	// Its first change writes the file, with a MAC.
	if err := keyslot.Update(dir, storeID, k, func(f *keyslot.File) error {
		_, err := f.AddPassphrase(k, []byte("correct horse"), cheap)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	g, err := keyslot.Read(dir, storeID, k.ID().String())
	if err != nil || g.MAC == "" || len(g.Slots) != 2 || g.Verify(k) != nil {
		t.Fatalf("after the first update: %v, %+v", err, g)
	}
}

func TestUpdate(t *testing.T) {
	k := newKey(t)
	dir := t.TempDir()
	f := keyslot.New(storeID, k)
	f.AddKeyFile()
	if err := keyslot.Create(dir, f, k); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(keyslot.Path(dir))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("keys.json: %v, mode %v", err, st.Mode())
	}
	before, _ := os.ReadFile(keyslot.Path(dir))

	// A failing change writes nothing.
	boom := errors.New("boom")
	if err := keyslot.Update(dir, storeID, k, func(f *keyslot.File) error {
		f.Slots = nil
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	// Another store's key changes nothing.
	if err := keyslot.Update(dir, storeID, newKey(t), func(f *keyslot.File) error { return nil }); !errors.Is(err, crypto.ErrWrongKey) {
		t.Errorf("update under another key: %v", err)
	}
	if after, _ := os.ReadFile(keyslot.Path(dir)); !bytes.Equal(before, after) {
		t.Error("a refused update changed keys.json")
	}

	// Concurrent updates serialize: no change is lost.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := keyslot.Update(dir, storeID, k, func(f *keyslot.File) error {
				_, err := f.AddKeyFile()
				return err
			}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	g, err := keyslot.Read(dir, storeID, k.ID().String())
	if err != nil || len(g.Slots) != 9 {
		t.Fatalf("after 8 concurrent adds: %v, %d slots", err, len(g.Slots))
	}

	// Touch records a use once, then leaves the file alone.
	id := g.Slots[3].ID
	if err := keyslot.Touch(dir, storeID, k, id); err != nil {
		t.Fatal(err)
	}
	touched, _ := os.ReadFile(keyslot.Path(dir))
	g, _ = keyslot.Read(dir, storeID, k.ID().String())
	if s, _ := g.Find(id); s.LastUsed.IsZero() {
		t.Error("Touch did not record the use")
	}
	if err := keyslot.Touch(dir, storeID, k, id); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(keyslot.Path(dir)); !bytes.Equal(touched, again) {
		t.Error("a second Touch within a minute rewrote keys.json")
	}

	// A file naming another store is refused.
	if _, err := keyslot.Read(dir, "ffffffffffffffffffffffffffffffff", k.ID().String()); !errors.Is(err, keyslot.ErrNotAuthentic) {
		t.Errorf("keys.json read for another store: %v", err)
	}
}

// TestReseal: a new master key is sealed to every slot without their
// secrets; each secret then gives the new key, the old key file opens
// nothing, and a copy of the file from before still gives only the old key.
func TestReseal(t *testing.T) {
	k := newKey(t)
	f, code := slotsOf(t, k)
	before := f.Marshal()
	k2 := newKey(t)
	if err := f.Reseal(k2); err != nil {
		t.Fatal(err)
	}
	f.Seal(k2)
	f = reparse(t, f)
	for name, s := range map[string]keyslot.Secret{
		"passphrase":    {Passphrase: []byte("correct horse")},
		"recovery code": {Passphrase: []byte(code)},
		"new key file":  {Key: k2},
	} {
		if got, _, err := f.Unlock(s); err != nil || got.ID() != k2.ID() {
			t.Errorf("%s after reseal: %v (key %v, want %v)", name, err, got, k2.ID())
		}
	}
	if _, _, err := f.Unlock(keyslot.Secret{Key: k}); !errors.Is(err, crypto.ErrWrongKey) {
		t.Errorf("the old key file after reseal: %v, want ErrWrongKey", err)
	}
	old, _ := keyslot.Parse(before)
	if got, _, err := old.Unlock(keyslot.Secret{Passphrase: []byte("correct horse")}); err != nil || got.ID() != k.ID() {
		t.Errorf("the file from before: %v, %v", got, err)
	}
}

// TestPasswdNewKeyPair: a changed passphrase gets a new key pair, so the
// old passphrase and a kept copy of the old file learn nothing sealed to
// the slot afterwards.
func TestPasswdNewKeyPair(t *testing.T) {
	k := newKey(t)
	f, _ := slotsOf(t, k)
	was := f.Slots[1]
	if err := f.Passwd(k, was.ID, []byte("battery staple"), cheap); err != nil {
		t.Fatal(err)
	}
	now := f.Slots[1]
	if now.Public == was.Public || now.Seed == was.Seed || now.KDF.Salt == was.KDF.Salt || now.Sealed == was.Sealed {
		t.Errorf("passwd kept part of the old slot:\nwas %+v\nnow %+v", was, now)
	}
}
