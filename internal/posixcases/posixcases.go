// Package posixcases is go-fuse's POSIX conformance suite as sealfs runs it:
// every case of posixtest.All, with the one case that contradicts ext4
// replaced by a check of what ext4 does. Both the in-process mount tests of
// fs (under the race detector) and the integration tests of the real binary
// run it.
package posixcases

import (
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"
)

// Case is one named test, run against a directory on the mount.
type Case struct {
	Name string
	Run  func(t *testing.T, dir string)
}

// All returns the cases in name order.
func All() []Case {
	cases := make([]Case, 0, len(posixtest.All))
	for name, fn := range posixtest.All {
		if name == "FcntlFlockLocksFile" {
			// Upstream expects a second descriptor of the same process to
			// conflict with the first one's lock: open-file-description
			// semantics. POSIX locks, ext4's included, say the opposite.
			fn = LocksSameProcess
		}
		cases = append(cases, Case{Name: name, Run: fn})
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].Name < cases[j].Name })
	return cases
}

// LocksSameProcess checks what ext4 does: POSIX locks belong to the process,
// so its second descriptor may take a read lock where the first holds a
// write lock.
func LocksSameProcess(t *testing.T, dir string) {
	name := filepath.Join(dir, "locked")
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
