package version_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/fs/version"
	"github.com/sealfs/sealfs/meta"
)

// blockSize keeps multi-block files small.
const blockSize = 4096

// theIno is the one file the scenarios work on.
const theIno meta.Ino = 2

// rig is a Keeper over a real Badger store and an in-memory data store,
// both stepped by one crash clock.
type rig struct {
	t     *testing.T
	key   *crypto.MasterKey
	clock *crashClock
	data  *memData
	meta  *crashMeta
	k     *version.Keeper
}

func newRig(t *testing.T, key *crypto.MasterKey) *rig {
	t.Helper()
	ms, err := meta.Open(filepath.Join(t.TempDir(), "meta"), meta.Keys{AtRest: key.BadgerKey(), Values: key.MetaValueKey()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	clock := &crashClock{}
	r := &rig{t: t, key: key, clock: clock, data: newMemData(clock), meta: &crashMeta{Store: ms, clock: clock}}
	r.k = r.keeper()
	return r
}

func (r *rig) keeper() *version.Keeper {
	return version.New(version.Config{
		Meta: r.meta, Data: r.data, Wrapper: crypto.NewWrapper(r.key), BlockSize: blockSize,
	})
}

// restart is the store a new mount finds after the crash: metadata as the
// last sync left it or with every commit (Badger may have written any of
// them back), data durable only or as the page cache held it.
func (r *rig) restart(metaAtSync, dataDurable bool) *rig {
	r.t.Helper()
	clock := &crashClock{}
	next := &rig{t: r.t, key: r.key, clock: clock, data: r.data.afterCrash(clock, dataDurable)}
	ms := r.meta.Store
	if metaAtSync {
		var err error
		ms, err = meta.Open(filepath.Join(r.t.TempDir(), "meta"), meta.Keys{AtRest: r.key.BadgerKey(), Values: r.key.MetaValueKey()})
		if err != nil {
			r.t.Fatal(err)
		}
		r.t.Cleanup(func() { ms.Close() })
		if err := ms.Load(bytes.NewReader(r.meta.lastSync)); err != nil {
			r.t.Fatal(err)
		}
	}
	next.meta = &crashMeta{Store: ms, clock: clock}
	next.k = next.keeper()
	if _, err := next.k.Recover(); err != nil {
		r.t.Fatalf("recover: %v", err)
	}
	return next
}

// theName is the name theIno is created under, in directory 1.
const theName = "x"

// create makes theIno, named theName, with content b, saved and closed.
func (r *rig) create(b []byte) error {
	return r.createIno(theIno, b)
}

func (r *rig) createIno(ino meta.Ino, b []byte) error {
	f, err := r.k.Create(ino, false, func(tx *meta.Tx) error {
		if ino == theIno {
			if err := tx.PutEntry(1, meta.Entry{Name: theName, Ino: ino, Mode: syscall.S_IFREG}); err != nil {
				return err
			}
		}
		return tx.PutInode(meta.Inode{Ino: ino, Mode: syscall.S_IFREG | 0o644, Nlink: 1})
	})
	if err != nil {
		return err
	}
	err = write(f, b, 0)
	return errors.Join(err, r.k.Release(f, nil))
}

func (r *rig) open(access version.Access) (*version.File, error) {
	return r.k.Acquire(context.Background(), theIno, access)
}

func write(f *version.File, b []byte, off int64) error {
	f.Lock()
	defer f.Unlock()
	_, err := f.WriteAt(b, off)
	return err
}

func save(f *version.File) error {
	f.Lock()
	defer f.Unlock()
	return f.Save()
}

func fsync(f *version.File) error {
	f.Lock()
	defer f.Unlock()
	return f.Fsync()
}

func truncate(f *version.File, size int64) error {
	f.Lock()
	defer f.Unlock()
	return f.Truncate(size)
}

// read returns the whole content of the file named theName (theIno, unless
// a rename replaced it) and checks that the saved inode size agrees with it.
func (r *rig) read() ([]byte, error) {
	r.t.Helper()
	ino := theIno
	err := r.meta.View(func(tx *meta.Tx) error {
		e, err := tx.Lookup(1, theName)
		if err == nil {
			ino = e.Ino
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	f, err := r.k.Acquire(context.Background(), ino, version.Read)
	if err != nil {
		return nil, err
	}
	defer r.k.Release(f, nil)
	f.RLock()
	defer f.RUnlock()
	b := make([]byte, f.Size())
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	in, err := r.k.Inode(ino)
	if err != nil {
		return nil, err
	}
	if in.Size != uint64(len(b)) {
		r.t.Errorf("inode size %d, content %d bytes", in.Size, len(b))
	}
	return b, nil
}

// dataFiles counts the ciphertext files left in the data store.
func (r *rig) dataFiles() int {
	n := 0
	r.data.ListData(func(crypto.FileID, int64, time.Time) { n++ })
	return n
}

// contentRecords counts the content records (after a settled commit, each
// has exactly one data file and nothing else may be left).
func (r *rig) contentRecords() int {
	n := 0
	err := r.meta.View(func(tx *meta.Tx) error {
		return tx.Contents(func(meta.Ino, meta.Content) bool { n++; return true })
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}
