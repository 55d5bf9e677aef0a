package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
	"github.com/sealfs/sealfs/store"
)

// rotatedStore makes a store under old with files content records whose
// DEKs are wrapped by old, and sealed credentials for url.
func rotatedStore(t *testing.T, old *crypto.MasterKey, files int) (dir string, ids []crypto.FileID) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "store")
	if err := store.Init(dir, old); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(dir, old)
	if err != nil {
		t.Fatal(err)
	}
	w := crypto.NewWrapper(old)
	err = st.Meta.Update(func(tx *meta.Tx) error {
		for i := range files {
			id, err := crypto.NewFileID()
			if err != nil {
				return err
			}
			wrapped, err := w.NewDEK(id)
			if err != nil {
				return err
			}
			ids = append(ids, id)
			ino := meta.Ino(100 + i)
			if err := tx.PutContent(ino, meta.Content{FileID: id, KeyID: old.ID(), WrappedDEK: wrapped, Encrypted: true, Version: 2}); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := old.SealCredentials("gs://b/p", []byte("secret credentials"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.SetRemote(dir, old, "gs://b/p", sealed); err != nil {
		t.Fatal(err)
	}
	return dir, ids
}

func rotate(t *testing.T, dir string, old, next *crypto.MasterKey, begin bool) store.RotateReport {
	t.Helper()
	r, err := store.StartRotation(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if begin {
		if err := r.Begin(old, next); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := r.Run(old, next, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestRotate: after a rotation every DEK is wrapped by the new key, the
// credentials and config are under it, and the old key opens nothing.
func TestRotate(t *testing.T) {
	old, next := newKey(t), newKey(t)
	dir, ids := rotatedStore(t, old, 300)
	rep := rotate(t, dir, old, next, true)
	if rep.Resealed < len(ids) || len(rep.Damaged) != 0 {
		t.Fatalf("report %+v, want at least %d resealed and no damage", rep, len(ids))
	}
	if store.Rotating(dir) {
		t.Fatal("rotation.json left after a finished rotation")
	}
	if _, err := store.Open(dir, old); !errors.Is(err, store.ErrWrongKey) {
		t.Fatalf("Open with the old key: %v, want ErrWrongKey", err)
	}
	if _, err := meta.Open(filepath.Join(dir, "meta"), meta.Keys{AtRest: old.BadgerKey(), Values: old.MetaValueKey()}); !errors.Is(err, meta.ErrWrongKey) {
		t.Fatalf("Badger with the old key: %v, want ErrWrongKey", err)
	}
	sealed, err := store.ReadSealedCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.OpenCredentials("gs://b/p", sealed); err == nil {
		t.Fatal("the old key opens the credentials")
	}
	if plain, err := next.OpenCredentials("gs://b/p", sealed); err != nil || string(plain) != "secret credentials" {
		t.Fatalf("credentials under the new key: %q, %v", plain, err)
	}
	checkDEKs(t, dir, next, ids)
}

// checkDEKs checks that every content record's DEK unwraps under k.
func checkDEKs(t *testing.T, dir string, k *crypto.MasterKey, ids []crypto.FileID) {
	t.Helper()
	st, err := store.Open(dir, k)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := crypto.NewWrapper(k)
	err = st.Meta.View(func(tx *meta.Tx) error {
		for i, id := range ids {
			c, err := tx.Content(meta.Ino(100 + i))
			if err != nil {
				return err
			}
			if c.FileID != id {
				return errors.New("content record of another file")
			}
			if err := w.CheckWrapped(id, c.KeyID, c.WrappedDEK); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRotationResumes: a rotation cut short after any step is finished by
// running it again with either key, and the store refuses to open between.
func TestRotationResumes(t *testing.T) {
	old, next := newKey(t), newKey(t)
	dir, ids := rotatedStore(t, old, 50)
	r, err := store.StartRotation(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Begin(old, next); err != nil {
		t.Fatal(err)
	}
	if err := r.Begin(old, newKey(t)); !errors.Is(err, store.ErrRotating) {
		t.Fatalf("Begin of another rotation: %v, want ErrRotating", err)
	}
	r.Close()
	state, err := os.ReadFile(filepath.Join(dir, "rotation.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*crypto.MasterKey{old, next} {
		if _, err := store.Open(dir, k); !errors.Is(err, store.ErrRotating) {
			t.Fatalf("Open during the rotation: %v, want ErrRotating", err)
		}
		o, n, ok, err := store.RotationKeys(dir, k)
		if err != nil || !ok || o.ID() != old.ID() || n.ID() != next.ID() {
			t.Fatalf("RotationKeys with %s: %v %v", k.ID(), ok, err)
		}
	}
	if _, _, _, err := store.RotationKeys(dir, newKey(t)); !errors.Is(err, store.ErrWrongKey) {
		t.Fatalf("RotationKeys with a third key: %v, want ErrWrongKey", err)
	}
	rotate(t, dir, old, next, false)
	// Every step done but the state file left (a kill just before its
	// removal): a second run finds each step done and finishes.
	if err := os.WriteFile(filepath.Join(dir, "rotation.json"), state, 0o600); err != nil {
		t.Fatal(err)
	}
	if rep := rotate(t, dir, old, next, false); rep.Resealed != 0 {
		t.Errorf("the second run resealed %d records, want 0", rep.Resealed)
	}
	checkDEKs(t, dir, next, ids)
}
