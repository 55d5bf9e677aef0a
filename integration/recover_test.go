package integration

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// recoverSource is a store with a file:// remote that holds two snapshot
// generations: the first with old.txt only, the second with new.txt too.
type recoverSource struct {
	bucketDir, url, store, key string
}

func newRecoverSource(t *testing.T) recoverSource {
	t.Helper()
	bucketDir, url := fileBucket(t)
	store, key := remoteStore(t, url)
	m := mountSealfs(t, withStore(store, key))
	mustWriteFile(t, filepath.Join(m.Dir, "old.txt"), []byte("generation one\n"), 0o644)
	syncWait(t, store, key)
	mustWriteFile(t, filepath.Join(m.Dir, "new.txt"), []byte("generation two\n"), 0o644)
	syncWait(t, store, key)
	m.Unmount(t)
	return recoverSource{bucketDir: bucketDir, url: url, store: store, key: key}
}

// snapshots returns the bucket's snapshot objects, oldest first.
func (s recoverSource) snapshots(t *testing.T) []string {
	t.Helper()
	snaps, err := filepath.Glob(filepath.Join(s.bucketDir, "meta", "snapshot-*"))
	if err != nil || len(snaps) < 2 {
		t.Fatalf("want two snapshots, have %v (%v)", snaps, err)
	}
	return snaps
}

// copyBucket returns a copy of the bucket to tamper with.
func (s recoverSource) copyBucket(t *testing.T) (dir, url string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "bucket")
	if out, err := exec.Command("cp", "-a", s.bucketDir, dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	return dir, "file://" + dir
}

func recoverArgs(url, store, key string, more ...string) []string {
	return append([]string{"recover", "--remote", url, "--store", store, "--key-file", key}, more...)
}

// expectRefused runs a recover that must exit 2 with want in its message
// and leave dir as it was (missing, or empty).
func expectRefused(t *testing.T, args []string, dir, want string) {
	t.Helper()
	before, _ := os.ReadDir(dir)
	r := runSealfs(t, nil, args...)
	if r.Code != 2 || !strings.Contains(r.Stderr, want) {
		t.Fatalf("recover exited %d, want 2 and %q; stderr:\n%s", r.Code, want, r.Stderr)
	}
	if lines := strings.Count(strings.TrimSpace(r.Stderr), "\n"); lines > 0 {
		t.Errorf("refusal is %d lines, want one:\n%s", lines+1, r.Stderr)
	}
	after, err := os.ReadDir(dir)
	if len(after) != len(before) || (before == nil) != os.IsNotExist(err) {
		t.Errorf("refused recover changed %s: %d entries before, %d after (%v)", dir, len(before), len(after), err)
	}
}

func TestRecoverRefusesBadInput(t *testing.T) {
	src := newRecoverSource(t)
	newStore := filepath.Join(t.TempDir(), "new")
	t.Run("non-empty store", func(t *testing.T) {
		dir := t.TempDir()
		mustWriteFile(t, filepath.Join(dir, "precious"), []byte("keep me"), 0o600)
		expectRefused(t, recoverArgs(src.url, dir, src.key), dir, "not empty")
		if b, err := os.ReadFile(filepath.Join(dir, "precious")); err != nil || string(b) != "keep me" {
			t.Fatalf("precious: %q, %v", b, err)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "keys", "other.key")
		mustMkdir(t, filepath.Dir(other), 0o700)
		runSealfsOK(t, "init", "--store", filepath.Join(t.TempDir(), "s"), "--key-file", other)
		expectRefused(t, recoverArgs(src.url, newStore, other), newStore, "no metadata snapshot in the bucket opens with this key")
	})
	t.Run("missing bucket", func(t *testing.T) {
		url := "file://" + filepath.Join(t.TempDir(), "no-such-bucket")
		expectRefused(t, recoverArgs(url, newStore, src.key), newStore, "no-such-bucket")
	})
	t.Run("unknown snapshot", func(t *testing.T) {
		expectRefused(t, recoverArgs(src.url, newStore, src.key, "--snapshot", "999"), newStore, `snapshot "999"`)
	})
	t.Run("bad flag", func(t *testing.T) {
		expectRefused(t, recoverArgs(src.url, newStore, src.key, "--no-such-flag"), newStore, "no-such-flag")
	})
}

// TestRecoverDetectsTampering plays a bucket writer without the key: a
// data object copied over the newest snapshot and a deleted newest
// snapshot are refused by name, and an older generation can then be
// restored on purpose.
func TestRecoverDetectsTampering(t *testing.T) {
	src := newRecoverSource(t)
	snaps := src.snapshots(t)
	newest, older := snaps[len(snaps)-1], snaps[len(snaps)-2]
	t.Run("data object over a snapshot", func(t *testing.T) {
		dir, url := src.copyBucket(t)
		objs, _ := filepath.Glob(filepath.Join(dir, "data", "*"))
		if len(objs) == 0 {
			t.Fatal("no data objects")
		}
		obj, err := os.ReadFile(objs[0])
		if err != nil {
			t.Fatal(err)
		}
		mustWriteFile(t, filepath.Join(dir, "meta", filepath.Base(newest)), obj, 0o600)
		store := filepath.Join(t.TempDir(), "new")
		expectRefused(t, recoverArgs(url, store, src.key), store, "meta/"+filepath.Base(newest))
	})
	t.Run("deleted newest snapshot", func(t *testing.T) {
		dir, url := src.copyBucket(t)
		if err := os.Remove(filepath.Join(dir, "meta", filepath.Base(newest))); err != nil {
			t.Fatal(err)
		}
		store := filepath.Join(t.TempDir(), "new")
		expectRefused(t, recoverArgs(url, store, src.key), store, "is missing from the bucket")
		id := strings.TrimLeft(strings.TrimPrefix(filepath.Base(older), "snapshot-"), "0")
		out := runSealfsOK(t, recoverArgs(url, store, src.key, "--snapshot", id)...).Stdout
		if !strings.Contains(out, "from snapshot "+id) {
			t.Fatalf("recover --snapshot %s output:\n%s", id, out)
		}
		ls := runSealfsOK(t, "ls", "--store", store, "--key-file", src.key).Stdout
		if !strings.Contains(ls, "old.txt") || strings.Contains(ls, "new.txt") {
			t.Fatalf("older generation lists:\n%s", ls)
		}
	})
	t.Run("flipped bit in the newest manifest", func(t *testing.T) {
		dir, url := src.copyBucket(t)
		manifests, _ := filepath.Glob(filepath.Join(dir, "meta", "manifest-*"))
		p := manifests[len(manifests)-1]
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 1
		mustWriteFile(t, p, b, 0o600)
		// The newest manifest no longer opens: the one before it names
		// the older generation only, and the newer snapshot is reported.
		store := filepath.Join(t.TempDir(), "new")
		out := runSealfsOK(t, recoverArgs(url, store, src.key)...).Stdout
		if !strings.Contains(out, "newer than the newest manifest") {
			t.Fatalf("recover output does not report the newer snapshot:\n%s", out)
		}
	})
}

// TestRecoverReportsMissingObjects: a file whose object was deleted from
// the bucket is named, and reads EIO after the recovery; the rest reads.
func TestRecoverReportsMissingObjects(t *testing.T) {
	src := newRecoverSource(t)
	dir, url := src.copyBucket(t)
	// Find new.txt's object: the one whose size is that of a 15-byte file.
	objs, _ := filepath.Glob(filepath.Join(dir, "data", "*"))
	removed := 0
	for _, p := range objs {
		fi, _ := os.Stat(p)
		if fi.Size() == 58+15+28 { // v2 header, "generation two\n", one block's overhead
			os.Remove(p)
			removed++
		}
	}
	// Both files are 15 bytes; both objects go.
	if removed != 2 {
		t.Fatalf("removed %d objects, want 2", removed)
	}
	store := filepath.Join(t.TempDir(), "new")
	out := runSealfsOK(t, recoverArgs(url, store, src.key)...).Stdout
	for _, name := range []string{"/old.txt", "/new.txt"} {
		if !strings.Contains(out, "missing from the bucket (reads EIO): "+name) {
			t.Errorf("recover does not name %s:\n%s", name, out)
		}
	}
	m := mountSealfs(t, withStore(store, src.key))
	if _, err := os.ReadFile(filepath.Join(m.Dir, "new.txt")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read of a file whose object is missing: %v, want EIO", err)
	}
}

// TestSyncWaitRightAfterClose: sync --wait called right after the last
// close of 1,000 files returns only when a recovery has all of them.
func TestSyncWaitRightAfterClose(t *testing.T) {
	_, url := fileBucket(t)
	store, key := remoteStore(t, url)
	m := mountSealfs(t, withStore(store, key))
	const n = 1000
	for i := range n {
		mustWriteFile(t, filepath.Join(m.Dir, fmt.Sprintf("f%04d", i)), []byte(fmt.Sprintf("file %d\n", i)), 0o644)
	}
	syncWait(t, store, key)
	recovered := filepath.Join(t.TempDir(), "new")
	out := runSealfsOK(t, recoverArgs(url, recovered, key, "--download")...).Stdout
	if !strings.Contains(out, fmt.Sprintf("files: %d,", n)) || !strings.Contains(out, fmt.Sprintf("downloaded and verified: %d files", n)) {
		t.Fatalf("recover right after sync --wait:\n%s", out)
	}
	ls := runSealfsOK(t, "ls", "--store", recovered, "--key-file", key).Stdout
	for i := range n {
		if !strings.Contains(ls, fmt.Sprintf("f%04d", i)) {
			t.Fatalf("recovered store lacks f%04d", i)
		}
	}
}

// TestEditedConfigIsRefused: pointing sealfs.json at another bucket
// without the key is detected before anything is sent there.
func TestEditedConfigIsRefused(t *testing.T) {
	_, url := fileBucket(t)
	store, key := remoteStore(t, url)
	p := filepath.Join(store, "sealfs.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	_, evil := fileBucket(t)
	mustWriteFile(t, p, bytes.Replace(b, []byte(url), []byte(evil), 1), 0o600)
	r := runSealfs(t, nil, "mount", "--store", store, "--key-file", key, t.TempDir())
	if r.Code != 2 || !strings.Contains(r.Stderr, "store config fails authentication") {
		t.Fatalf("mount with an edited config exited %d:\n%s", r.Code, r.Stderr)
	}
}

// TestForeignPrefixIsRefused: a new store pointed at a prefix that holds
// another store's backup is refused by name and pointed to recover;
// --takeover makes it explicit.
func TestForeignPrefixIsRefused(t *testing.T) {
	src := newRecoverSource(t)
	store, key := remoteStore(t, src.url)
	r := mountExpectFailure(t, mountConfig{store: store, key: key, mnt: t.TempDir()})
	if r.Code != 2 || !strings.Contains(r.Stderr, "do not open with this key") {
		t.Fatalf("new store, other key, on a used prefix: exit %d, stderr %q", r.Code, r.Stderr)
	}
	// The same key, another store (mount makes a new one with the key).
	store2 := filepath.Join(t.TempDir(), "store")
	r = mountExpectFailure(t, mountConfig{store: store2, key: src.key, mnt: t.TempDir(), extraArgs: []string{"--remote", src.url}})
	if r.Code != 2 || !strings.Contains(r.Stderr, "holds the backup of another store") || !strings.Contains(r.Stderr, "sealfs recover") {
		t.Fatalf("new store on a used prefix: exit %d, stderr %q", r.Code, r.Stderr)
	}
	m := mountSealfs(t, withStore(store2, src.key), withMountArgs("--remote", src.url, "--takeover"))
	mustWriteFile(t, filepath.Join(m.Dir, "mine"), []byte("x"), 0o644)
}

// TestRecoveredCopyRespectsTheLease: a copy recovered while the old writer
// is still mounted is refused with who holds the lease and until when;
// --takeover takes it.
func TestRecoveredCopyRespectsTheLease(t *testing.T) {
	_, url := fileBucket(t)
	store, key := remoteStore(t, url)
	m := mountSealfs(t, withStore(store, key))
	mustWriteFile(t, filepath.Join(m.Dir, "f"), []byte("still mounted\n"), 0o644)
	syncWait(t, store, key)
	copyDir := filepath.Join(t.TempDir(), "copy")
	runSealfsOK(t, recoverArgs(url, copyDir, key)...)
	r := mountExpectFailure(t, mountConfig{store: copyDir, key: key, mnt: t.TempDir()})
	if r.Code != 2 || !strings.Contains(r.Stderr, "leased by another sealfs store") || !strings.Contains(r.Stderr, "until") {
		t.Fatalf("recovered copy while the writer lives: exit %d, stderr %q", r.Code, r.Stderr)
	}
	c := mountSealfs(t, withStore(copyDir, key), withMountArgs("--takeover"))
	if b, err := os.ReadFile(filepath.Join(c.Dir, "f")); err != nil || string(b) != "still mounted\n" {
		t.Fatalf("recovered copy reads %q, %v", b, err)
	}
}

// TestBucketView: mount --read-only --remote on a machine with no store of
// its own, while the writer keeps writing: reads equal the writer's, writes
// are EROFS, and the writer's lease is untouched.
func TestBucketView(t *testing.T) {
	_, url := fileBucket(t)
	store, key := remoteStore(t, url)
	w := mountSealfs(t, withStore(store, key))
	src := filepath.Join(t.TempDir(), "src")
	generateBackupTree(t, src, 6, 20)
	rsyncIn(t, src, filepath.Join(w.Dir, "backup"))
	syncWait(t, store, key)
	nowhere := filepath.Join(t.TempDir(), "no-store-here")
	v := mountSealfs(t, withStore(nowhere, key), asBucketView(url))
	compareTrees(t, src, filepath.Join(v.Dir, "backup"))
	if err := os.WriteFile(filepath.Join(v.Dir, "new"), []byte("x"), 0o644); !errors.Is(err, syscall.EROFS) {
		t.Errorf("write on the view: %v, want EROFS", err)
	}
	if err := os.Remove(filepath.Join(v.Dir, "backup", "dir-00", "file-0000.txt")); !errors.Is(err, syscall.EROFS) {
		t.Errorf("unlink on the view: %v, want EROFS", err)
	}
	if _, err := os.Stat(nowhere); !os.IsNotExist(err) {
		t.Errorf("the view made a store at %s: %v", nowhere, err)
	}
	v.Unmount(t)
	// The writer still holds the prefix and goes on.
	mustWriteFile(t, filepath.Join(w.Dir, "after-view"), []byte("writer goes on\n"), 0o644)
	syncWait(t, store, key)
}

// TestMountpointApartFromStore: mounting on the store, inside it, or over
// it is refused before anything is created.
func TestMountpointApartFromStore(t *testing.T) {
	base := t.TempDir()
	store, key := filepath.Join(base, "store"), filepath.Join(base, "keys", "master.key")
	mustMkdir(t, filepath.Dir(key), 0o700)
	runSealfsOK(t, "init", "--store", store, "--key-file", key)
	inside := filepath.Join(store, "data")
	for _, mnt := range []string{store, inside, base} {
		r := runSealfs(t, nil, "mount", "--store", store, "--key-file", key, mnt)
		if r.Code != 2 || !strings.Contains(r.Stderr, "inside") {
			t.Errorf("mount on %s: exit %d, stderr %q; want 2", mnt, r.Code, r.Stderr)
		}
	}
}
