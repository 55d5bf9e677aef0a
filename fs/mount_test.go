package fs_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/sealfs/sealfs/crypto"
	sealfs "github.com/sealfs/sealfs/fs"
	"github.com/sealfs/sealfs/store"
)

// mountFS mounts a new store in-process (so the race detector sees the
// whole filesystem) and unmounts it when the test ends.
func mountFS(t testing.TB) (mnt string, st *store.Store) {
	t.Helper()
	mnt, st, _ = mountFSys(t, nil)
	return mnt, st
}

// mountFSys is mountFS that also returns the filesystem; before, when set,
// runs on it before it is mounted.
func mountFSys(t testing.TB, before func(*sealfs.FS)) (mnt string, st *store.Store, fsys *sealfs.FS) {
	t.Helper()
	dir := t.TempDir()
	key, err := crypto.CreateKeyFile(filepath.Join(dir, "key"))
	if err != nil {
		t.Fatal(err)
	}
	storeDir := filepath.Join(dir, "store")
	if err := store.Init(storeDir, key); err != nil {
		t.Fatal(err)
	}
	if st, err = store.Open(storeDir, key); err != nil {
		t.Fatal(err)
	}
	fsys, err = sealfs.New(sealfs.Config{
		Meta: st.Meta, Data: st, Wrapper: st.Wrapper,
		Log: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(fsys)
	}
	mnt = filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	server, err := gofs.Mount(mnt, fsys.Root(), sealfs.MountOptions(false, false, false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := server.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
		if err := fsys.SyncAll(); err != nil {
			t.Errorf("sync: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return mnt, st, fsys
}
