package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/gcs/gcstest"
)

// remoteStore inits a store whose remote is url and returns its paths.
func remoteStore(t *testing.T, url string) (store, key string) {
	t.Helper()
	base := t.TempDir()
	store, key = filepath.Join(base, "store"), filepath.Join(base, "keys", "master.key")
	mustMkdir(t, filepath.Dir(key), 0o700)
	runSealfsOK(t, "init", "--store", store, "--key-file", key, "--remote", url)
	return store, key
}

// fileBucket makes an empty local-folder bucket.
func fileBucket(t *testing.T) (dir, url string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "bucket")
	mustMkdir(t, dir, 0o700)
	return dir, "file://" + dir
}

// syncWaitTimeout bounds one `sealfs sync --wait`. The trees the tests
// upload take seconds on an idle machine; the bound is sized for a 2-core CI
// runner that is also running other test binaries under -race, where an
// upload can be ten times slower. It stays below commandTimeout, so a
// timeout is reported by sealfs ("timed out with uploads pending") rather
// than by the test's kill.
const syncWaitTimeout = 4 * time.Minute

// syncWait runs `sealfs sync --wait` and fails the test unless it exits 0.
func syncWait(t *testing.T, store, key string) {
	t.Helper()
	runSealfsOK(t, "sync", "--wait", "--timeout", syncWaitTimeout.String(), "--store", store, "--key-file", key)
}

// decryptObjects opens every object under bucketDir/data with the key and
// the DEK the newest snapshot holds for it, as a recovery tool would, and
// returns the sha256 of each plaintext.
func decryptObjects(t *testing.T, bucketDir, keyFile string) map[string]int {
	t.Helper()
	key, err := crypto.LoadKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	w := crypto.NewWrapper(key)
	b, err := remote.Open(context.Background(), "file://"+bucketDir, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	deks := snapshotDEKs(t, b, key)
	sums := map[string]int{}
	objs, err := filepath.Glob(filepath.Join(bucketDir, "data", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range objs {
		obj, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var id [16]byte
		hex.Decode(id[:], []byte(filepath.Base(p)))
		c, err := crypto.OpenFile(w, objectBacking(obj), deks[id])
		if err != nil {
			t.Fatalf("object %s does not open with the key: %v", filepath.Base(p), err)
		}
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(c, 0, c.Size())); err != nil {
			t.Fatalf("object %s does not decrypt: %v", filepath.Base(p), err)
		}
		sums[hex.EncodeToString(h.Sum(nil))]++
	}
	return sums
}

func TestFileRemoteSyncsEveryFile(t *testing.T) {
	bucketDir, url := fileBucket(t)
	store, key := remoteStore(t, url)
	m := mountSealfs(t, withStore(store, key))
	marker := "sealfs-remote-marker-" + uniqueHex(t, 32)
	want := map[string]int{}
	names := []string{}
	for i := range 40 {
		name := "remote-visible-name-" + uniqueHex(t, 8)
		data := bytes.Repeat([]byte(marker+name), 1+i*97)
		mustWriteFile(t, filepath.Join(m.Dir, name), data, 0o644)
		sum := sha256.Sum256(data)
		want[hex.EncodeToString(sum[:])]++
		names = append(names, name)
	}
	big := randomBytes(7, 3<<20+11)
	mustWriteFile(t, filepath.Join(m.Dir, "big-"+marker), big, 0o644)
	sum := sha256.Sum256(big)
	want[hex.EncodeToString(sum[:])]++
	names = append(names, "big-"+marker)

	syncWait(t, store, key)

	for _, name := range names {
		state := string(getxattr(t, filepath.Join(m.Dir, name), "user.sealfs.sync"))
		if !strings.HasPrefix(state, "synced ") {
			t.Errorf("%s: user.sealfs.sync = %q, want synced <version>", name, state)
		}
	}
	r := runSealfsOK(t, "ls", "--json", "--store", store, "--key-file", key)
	var rows []struct{ Name, Sync string }
	if err := json.Unmarshal([]byte(r.Stdout), &rows); err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		if !strings.HasPrefix(row.Sync, "synced ") {
			t.Errorf("ls: %s sync %q, want synced", row.Name, row.Sync)
		}
	}
	got := decryptObjects(t, bucketDir, key)
	for h, n := range want {
		if got[h] != n {
			t.Errorf("bucket holds %d objects with plaintext %s…, want %d", got[h], h[:12], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("bucket holds %d distinct objects, want %d", len(got), len(want))
	}
	if hits := findNeedles(t, bucketDir, append(names, marker)); len(hits) > 0 {
		t.Errorf("plaintext or names in the bucket: %v", hits)
	}
}

func TestSecondWriterIsRefused(t *testing.T) {
	_, url := fileBucket(t)
	storeA, keyA := remoteStore(t, url)
	mountSealfs(t, withStore(storeA, keyA))
	storeB, keyB := remoteStore(t, url)
	r := mountExpectFailure(t, mountConfig{store: storeB, key: keyB, mnt: t.TempDir()})
	if r.Code != 2 || !strings.Contains(r.Stderr, "leased by another sealfs store") {
		t.Errorf("second writer: exit %d, stderr %q; want 2 and a lease message", r.Code, r.Stderr)
	}
}

func TestUploadsResumeAfterKill(t *testing.T) {
	bucketDir, url := fileBucket(t)
	store, key := remoteStore(t, url)
	m := mountSealfs(t, withStore(store, key), tolerateExitError())
	want := map[string]int{}
	for range 20 {
		data := randomBytes(uint64(len(want))+100, 200<<10)
		mustWriteFile(t, filepath.Join(m.Dir, "f-"+uniqueHex(t, 8)), data, 0o644)
		sum := sha256.Sum256(data)
		want[hex.EncodeToString(sum[:])]++
	}
	// Closed files are durable; their uploads wait out the quiet period.
	if err := m.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-m.exited
	unmountDir(t, m.Dir)
	m2 := mountSealfs(t, withStore(store, key), withMountpoint(m.Dir))
	syncWait(t, store, key)
	got := decryptObjects(t, bucketDir, key)
	for h, n := range want {
		if got[h] != n {
			t.Errorf("after kill -9 and remount the bucket holds %d copies of %s…, want %d", got[h], h[:12], n)
		}
	}
	entries, err := os.ReadDir(m2.Dir)
	if err != nil || len(entries) != len(want) {
		t.Fatalf("after remount: %d entries (%v), want %d", len(entries), err, len(want))
	}
	for _, e := range entries {
		name := e.Name()
		if state := string(getxattr(t, filepath.Join(m2.Dir, name), "user.sealfs.sync")); !strings.HasPrefix(state, "synced ") {
			t.Errorf("%s: %q, want synced", name, state)
		}
	}
}

// TestMetadataSnapshotIsSealed: unmount uploads a metadata snapshot that
// opens with the key and holds no file name in the clear.
func TestMetadataSnapshotIsSealed(t *testing.T) {
	bucketDir, url := fileBucket(t)
	store, key := remoteStore(t, url)
	m := mountSealfs(t, withStore(store, key))
	name := "snapshot-visible-name-" + uniqueHex(t, 12)
	mustWriteFile(t, filepath.Join(m.Dir, name), []byte("x"), 0o644)
	m.Unmount(t)
	snaps, err := filepath.Glob(filepath.Join(bucketDir, "meta", "snapshot-*"))
	if err != nil || len(snaps) == 0 {
		t.Fatalf("no metadata snapshot in the bucket after unmount (%v)", err)
	}
	k, err := crypto.LoadKeyFile(key)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := os.ReadFile(snaps[len(snaps)-1])
	if err != nil {
		t.Fatal(err)
	}
	_, c, err := crypto.OpenSnapshot(k, objectBacking(snap))
	if err != nil {
		t.Fatalf("snapshot does not open with the key: %v", err)
	}
	plain, err := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
	if err != nil || len(plain) == 0 {
		t.Fatalf("snapshot does not decrypt: %d bytes, %v", len(plain), err)
	}
	if hits := findNeedles(t, bucketDir, []string{name}); len(hits) > 0 {
		t.Errorf("file name in the bucket: %v", hits)
	}
}

// localDataBytes sums the ciphertext files a store keeps locally.
func localDataBytes(t *testing.T, store string) int64 {
	t.Helper()
	var total int64
	err := filepath.WalkDir(filepath.Join(store, "data"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			total += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// TestCacheEvictionReadsBackFromBucket: with a small --cache-max the local
// copies of synced files go, and every file still reads back byte for byte
// through ranged reads of the bucket.
func TestCacheEvictionReadsBackFromBucket(t *testing.T) {
	_, url := fileBucket(t)
	store, key := remoteStore(t, url)
	const max = 300 << 10
	m := mountSealfs(t, withStore(store, key), withMountArgs("--cache-max", "300K"))
	want := map[string][]byte{}
	for i := range 12 {
		data := randomBytes(uint64(500+i), 150<<10+i*70001) // crosses 64 KiB blocks
		name := "cached-" + uniqueHex(t, 8)
		mustWriteFile(t, filepath.Join(m.Dir, name), data, 0o644)
		want[name] = data
	}
	syncWait(t, store, key)
	deadline := time.Now().Add(20 * time.Second)
	for localDataBytes(t, store) > max {
		if time.Now().After(deadline) {
			t.Fatalf("local ciphertext still %d bytes, want <= %d", localDataBytes(t, store), max)
		}
		time.Sleep(100 * time.Millisecond)
	}
	m2 := m.Remount(t) // a fresh kernel page cache: reads reach the daemon
	for name, data := range want {
		compareBytes(t, filepath.Join(m2.Dir, name), data)
	}
	if got := localDataBytes(t, store); got > max {
		t.Errorf("reading evicted files refilled the local store to %d bytes", got)
	}
}

// objectNames lists the data objects of a file:// bucket.
func objectNames(t *testing.T, bucketDir string) map[string]bool {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(bucketDir, "data"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range ents {
		names[e.Name()] = true
	}
	return names
}

// TestRetentionKeepsThenDeletes: a replaced or deleted file's bucket copy
// outlives it for --retention, then goes.
func TestRetentionKeepsThenDeletes(t *testing.T) {
	bucketDir, url := fileBucket(t)
	store, key := remoteStore(t, url)
	m := mountSealfs(t, withStore(store, key), withMountArgs("--retention", "3s", "--seal-after", "0s"))
	p := filepath.Join(m.Dir, "kept-for-a-while")
	mustWriteFile(t, p, []byte("version one"), 0o644)
	syncWait(t, store, key)
	first := objectNames(t, bucketDir)
	if len(first) != 1 {
		t.Fatalf("bucket holds %d objects after one file, want 1", len(first))
	}
	mustWriteFile(t, p, []byte("version two"), 0o644) // O_TRUNC: a new version
	syncWait(t, store, key)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	both := objectNames(t, bucketDir)
	if len(both) != 2 {
		t.Fatalf("right after replace and delete the bucket holds %d objects, want both versions", len(both))
	}
	if !waitFor(20*time.Second, func() bool { return len(objectNames(t, bucketDir)) == 0 }) {
		t.Errorf("after the 3s retention the bucket still holds %v", objectNames(t, bucketDir))
	}
}

// TestStatusAndSyncTimeout: status shows the queue; sync --wait exits 1 when
// the bucket cannot take the uploads in time.
func TestStatusAndSyncTimeout(t *testing.T) {
	url, stop, restart := gcstest.Start(t)
	store, key := remoteStore(t, url)
	m := mountSealfs(t, withStore(store, key), withMountArgs("--seal-after", "0s"))
	stop()
	for i := range 3 {
		mustWriteFile(t, filepath.Join(m.Dir, fmt.Sprintf("queued-%d", i)), randomBytes(uint64(i), 70000), 0o644)
	}
	r := runSealfs(t, nil, "sync", "--wait", "--timeout", "1s", "--store", store, "--key-file", key)
	if r.Code != 1 || !strings.Contains(r.Stderr, "timed out") || !strings.Contains(r.Stderr, "3 files pending (/queued-") {
		t.Errorf("sync --wait against a dead bucket: exit %d, stderr %q; want 1 and a timeout message naming the files", r.Code, r.Stderr)
	}
	var st struct {
		Mounted      bool   `json:"mounted"`
		Remote       string `json:"remote"`
		PendingFiles int    `json:"pending_files"`
		PendingBytes int64  `json:"pending_bytes"`
		Lease        string `json:"lease"`
	}
	r = runSealfsOK(t, "status", "--json", "--store", store, "--key-file", key)
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, r.Stdout)
	}
	if !st.Mounted || !strings.HasPrefix(st.Remote, "gs://") || st.PendingFiles != 3 || st.PendingBytes < 3*70000 {
		t.Errorf("status during the outage: %+v, want mounted, gs:// remote, 3 files pending", st)
	}
	restart()
	syncWait(t, store, key)
	r = runSealfsOK(t, "status", "--store", store, "--key-file", key)
	if !strings.Contains(r.Stdout, "pending:         0 files, 0 bytes") {
		t.Errorf("status after sync:\n%s", r.Stdout)
	}
}

// TestEvictedReadWhileBucketIsGone: reading a file that is only in the
// bucket while the bucket is unreachable fails with EIO after
// --read-timeout (it does not hang), names the failure in the log, and
// works again once the bucket is back.
func TestEvictedReadWhileBucketIsGone(t *testing.T) {
	bucketDir, url := fileBucket(t)
	store, key := remoteStore(t, url)
	m := mountSealfs(t, withStore(store, key), withMountArgs("--cache-max", "1K", "--read-timeout", "3s"))
	data := randomBytes(41, 200<<10)
	mustWriteFile(t, filepath.Join(m.Dir, "evicted"), data, 0o644)
	syncWait(t, store, key)
	if !waitFor(20*time.Second, func() bool { return localDataBytes(t, store) == 0 }) {
		t.Fatalf("local ciphertext still %d bytes", localDataBytes(t, store))
	}
	m.Unmount(t) // a fresh kernel page cache: the read reaches the daemon
	m2 := mountSealfs(t, withStore(store, key), withMountpoint(m.Dir), withMountArgs("--cache-max", "1K", "--read-timeout", "3s"))
	away := bucketDir + ".unplugged"
	if err := os.Rename(bucketDir, away); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := os.ReadFile(filepath.Join(m2.Dir, "evicted"))
	if !errors.Is(err, syscall.EIO) {
		t.Errorf("read with the bucket gone: %v, want EIO", err)
	}
	if d := time.Since(start); d > 45*time.Second {
		t.Errorf("read with the bucket gone took %v with --read-timeout 3s", d)
	}
	if !m2.waitForLog("read from the bucket failed", 10*time.Second) {
		t.Errorf("no log line for the failed read:\n%s", m2.Stderr())
	}
	if err := os.Rename(away, bucketDir); err != nil {
		t.Fatal(err)
	}
	compareBytes(t, filepath.Join(m2.Dir, "evicted"), data)
}

// TestEvictedReadIsInterruptible: a program stuck reading a file that is
// only in the bucket while the bucket is unreachable can be killed at
// once (the daemon answers the kernel's INTERRUPT), not after a ten-minute
// --read-timeout; the mount goes on and reads the file once the bucket is
// back.
func TestEvictedReadIsInterruptible(t *testing.T) {
	bucketDir, url := fileBucket(t)
	store, key := remoteStore(t, url)
	args := withMountArgs("--cache-max", "1K", "--read-timeout", "10m")
	m := mountSealfs(t, withStore(store, key), args)
	data := randomBytes(43, 300<<10)
	mustWriteFile(t, filepath.Join(m.Dir, "evicted"), data, 0o644)
	syncWait(t, store, key)
	if !waitFor(20*time.Second, func() bool { return localDataBytes(t, store) == 0 }) {
		t.Fatalf("local ciphertext still %d bytes", localDataBytes(t, store))
	}
	m.Unmount(t)
	m2 := mountSealfs(t, withStore(store, key), withMountpoint(m.Dir), args)
	away := bucketDir + ".unplugged"
	if err := os.Rename(bucketDir, away); err != nil {
		t.Fatal(err)
	}
	restored := false
	t.Cleanup(func() {
		if !restored {
			os.Rename(away, bucketDir)
		}
	})
	cat := exec.Command("cat", filepath.Join(m2.Dir, "evicted"))
	cat.Stdout = io.Discard
	if err := cat.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cat.Wait() }()
	// Blocked means: asleep in the kernel, waiting for the daemon.
	blocked := waitFor(30*time.Second, func() bool {
		wchan, _ := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", cat.Process.Pid))
		return strings.Contains(string(wchan), "fuse") || strings.Contains(string(wchan), "request_wait_answer")
	})
	if !blocked {
		t.Log("cat was not seen waiting on the mount; interrupting it anyway")
	}
	start := time.Now()
	cat.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err == nil {
			t.Fatalf("cat with the bucket gone succeeded")
		}
	case <-time.After(60 * time.Second):
		cat.Process.Kill()
		t.Fatalf("cat was still blocked %v after SIGTERM (--read-timeout is 10m)", time.Since(start))
	}
	if err := os.Rename(away, bucketDir); err != nil {
		t.Fatal(err)
	}
	restored = true
	compareBytes(t, filepath.Join(m2.Dir, "evicted"), data)
}

// TestInitChecksTheRemote: init --remote with a bucket that does not
// exist is refused in one line with exit 2, and creates neither store
// nor key.
func TestInitChecksTheRemote(t *testing.T) {
	base := t.TempDir()
	store, key := filepath.Join(base, "store"), filepath.Join(base, "keys", "master.key")
	r := runSealfs(t, nil, "init", "--store", store, "--key-file", key, "--remote", "file://"+filepath.Join(base, "no-such-bucket"))
	if r.Code != 2 || !strings.Contains(r.Stderr, "nothing was created") || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 0 {
		t.Errorf("init with a missing bucket: exit %d, stderr %q", r.Code, r.Stderr)
	}
	for _, p := range []string{store, key} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s exists after a refused init (%v)", p, err)
		}
	}
}
