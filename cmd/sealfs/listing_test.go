package main

import (
	"errors"
	"syscall"
	"testing"

	"github.com/sealfs/sealfs/meta"
)

// TestListSurvivesCycle: a directory entry that points back up (only a
// damaged or tampered store has one) does not make ls -r loop.
func TestListSurvivesCycle(t *testing.T) {
	keys := meta.Keys{AtRest: make([]byte, 32), Values: make([]byte, 32)}
	keys.Values[0] = 1
	ms, err := meta.Open(t.TempDir(), keys)
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	dir := uint32(syscall.S_IFDIR | 0o755)
	err = ms.Update(func(tx *meta.Tx) error {
		return errors.Join(
			tx.PutInode(meta.Inode{Ino: meta.RootIno, Mode: dir, Nlink: 3}),
			tx.PutInode(meta.Inode{Ino: 2, Mode: dir, Nlink: 2}),
			tx.PutEntry(meta.RootIno, meta.Entry{Name: "a", Ino: 2, Mode: syscall.S_IFDIR}),
			tx.PutEntry(2, meta.Entry{Name: "up", Ino: meta.RootIno, Mode: syscall.S_IFDIR}),
		)
	})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := listPath(ms, "/", true, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Path != "/a" || rows[1].Path != "/a/up" {
		t.Fatalf("rows %+v", rows)
	}
}

func TestQuoteName(t *testing.T) {
	for in, want := range map[string]string{
		"/plain/name with space.txt": "/plain/name with space.txt",
		"/evil\x1b[2Jname":           `"/evil\x1b[2Jname"`,
		"/new\nline":                 `"/new\nline"`,
		"/ünïcødé":                   "/ünïcødé",
	} {
		if got := quoteName(in); got != want {
			t.Errorf("quoteName(%q) = %s, want %s", in, got, want)
		}
	}
}
