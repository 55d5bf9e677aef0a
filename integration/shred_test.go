package integration

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/snapshot"
)

// dataObjects returns the bytes of every object under bucketDir/data by
// file ID (hex).
func dataObjects(t *testing.T, bucketDir string) map[string][]byte {
	t.Helper()
	objs := map[string][]byte{}
	paths, err := filepath.Glob(filepath.Join(bucketDir, "data", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		objs[filepath.Base(p)] = readFile(t, p)
	}
	return objs
}

// TestShred shreds a directory of a synced tree: its files (one with a
// replaced version, one hard-linked from outside it) and a file deleted
// in it before (kept in the trash). Afterwards the copies of their objects
// kept from before open with no DEK any current key reaches, locally or
// in the bucket; everything else reads back, mounted and recovered from
// the bucket; check lists a shredded object put back in the bucket as
// shredded, not damage.
func TestShred(t *testing.T) {
	bucketDir, url := fileBucket(t)
	store, key := remoteStore(t, url)
	pass := secretFile(t, "the shred's passphrase")
	runSealfsOK(t, "key", "add", "--store", store, "--unlock-key-file", key, "--passphrase", "--new-passphrase-file", pass, cheapKDF)
	m := mountSealfs(t, withStore(store, key))
	keep := rotationTree(t, m, 40, 0)
	mustMkdir(t, filepath.Join(m.Dir, "cust", "sub"), 0o755)
	writeRandomFile(t, filepath.Join(m.Dir, "cust", "a.txt"), 5000, 1)
	writeRandomFile(t, filepath.Join(m.Dir, "cust", "sub", "b.bin"), 3<<20, 2)
	writeRandomFile(t, filepath.Join(m.Dir, "cust", "gone.txt"), 700, 3)
	mustMkdir(t, filepath.Join(m.Dir, "other"), 0o755)
	if err := os.Link(filepath.Join(m.Dir, "cust", "a.txt"), filepath.Join(m.Dir, "other", "link")); err != nil {
		t.Fatal(err)
	}
	mustMkdir(t, filepath.Join(m.Dir, "pub"), 0o755)
	runSealfsOK(t, "encryption", "--store", store, "--key-file", key, "off", "/pub")
	keep["pub/x.txt"] = writeRandomFile(t, filepath.Join(m.Dir, "pub", "x.txt"), 900, 5)
	syncWait(t, store, key)
	writeRandomFile(t, filepath.Join(m.Dir, "cust", "a.txt"), 6000, 4) // the first version is retired
	if err := os.Remove(filepath.Join(m.Dir, "cust", "gone.txt")); err != nil {
		t.Fatal(err)
	}
	syncWait(t, store, key)
	m.Unmount(t)

	before := dataObjects(t, bucketDir)
	oldKey := filepath.Join(t.TempDir(), "old.key")
	copyDir(t, key, oldKey)

	expectRefused(t, []string{"shred", "--store", store, "--key-file", key, "/cust"}, "", "give --yes")
	expectRefused(t, []string{"shred", "--yes", "--store", store, "--key-file", key, "/cust", "/pub"}, "", "plain content")
	expectRefused(t, []string{"shred", "--yes", "--store", store, "--key-file", key, "/nowhere"}, "", "no such file")
	expectRefused(t, []string{"shred", "--yes", "--store", store, "--passphrase-file", pass, "/cust"}, "", "give --new-key-file")
	if k, _ := crypto.LoadKeyFile(key); k.ID() != mustKeyID(t, oldKey) {
		t.Fatal("a refused shred rotated the key")
	}
	if got := dataObjects(t, bucketDir); len(got) != len(before) {
		t.Fatalf("a refused shred changed the bucket: %d objects, %d before", len(got), len(before))
	}
	r := runSealfsOK(t, "shred", "--yes", "--store", store, "--key-file", key, "/cust")
	for _, want := range []string{"shredded 2 files and 2 directories: the DEKs of 4 versions", "rotated the master key", "deleted 4 shredded objects"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("shred output lacks %q:\n%s%s", want, r.Stdout, r.Stderr)
		}
	}
	after := dataObjects(t, bucketDir)
	shredded := map[string][]byte{}
	for id, obj := range before {
		if _, ok := after[id]; !ok {
			shredded[id] = obj
		}
	}
	// a.txt's two versions, b.bin, gone.txt.
	if len(shredded) != 4 || len(after) != len(before)-4 {
		t.Fatalf("%d objects went from the bucket (%d left of %d), want the 4 shredded versions", len(shredded), len(after), len(before))
	}

	next, err := crypto.LoadKeyFile(key)
	if err != nil {
		t.Fatal(err)
	}
	old, err := crypto.LoadKeyFile(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	if next.ID() == old.ID() {
		t.Fatal("shred did not rotate the master key")
	}
	b, err := remote.Open(context.Background(), url, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	deks := snapshotDEKs(t, b, next)
	w := crypto.NewWrapper(next)
	for idHex, obj := range shredded {
		var id [16]byte
		hex.Decode(id[:], []byte(idHex))
		if _, ok := deks[id]; ok {
			t.Errorf("the bucket's snapshot still names shredded version %s", idHex)
		}
		for _, fk := range deks {
			if _, err := crypto.OpenFile(w, objectBacking(obj), fk); err == nil {
				t.Fatalf("a kept copy of shredded object %s opens with a DEK of the current snapshot", idHex)
			}
		}
		if _, err := crypto.OpenFile(w, objectBacking(obj), crypto.FileKey{}); err == nil {
			t.Fatalf("a kept copy of shredded object %s opens with the new key alone", idHex)
		}
		if _, err := os.Stat(filepath.Join(store, "data", idHex[:2], idHex)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the store still holds the ciphertext of %s: %v", idHex, err)
		}
	}
	l, err := snapshot.List(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := snapshot.Latest(context.Background(), b, old, l); !errors.Is(err, snapshot.ErrNoSnapshot) {
		t.Errorf("a snapshot in the bucket opens with the pre-shred key: %v", err)
	}
	shreddedRecords(t, store, next, shredded)

	m = mountSealfs(t, withStore(store, key))
	checkSums(t, m.Dir, keep)
	for _, gone := range []string{"cust", "other/link"} {
		if _, err := os.Lstat(filepath.Join(m.Dir, gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after the shred: %v", gone, err)
		}
	}
	m.Unmount(t)
	if out := runSealfsOK(t, "ls", "--store", store, "--key-file", key, "/").Stdout; strings.Contains(out, "cust") {
		t.Errorf("ls still shows the shredded tree:\n%s", out)
	}
	if r := runSealfs(t, nil, "versions", "--store", store, "--key-file", key, "/cust/gone.txt"); r.Code == 0 {
		t.Errorf("versions of the shredded, deleted file:\n%s", r.Stdout)
	}

	// A copy of a shredded object that comes back (bucket versioning) is
	// listed as shredded, not as damage.
	var one string
	for id := range shredded {
		one = id
	}
	mustWriteFile(t, filepath.Join(bucketDir, "data", one), shredded[one], 0o600)
	r = runSealfsOK(t, "check", "--remote", "--store", store, "--key-file", key)
	if !strings.Contains(r.Stdout, "shredded (opens with no key): bucket data/"+one) || !strings.Contains(r.Stdout, "0 problems, 0 orphans") {
		t.Errorf("check after a shredded object came back:\n%s%s", r.Stdout, r.Stderr)
	}

	recovered := filepath.Join(t.TempDir(), "recovered")
	runSealfsOK(t, "recover", "--remote", url, "--store", recovered, "--key-file", key)
	m = mountSealfs(t, withStore(recovered, key))
	checkSums(t, m.Dir, keep)
	if _, err := os.Lstat(filepath.Join(m.Dir, "cust")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the recovered store has the shredded tree: %v", err)
	}
	m.Unmount(t)
}

func mustKeyID(t *testing.T, file string) crypto.KeyID {
	t.Helper()
	k, err := crypto.LoadKeyFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return k.ID()
}

// shreddedRecords checks that no record of the store, opened with its
// current key, holds a DEK of a shredded version.
func shreddedRecords(t *testing.T, store string, key *crypto.MasterKey, shredded map[string][]byte) {
	t.Helper()
	work := filepath.Join(t.TempDir(), "meta")
	copyDir(t, filepath.Join(store, "meta"), work)
	ms, err := meta.Open(work, meta.Keys{AtRest: key.BadgerKey(), Values: key.MetaValueKey()})
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	err = ms.View(func(tx *meta.Tx) error {
		held := func(id [16]byte) {
			if _, ok := shredded[hex.EncodeToString(id[:])]; ok {
				t.Errorf("a record still holds the DEK of shredded version %x", id)
			}
		}
		if err := tx.Contents(func(_ meta.Ino, c meta.Content) bool { held(c.FileID); return true }); err != nil {
			return err
		}
		if err := tx.EachRetired(func(r meta.Retired) bool { held(r.FileID); return true }); err != nil {
			return err
		}
		n := 0
		if err := tx.EachShredded(func([16]byte, int64) bool { n++; return true }); err != nil {
			return err
		}
		if n != len(shredded) {
			t.Errorf("%d shred tombstones, want %d", n, len(shredded))
		}
		return tx.Unsettleds(func(_ meta.Ino, u meta.Unsettled) bool {
			held(u.FileID)
			if u.Prev != nil {
				held(u.Prev.Content.FileID)
			}
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestShredSurvivesKill: kill -9 at random points of shred; running it
// again (after key rotate, when the kill cut a rotation short) finishes
// it. At the end every other file reads, no record holds a shredded DEK,
// no shredded object is left in the bucket, and the bucket recovers whole.
func TestShredSurvivesKill(t *testing.T) {
	bucketDir, url := fileBucket(t)
	store, key := remoteStore(t, url)
	m := mountSealfs(t, withStore(store, key))
	keep := rotationTree(t, m, 200, 0)
	const dirs = 9
	for d := range dirs + 1 {
		for i := range 30 {
			p := filepath.Join(m.Dir, fmt.Sprintf("cust%02d", d), fmt.Sprintf("s%d", i%3), fmt.Sprintf("f%02d", i))
			mustMkdir(t, filepath.Dir(p), 0o755)
			writeRandomFile(t, p, int64(200+i*50), uint64(1000+d*100+i))
		}
	}
	syncWait(t, store, key)
	m.Unmount(t)

	start := time.Now()
	runSealfsOK(t, "shred", "--yes", "--store", store, "--key-file", key, fmt.Sprintf("/cust%02d", dirs))
	span := time.Since(start)

	rng := newRand(23)
	outcomes := map[string]int{}
	for d := range dirs {
		target := fmt.Sprintf("/cust%02d", d)
		cmd := exec.Command(sealfsBin, "shred", "--yes", "--store", store, "--key-file", key, target)
		cmd.Env = sealfsEnv(t)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Uint64() % uint64(span+span/4)))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()

		for attempt := 0; ; attempt++ {
			if attempt == 3 {
				t.Fatalf("kill %d: shred did not finish in 3 runs", d)
			}
			r := runSealfs(t, nil, "shred", "--yes", "--store", store, "--key-file", key, target)
			if r.Code == 0 {
				outcomes["finished by a second run"]++
				break
			}
			if r.Code == 2 && strings.Contains(r.Stderr, "no such file") {
				outcomes["had finished"]++
				break
			}
			if r.Code == 2 && strings.Contains(r.Stderr, "key rotate") {
				outcomes["rotation finished by key rotate"]++
				runSealfsOK(t, "key", "rotate", "--store", store, "--key-file", key)
				continue
			}
			t.Fatalf("kill %d: shred again: exit %d\n%s%s", d, r.Code, r.Stdout, r.Stderr)
		}
		if out := runSealfsOK(t, "ls", "--store", store, "--key-file", key, "/").Stdout; strings.Contains(out, target[1:]) {
			t.Fatalf("kill %d: %s is still listed:\n%s", d, target, out)
		}
	}
	t.Logf("%d kills: %v", dirs, outcomes)

	next, err := crypto.LoadKeyFile(key)
	if err != nil {
		t.Fatal(err)
	}
	tombstones := map[string][]byte{}
	work := filepath.Join(t.TempDir(), "meta")
	copyDir(t, filepath.Join(store, "meta"), work)
	ms, err := meta.Open(work, meta.Keys{AtRest: next.BadgerKey(), Values: next.MetaValueKey()})
	if err != nil {
		t.Fatal(err)
	}
	err = ms.View(func(tx *meta.Tx) error {
		mark, err := tx.Shredding()
		if err == nil && mark.At != 0 {
			t.Errorf("a shred mark is left: %+v", mark)
		}
		return tx.EachShredded(func(id [16]byte, _ int64) bool { tombstones[hex.EncodeToString(id[:])] = nil; return true })
	})
	ms.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(tombstones) != (dirs+1)*30 {
		t.Errorf("%d shredded versions, want %d", len(tombstones), (dirs+1)*30)
	}
	shreddedRecords(t, store, next, tombstones)
	for id := range dataObjects(t, bucketDir) {
		if _, ok := tombstones[id]; ok {
			t.Errorf("shredded object data/%s is still in the bucket", id)
		}
	}

	m = mountSealfs(t, withStore(store, key))
	checkSums(t, m.Dir, keep)
	m.Unmount(t)
	recovered := filepath.Join(t.TempDir(), "recovered")
	runSealfsOK(t, "recover", "--remote", url, "--store", recovered, "--key-file", key)
	m = mountSealfs(t, withStore(recovered, key))
	checkSums(t, m.Dir, keep)
	m.Unmount(t)
}
