package integration

import (
	"path/filepath"
	"testing"

	"github.com/sealfs/sealfs/internal/posixcases"
)

// TestPosix runs every POSIX conformance case against its own fresh mount of
// the real binary, in a fresh subdirectory (the cases use fixed names).
func TestPosix(t *testing.T) {
	for _, c := range posixcases.All() {
		t.Run(c.Name, func(t *testing.T) {
			m := mountSealfs(t)
			dir := filepath.Join(m.Dir, "posix-"+c.Name)
			mustMkdir(t, dir, 0o755)
			c.Run(t, dir)
		})
	}
}
