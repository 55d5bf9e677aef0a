package store_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/store"
)

func newKey(t *testing.T) *crypto.MasterKey {
	t.Helper()
	k, err := crypto.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestInitOpenAndRefusals(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	key := newKey(t)
	if _, err := store.Open(dir, key); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("Open of a missing store: %v, want ErrNotExist", err)
	}
	if err := store.Init(dir, key); err != nil {
		t.Fatal(err)
	}
	if err := store.Init(dir, key); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second Init: %v, want ErrExists", err)
	}
	if _, err := store.Open(dir, newKey(t)); !errors.Is(err, store.ErrWrongKey) {
		t.Fatalf("Open with another key: %v, want ErrWrongKey", err)
	}
	st, err := store.Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(dir, key); !errors.Is(err, store.ErrBusy) {
		t.Fatalf("Open while open: %v, want ErrBusy", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = store.Open(dir, key)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	st.Close()
}

func TestDataFilesLifecycle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	key := newKey(t)
	if err := store.Init(dir, key); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, _ := crypto.NewFileID()
	f, err := st.CreateData(id)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := st.CreateData(id); err == nil {
		t.Fatal("CreateData of an existing id succeeded")
	}
	if err := st.RemoveData(id); err != nil {
		t.Fatal(err)
	}
	if err := st.RemoveData(id); err != nil {
		t.Fatalf("RemoveData of a missing file: %v", err)
	}
	if _, err := st.OpenData(id); err == nil {
		t.Fatal("OpenData after remove succeeded")
	}
}
