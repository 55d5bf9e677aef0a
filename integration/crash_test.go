package integration

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestKillDuringInPlaceEditKeepsOldVersion: a file being appended to when
// the daemon dies reads back as it was before that open.
func TestKillDuringInPlaceEditKeepsOldVersion(t *testing.T) {
	m := mountSealfs(t, tolerateExitError())
	p := filepath.Join(m.Dir, "appended.log")
	old := randomBytes(41, 300<<10)
	mustWriteFile(t, p, old, 0o644)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(randomBytes(42, 200<<10)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // past a group commit
	if err := m.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-m.exited
	f.Close()
	unmountDir(t, m.Dir)
	m2 := mountSealfs(t, withStore(m.Store, m.Key), withMountpoint(m.Dir))
	compareBytes(t, filepath.Join(m2.Dir, "appended.log"), old)
}

// TestTruncateReplacesADamagedFile: a file whose ciphertext is damaged
// fails with EIO, but O_TRUNC (a new backup over it) still works.
func TestTruncateReplacesADamagedFile(t *testing.T) {
	m := mountSealfs(t, tolerateExitError())
	p := filepath.Join(m.Dir, "damaged.bin")
	mustWriteFile(t, p, randomBytes(43, 250<<10), 0o644)
	m.Unmount(t)
	// Damage the final block: then even opening the old version fails,
	// as after a crash in the middle of a write.
	files := dataFilesLargerThan(t, m.Store, 200<<10, 1)
	flipLastByte(t, files[0])
	m2 := mountSealfs(t, withStore(m.Store, m.Key), withMountpoint(m.Dir), tolerateExitError())
	if _, err := os.ReadFile(p); !errors.Is(err, syscall.EIO) {
		t.Fatalf("reading the damaged file: %v, want EIO", err)
	}
	fresh := randomBytes(44, 90<<10)
	mustWriteFile(t, filepath.Join(m2.Dir, "damaged.bin"), fresh, 0o644)
	compareBytes(t, filepath.Join(m2.Dir, "damaged.bin"), fresh)
}

// TestCpPreservesTimes: cp -p sets the times on the open file it wrote;
// closing it must not put the write time back.
func TestCpPreservesTimes(t *testing.T) {
	m := mountSealfs(t)
	src := filepath.Join(t.TempDir(), "old.sql")
	mustWriteFile(t, src, randomBytes(45, 100<<10), 0o644)
	when := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(src, when, when); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(m.Dir, "old.sql")
	if out, err := exec.Command("cp", "-p", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -p: %v\n%s", err, out)
	}
	time.Sleep(1100 * time.Millisecond) // past the attribute cache
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(when) {
		t.Errorf("mtime after cp -p: %v, want %v", fi.ModTime(), when)
	}
}

func flipLastByte(t *testing.T, p string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0x01
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
