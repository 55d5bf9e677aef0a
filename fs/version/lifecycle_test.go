package version_test

import (
	"errors"
	"testing"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/fs/version"
	"github.com/sealfs/sealfs/meta"
)

func newTestRig(t *testing.T) *rig {
	t.Helper()
	key, err := crypto.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	return newRig(t, key)
}

// TestStates walks one file through every transition of State.
func TestStates(t *testing.T) {
	r := newTestRig(t)
	f, err := r.k.Create(theIno, false, func(tx *meta.Tx) error {
		return tx.PutInode(meta.Inode{Ino: theIno, Mode: 0o100644, Nlink: 1})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := func(step string, s version.State) {
		t.Helper()
		if got := f.State(); got != s {
			t.Fatalf("after %s: state %v, want %v", step, got, s)
		}
	}
	want("create", version.Fresh)
	must(t, write(f, contentA, 0))
	want("write", version.Fresh)
	must(t, fsync(f))
	want("fsync", version.Durable)
	must(t, write(f, patchX, 10))
	want("write after fsync", version.Copying)
	must(t, save(f))
	want("save", version.Fresh)
	must(t, r.k.Release(f, nil))
	want("last release", version.Closed)

	f, err = r.open(version.Write)
	must(t, err)
	want("open", version.Sealed)
	g, err := r.open(version.Read)
	must(t, err)
	if g != f {
		t.Fatal("two handles of one inode got two Files")
	}
	must(t, truncate(f, 5))
	want("truncate", version.Fresh) // copied, then saved at once
	must(t, truncate(f, 0))
	want("truncate to 0", version.Fresh)
	must(t, r.k.Release(g, nil))
	want("release of one of two handles", version.Fresh)
	must(t, r.k.Release(f, nil))
	want("last release", version.Closed)

	f, err = r.open(version.Replace)
	must(t, err)
	want("open(O_TRUNC)", version.Fresh)
	must(t, r.k.Release(f, nil))
}

// TestBrokenOpensOnlyForReplacing: a damaged version fails to open for
// reading, opens Broken for writing (every read and write fails), and can
// be replaced by truncation to zero.
func TestBrokenOpensOnlyForReplacing(t *testing.T) {
	r := newTestRig(t)
	must(t, r.create(contentA))
	must(t, r.k.Commit())
	r.data.mu.Lock()
	for _, f := range r.data.files {
		f.cur[len(f.cur)-1] ^= 1
	}
	r.data.mu.Unlock()
	if _, err := r.open(version.Read); !errors.Is(err, crypto.ErrAuth) {
		t.Fatalf("open damaged for reading: %v, want ErrAuth", err)
	}
	f, err := r.open(version.Write)
	must(t, err)
	if f.State() != version.Broken {
		t.Fatalf("state %v, want broken", f.State())
	}
	if err := write(f, patchX, 0); !errors.Is(err, crypto.ErrAuth) {
		t.Fatalf("write to broken: %v, want ErrAuth", err)
	}
	must(t, truncate(f, 0))
	must(t, write(f, contentB, 0))
	must(t, r.k.Release(f, nil))
	got, err := r.read()
	if err != nil || string(got) != string(contentB) {
		t.Fatalf("after replacing: %d bytes, %v", len(got), err)
	}
}

// TestInodeShowsUnsavedChanges is the stale-size bug at its root: whatever
// asks for a file's attributes gets the size of its open content, also
// right after a saved truncation was followed by a write past it.
func TestInodeShowsUnsavedChanges(t *testing.T) {
	r := newTestRig(t)
	must(t, r.create(nil))
	f, err := r.open(version.Write)
	must(t, err)
	defer r.k.Release(f, nil)
	must(t, write(f, make([]byte, 790528), 0))
	must(t, truncate(f, 43894))
	must(t, write(f, make([]byte, 106496), 45056))
	in, err := r.k.Inode(theIno)
	must(t, err)
	if in.Size != 151552 {
		t.Fatalf("size %d, want 151552", in.Size)
	}
	must(t, r.k.WithOpen(theIno, func(g *version.File) error {
		if g != f {
			t.Error("WithOpen did not find the open file")
		}
		return g.Save()
	}))
	var saved meta.Inode
	must(t, r.meta.View(func(tx *meta.Tx) (err error) {
		saved, err = tx.Inode(theIno)
		return err
	}))
	if saved.Size != 151552 {
		t.Fatalf("saved size %d, want 151552", saved.Size)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
