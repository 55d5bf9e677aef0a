package fs_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"
)

// posixCases is go-fuse's POSIX conformance suite with one case replaced:
// FcntlFlockLocksFile expects a second descriptor of the same process to
// conflict with the first one's lock, which is open-file-description lock
// semantics; POSIX locks (ext4 included) say the opposite, and so do we.
func posixCases() map[string]func(*testing.T, string) {
	cases := make(map[string]func(*testing.T, string), len(posixtest.All))
	for name, fn := range posixtest.All {
		cases[name] = fn
	}
	cases["FcntlFlockLocksFile"] = posixLocksSameProcess
	return cases
}

// TestPosix runs every case of the suite, each on a fresh mount.
func TestPosix(t *testing.T) {
	for name, fn := range posixCases() {
		t.Run(name, func(t *testing.T) {
			mnt, _ := mountFS(t)
			fn(t, mnt)
		})
	}
}

// posixLocksSameProcess checks what ext4 does: POSIX locks belong to the
// process, so its second descriptor may take a read lock where the first
// holds a write lock.
func posixLocksSameProcess(t *testing.T, mnt string) {
	name := filepath.Join(mnt, "locked")
	f1, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Close()
	wlk := syscall.Flock_t{Type: syscall.F_WRLCK}
	if err := syscall.FcntlFlock(f1.Fd(), syscall.F_SETLK, &wlk); err != nil {
		t.Fatalf("write lock: %v", err)
	}
	f2, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	rlk := syscall.Flock_t{Type: syscall.F_RDLCK}
	if err := syscall.FcntlFlock(f2.Fd(), syscall.F_SETLK, &rlk); err != nil {
		t.Errorf("read lock from the same process: got %v, want success as on ext4", err)
	}
}
