package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestSignalUnmounts sends SIGTERM or SIGINT to the daemon: it must unmount,
// flush and exit 0, and the data must be there on the next mount.
func TestSignalUnmounts(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			m := mountSealfs(t)
			data := randomBytes(uint64(sig), 2*blockSize+99)
			mustWriteFile(t, filepath.Join(m.Dir, "signalled.bin"), data, 0o644)
			if err := m.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-m.exited:
			case <-time.After(exitTimeout):
				t.Fatalf("daemon still running %v after %v", exitTimeout, sig)
			}
			if _, mounted := mountFSType(t, m.Dir); mounted {
				t.Errorf("%s is still mounted after the daemon exited on %v", m.Dir, sig)
			}
			m.Unmount(t) // checks the exit status
			m = mountSealfs(t, withStore(m.Store, m.Key), withMountpoint(m.Dir))
			compareBytes(t, filepath.Join(m.Dir, "signalled.bin"), data)
		})
	}
}

// TestKillAfterClose kills the daemon with SIGKILL right after files were
// closed: DESIGN.md promises that closed files survive it.
func TestKillAfterClose(t *testing.T) {
	m := mountSealfs(t, tolerateExitError())
	files := map[string][]byte{
		"killed/first.bin":  randomBytes(61, 3*blockSize+5),
		"killed/second.txt": []byte("closed before the kill\n"),
		"killed/empty":      nil,
	}
	mustMkdir(t, filepath.Join(m.Dir, "killed"), 0o755)
	for name, data := range files {
		mustWriteFile(t, filepath.Join(m.Dir, name), data, 0o644)
	}
	if err := os.Rename(filepath.Join(m.Dir, "killed/second.txt"), filepath.Join(m.Dir, "killed/renamed.txt")); err != nil {
		t.Fatal(err)
	}
	files["killed/renamed.txt"] = files["killed/second.txt"]
	delete(files, "killed/second.txt")

	if err := m.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-m.exited
	m.Unmount(t) // the dead mount is still in the mount table

	m = mountSealfs(t, withStore(m.Store, m.Key), withMountpoint(m.Dir))
	for name, data := range files {
		got, err := os.ReadFile(filepath.Join(m.Dir, name))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s after kill -9 and remount: %v; %s", name, err, describeDiff(got, data))
		}
	}
	if _, err := os.Lstat(filepath.Join(m.Dir, "killed/second.txt")); !os.IsNotExist(err) {
		t.Errorf("the rename before the kill was lost: old name: %v", err)
	}
}
