package uploader_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
	"github.com/sealfs/sealfs/remote"
	_ "github.com/sealfs/sealfs/remote/file"
	"github.com/sealfs/sealfs/remote/uploader"
)

// dataDir is a DataSource: one file per version, named by its file ID.
type dataDir string

func (d dataDir) OpenData(id crypto.FileID) (*os.File, error) {
	return os.Open(filepath.Join(string(d), id.String()))
}

type rig struct {
	meta      *meta.Store
	data      dataDir
	bucket    *remote.Bucket
	bucketDir string
	up        *uploader.Uploader
}

func newRig(t *testing.T) *rig {
	t.Helper()
	key := meta.Keys{AtRest: make([]byte, 32), Values: make([]byte, 32)}
	rand.Read(key.AtRest)
	rand.Read(key.Values)
	m, err := meta.Open(t.TempDir(), key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	bucketDir := t.TempDir()
	b, err := remote.Open(context.Background(), "file://"+bucketDir, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	r := &rig{meta: m, data: dataDir(t.TempDir()), bucket: b, bucketDir: bucketDir}
	r.up = uploader.New(uploader.Config{Meta: m, Data: r.data, Bucket: b, Workers: 3, DeleteEvery: 50 * time.Millisecond})
	return r
}

// versionBytes is what the store holds for version id with content: the
// part of a content header the uploader checks (magic, version, block
// size, file ID), then content.
func versionBytes(id crypto.FileID, content string) []byte {
	return append(append([]byte("SEALFSCT\x00\x02\x00\x01\x00\x00"), id[:]...), content...)
}

// addVersion stores content for ino as its current version and queues it.
func (r *rig) addVersion(t *testing.T, ino meta.Ino, content string, queue bool) crypto.FileID {
	t.Helper()
	id, _ := crypto.NewFileID()
	data := versionBytes(id, content)
	if err := os.WriteFile(filepath.Join(string(r.data), id.String()), data, 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixNano()
	err := r.meta.Update(func(tx *meta.Tx) error {
		if err := tx.PutContent(ino, meta.Content{FileID: id, Sync: meta.SyncPending}); err != nil {
			return err
		}
		if !queue {
			return nil
		}
		return tx.PutUpload(meta.Upload{Ino: ino, FileID: id, Size: int64(len(data)), Due: now, Queued: now})
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (r *rig) content(t *testing.T, ino meta.Ino) meta.Content {
	t.Helper()
	var c meta.Content
	if err := r.meta.View(func(tx *meta.Tx) (err error) { c, err = tx.Content(ino); return err }); err != nil {
		t.Fatal(err)
	}
	return c
}

func (r *rig) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.up.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (r *rig) waitSynced(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.up.WaitSynced(ctx); err != nil {
		t.Fatalf("WaitSynced: %v", err)
	}
}

func TestUploadsMarkSyncedAndSkipSuperseded(t *testing.T) {
	r := newRig(t)
	ids := map[meta.Ino]crypto.FileID{}
	for ino := meta.Ino(2); ino < 12; ino++ {
		ids[ino] = r.addVersion(t, ino, strings.Repeat("x", int(ino)*1000), true)
	}
	// Inode 2 gets a new version before the uploader runs: the old job must
	// not reach the bucket, and must not mark the new version synced.
	stale := ids[2]
	ids[2] = r.addVersion(t, 2, "newer", false)
	r.run(t)
	r.waitSynced(t)
	for ino, id := range ids {
		c := r.content(t, ino)
		_, err := os.Stat(filepath.Join(r.bucketDir, uploader.ObjectKey(id)))
		if ino == 2 {
			if c.Sync == meta.SyncSynced || err == nil {
				t.Errorf("unqueued new version of inode 2: state %q, object err %v; want neither synced nor uploaded", c.Sync, err)
			}
			continue
		}
		if c.Sync != meta.SyncSynced || c.SyncDetail == "" || err != nil {
			t.Errorf("inode %d: state %q %q, object %v; want synced with a version", ino, c.Sync, c.SyncDetail, err)
		}
	}
	if _, err := os.Stat(filepath.Join(r.bucketDir, uploader.ObjectKey(stale))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("superseded version was uploaded: %v", err)
	}
	st, err := r.up.Status()
	if err != nil || st.PendingFiles != 0 {
		t.Errorf("status after sync: %+v, %v; want nothing pending", st, err)
	}
}

func TestQueueUnsyncedFindsLostJobs(t *testing.T) {
	r := newRig(t)
	lost := r.addVersion(t, 5, "closed but never queued", false)
	n, err := r.up.QueueUnsynced()
	if err != nil || n != 1 {
		t.Fatalf("QueueUnsynced = %d, %v; want 1", n, err)
	}
	if n, _ := r.up.QueueUnsynced(); n != 0 {
		t.Errorf("second QueueUnsynced queued %d again", n)
	}
	r.run(t)
	r.waitSynced(t)
	got, err := os.ReadFile(filepath.Join(r.bucketDir, uploader.ObjectKey(lost)))
	if err != nil || string(got) != string(versionBytes(lost, "closed but never queued")) {
		t.Errorf("object: %q, %v", got, err)
	}
}

func TestExpiredDeletionsLeaveTheBucket(t *testing.T) {
	r := newRig(t)
	id := r.addVersion(t, 7, "to be retired", true)
	r.run(t)
	r.waitSynced(t)
	obj := filepath.Join(r.bucketDir, uploader.ObjectKey(id))
	if _, err := os.Stat(obj); err != nil {
		t.Fatal(err)
	}
	err := r.meta.Update(func(tx *meta.Tx) error {
		return tx.PutRetired(meta.Retired{FileID: id, After: time.Now().Add(300 * time.Millisecond).UnixNano()})
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(obj); err != nil {
		t.Errorf("object deleted before its retention ended: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(obj); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("object still in the bucket after its retention")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLeaseRefusesAnotherHolder(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	a1 := uploader.Holder{Store: "store-a", Instance: "one"}
	a, err := uploader.AcquireLease(ctx, r.bucket, a1, time.Minute, false)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(r.bucketDir, "lease"))
	host, _ := os.Hostname()
	if bytes.Contains(raw, []byte(host)) || bytes.Contains(raw, []byte("pid")) {
		t.Errorf("lease reveals the machine: %s", raw)
	}
	_, err = uploader.AcquireLease(ctx, r.bucket, uploader.Holder{Store: "store-b"}, time.Minute, false)
	if !errors.Is(err, uploader.ErrLeaseHeld) || !strings.Contains(err.Error(), "store-a") || !strings.Contains(err.Error(), "until") {
		t.Fatalf("second holder: %v, want ErrLeaseHeld naming the holder and expiry", err)
	}
	// A recovered copy of store-a is another instance: refused too.
	if _, err := uploader.AcquireLease(ctx, r.bucket, uploader.Holder{Store: "store-a", Instance: "two"}, time.Minute, false); !errors.Is(err, uploader.ErrLeaseHeld) {
		t.Fatalf("another instance of the store: %v, want ErrLeaseHeld", err)
	}
	if _, err := uploader.AcquireLease(ctx, r.bucket, a1, time.Minute, false); err != nil {
		t.Fatalf("same store taking its lease back after a restart: %v", err)
	}
	if err := a.Renew(ctx); !errors.Is(err, uploader.ErrLeaseHeld) {
		t.Errorf("renewing a lease taken over meanwhile: %v, want ErrLeaseHeld", err)
	}
	// --takeover takes a live lease; the old holder's release leaves it alone.
	b, err := uploader.AcquireLease(ctx, r.bucket, uploader.Holder{Store: "store-b"}, time.Minute, true)
	if err != nil {
		t.Fatalf("takeover: %v", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatalf("release of a lost lease: %v", err)
	}
	if _, err := uploader.AcquireLease(ctx, r.bucket, a1, time.Minute, false); !errors.Is(err, uploader.ErrLeaseHeld) {
		t.Fatalf("the old holder's release freed the new holder's lease: %v", err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := uploader.AcquireLease(ctx, r.bucket, a1, time.Minute, false); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

func TestExpiredLeaseIsTakenOver(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if _, err := uploader.AcquireLease(ctx, r.bucket, uploader.Holder{Store: "crashed-store"}, 10*time.Millisecond, false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := uploader.AcquireLease(ctx, r.bucket, uploader.Holder{Store: "new-store"}, time.Minute, false); err != nil {
		t.Fatalf("taking over an expired lease: %v", err)
	}
}

// TestSwappedStoreFileIsNotUploaded: a store file replaced by one that is
// not the version its job names (another file's ciphertext, a planted file)
// never reaches the bucket, and the version is not marked synced.
func TestSwappedStoreFileIsNotUploaded(t *testing.T) {
	r := newRig(t)
	swapped := r.addVersion(t, 3, "genuine", true)
	other, _ := crypto.NewFileID()
	os.WriteFile(filepath.Join(string(r.data), swapped.String()), versionBytes(other, "genuine"), 0o600)
	planted := r.addVersion(t, 4, "genuine too", true)
	os.WriteFile(filepath.Join(string(r.data), planted.String()), []byte("root:x:0:0:secret shadow line"), 0o600)
	r.addVersion(t, 5, "fine", true)
	r.run(t)
	if !waitForCond(20*time.Second, func() bool { return r.content(t, 5).Sync == meta.SyncSynced }) {
		t.Fatal("the genuine version was never uploaded")
	}
	for _, id := range []crypto.FileID{swapped, planted} {
		if _, err := os.Stat(filepath.Join(r.bucketDir, uploader.ObjectKey(id))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("object %s uploaded: %v", id, err)
		}
	}
	for _, ino := range []meta.Ino{3, 4} {
		if c := r.content(t, ino); c.Sync == meta.SyncSynced {
			t.Errorf("inode %d marked synced", ino)
		}
	}
}

func waitForCond(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
