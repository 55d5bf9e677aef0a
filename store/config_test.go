package store_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/store"
)

// TestConfigIsAuthenticated: every field but format and key ID is covered
// by the MAC; an edit is ErrConfig, and nothing is opened.
func TestConfigIsAuthenticated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	key := newKey(t)
	if err := store.Init(dir, key); err != nil {
		t.Fatal(err)
	}
	if _, err := store.SetRemote(dir, key, "file:///good/bucket", nil); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "sealfs.json")
	orig, _ := os.ReadFile(p)
	i := bytes.Index(orig, []byte(`"store_id": "`)) + len(`"store_id": "`)
	oldID := string(orig[i : i+32])
	for _, edit := range [][2]string{
		{"file:///good/bucket", "file:///evil/bucket"},
		{`"block_size": 65536`, `"block_size": 16777216`},
		{oldID, "00000000000000000000000000000000"}, // another store's ID
	} {
		edited := bytes.Replace(orig, []byte(edit[0]), []byte(edit[1]), 1)
		if bytes.Equal(edited, orig) {
			t.Fatalf("edit %q did not apply", edit[0])
		}
		os.WriteFile(p, edited, 0o600)
		if _, err := store.Open(dir, key); !errors.Is(err, store.ErrConfig) {
			t.Errorf("edit %q: Open = %v, want ErrConfig", edit[1], err)
		}
	}
	os.WriteFile(p, orig, 0o600)
	st, err := store.Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
}

// TestSetRemoteDropsCredentialsOfAnotherURL: credentials never follow the
// remote to a new URL.
func TestSetRemoteDropsCredentialsOfAnotherURL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	key := newKey(t)
	if err := store.Init(dir, key); err != nil {
		t.Fatal(err)
	}
	sealed, err := key.SealCredentials("s3://a/p", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if dropped, err := store.SetRemote(dir, key, "s3://a/p", sealed); err != nil || dropped {
		t.Fatalf("SetRemote with credentials: dropped %v, %v", dropped, err)
	}
	if dropped, err := store.SetRemote(dir, key, "s3://a/p", nil); err != nil || dropped {
		t.Fatalf("SetRemote to the same URL: dropped %v, %v", dropped, err)
	}
	if b, _ := store.ReadSealedCredentials(dir); b == nil {
		t.Fatal("credentials gone after setting the same URL again")
	}
	if dropped, err := store.SetRemote(dir, key, "s3://elsewhere/p", nil); err != nil || !dropped {
		t.Fatalf("SetRemote to another URL: dropped %v, %v", dropped, err)
	}
	if b, _ := store.ReadSealedCredentials(dir); b != nil {
		t.Fatal("credentials kept for another URL")
	}
}

// TestUnsafeStoreIsRefused: a store directory others can write to, or a
// symlink planted in data/, is never used.
func TestUnsafeStoreIsRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	key := newKey(t)
	if err := store.Init(dir, key); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Join(dir, "data"), filepath.Join(dir, "meta")} {
		os.Chmod(p, 0o777)
		if _, err := store.Open(dir, key); !errors.Is(err, store.ErrUnsafe) {
			t.Errorf("%s mode 0777: Open = %v, want ErrUnsafe", p, err)
		}
		os.Chmod(p, 0o700)
	}
	st, err := store.Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, _ := crypto.NewFileID()
	secret := filepath.Join(t.TempDir(), "shadow")
	os.WriteFile(secret, []byte("root:secret"), 0o600)
	p := st.DataPath(id)
	os.MkdirAll(filepath.Dir(p), 0o700)
	if err := os.Symlink(secret, p); err != nil {
		t.Fatal(err)
	}
	if f, err := st.OpenData(id); err == nil {
		f.Close()
		t.Fatal("OpenData followed a planted symlink")
	}
	if f, err := st.CreateData(id); err == nil {
		f.Close()
		t.Fatal("CreateData followed a planted symlink")
	}
	// A fan-out directory that is a symlink.
	id2 := crypto.FileID{0xab}
	os.Symlink(t.TempDir(), filepath.Dir(st.DataPath(id2)))
	if f, err := st.CreateData(id2); err == nil {
		f.Close()
		t.Fatal("CreateData wrote through a symlinked fan-out directory")
	}
}
