package fs_test

import (
	"testing"

	"github.com/sealfs/sealfs/internal/posixcases"
)

// TestPosix runs the POSIX conformance cases in-process, each on a fresh
// mount, so the race detector sees the filesystem under real kernel traffic.
func TestPosix(t *testing.T) {
	for _, c := range posixcases.All() {
		t.Run(c.Name, func(t *testing.T) {
			mnt, _ := mountFS(t)
			c.Run(t, mnt)
		})
	}
}
