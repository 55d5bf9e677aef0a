package uploader_test

import (
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
	key := make([]byte, 32)
	rand.Read(key)
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

// addVersion stores content for ino as its current version and queues it.
func (r *rig) addVersion(t *testing.T, ino meta.Ino, content string, queue bool) crypto.FileID {
	t.Helper()
	id, _ := crypto.NewFileID()
	if err := os.WriteFile(filepath.Join(string(r.data), id.String()), []byte(content), 0o600); err != nil {
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
		return tx.PutUpload(meta.Upload{Ino: ino, FileID: id, Size: int64(len(content)), Due: now, Queued: now})
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
	if err != nil || string(got) != "closed but never queued" {
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
		return tx.PutDeletion(meta.Deletion{FileID: id, After: time.Now().Add(300 * time.Millisecond).UnixNano()})
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
	a, err := uploader.AcquireLease(ctx, r.bucket, "store-a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := uploader.AcquireLease(ctx, r.bucket, "store-b", time.Minute); !errors.Is(err, uploader.ErrLeaseHeld) {
		t.Fatalf("second holder: %v, want ErrLeaseHeld", err)
	}
	if _, err := uploader.AcquireLease(ctx, r.bucket, "store-a", time.Minute); err != nil {
		t.Fatalf("same store taking its lease back after a restart: %v", err)
	}
	if err := a.Renew(ctx); !errors.Is(err, uploader.ErrLeaseHeld) {
		t.Errorf("renewing a lease taken over meanwhile: %v, want ErrLeaseHeld", err)
	}
}

func TestExpiredLeaseIsTakenOver(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if _, err := uploader.AcquireLease(ctx, r.bucket, "crashed-store", 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := uploader.AcquireLease(ctx, r.bucket, "new-store", time.Minute); err != nil {
		t.Fatalf("taking over an expired lease: %v", err)
	}
}
