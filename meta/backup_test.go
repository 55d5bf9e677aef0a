package meta_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/dgraph-io/badger/v4/pb"
	"google.golang.org/protobuf/proto"

	"github.com/sealfs/sealfs/meta"
)

// backupKeys decodes a backup stream and counts each key's entries.
func backupKeys(t *testing.T, b []byte) map[string]int {
	t.Helper()
	keys := map[string]int{}
	r := bytes.NewReader(b)
	for {
		var n uint64
		if err := binary.Read(r, binary.LittleEndian, &n); errors.Is(err, io.EOF) {
			return keys
		} else if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatal(err)
		}
		var list pb.KVList
		if err := proto.Unmarshal(buf, &list); err != nil {
			t.Fatal(err)
		}
		for _, kv := range list.Kv {
			if len(kv.Meta) > 0 && kv.Meta[0] != 0 {
				t.Errorf("key %x carries meta %x (a deletion marker?)", kv.Key, kv.Meta)
			}
			keys[string(kv.Key)]++
		}
	}
}

// A snapshot holds what is current and nothing older: no superseded value
// (after a rotation or a shred that is exactly what must not travel) and
// no deletion marker.
func TestBackupHoldsOnlyLatestVersions(t *testing.T) {
	key := newKey(t)
	s := openStore(t, t.TempDir(), key)
	defer s.Close()
	fillStore(t, s, 50)
	for round := 1; round <= 3; round++ {
		err := s.Update(func(tx *meta.Tx) error {
			for j := range 50 {
				in, err := tx.Inode(meta.Ino(100 + j))
				if err != nil {
					return err
				}
				in.Size = uint64(1000*round + j)
				if err := tx.PutInode(in); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := s.Update(func(tx *meta.Tx) error {
		for j := range 10 {
			if err := tx.DeleteInode(meta.Ino(100 + j)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	if _, err := s.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	keys := backupKeys(t, buf.Bytes())
	for k, n := range keys {
		if n != 1 {
			t.Errorf("key %x is in the backup %d times", k, n)
		}
	}
	for j := range 50 {
		_, in := keys[string(meta.InodeKey(meta.Ino(100+j)))]
		if in != (j >= 10) {
			t.Errorf("inode %d in the backup: %v", 100+j, in)
		}
	}

	restored := openStore(t, t.TempDir(), key)
	defer restored.Close()
	if err := restored.Load(&buf); err != nil {
		t.Fatal(err)
	}
	err = restored.View(func(tx *meta.Tx) error {
		for j := range 50 {
			in, err := tx.Inode(meta.Ino(100 + j))
			switch {
			case j < 10 && !errors.Is(err, meta.ErrNotFound):
				t.Errorf("deleted inode %d: %v", 100+j, err)
			case j >= 10 && err != nil:
				return err
			case j >= 10 && in.Size != uint64(3000+j):
				t.Errorf("inode %d: size %d, want the latest, %d", 100+j, in.Size, 3000+j)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
