package uploader_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/remote/snapshot"
	"github.com/sealfs/sealfs/remote/uploader"
)

// TestSnapshotUploadsKeySlots: a snapshot puts the key slot file in the
// bucket when it changed since the last one, and only then.
func TestSnapshotUploadsKeySlots(t *testing.T) {
	r := newRig(t)
	key, err := crypto.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	slots := []byte(`{"version":1}`)
	reads := 0
	up := uploader.New(uploader.Config{
		Meta: r.meta, Data: r.data, Bucket: r.bucket, Workers: 1,
		Snapshots: &snapshot.Writer{Bucket: r.bucket, Key: key, TempDir: t.TempDir()},
		KeySlots: func() ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			reads++
			return bytes.Clone(slots), nil
		},
	})
	object := filepath.Join(r.bucketDir, uploader.SlotsKey)
	ctx := context.Background()
	snap := func(want string) {
		t.Helper()
		if err := up.Snapshot(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(object)
		if want == "" {
			if !os.IsNotExist(err) {
				t.Fatalf("the bucket's key slots were uploaded again unchanged: %q, %v", got, err)
			}
			return
		}
		if err != nil || string(got) != want {
			t.Fatalf("bucket key slots: %q, %v; want %q", got, err, want)
		}
	}
	snap(`{"version":1}`)
	// Unchanged: not uploaded again (the removed object stays removed).
	if err := os.Remove(object); err != nil {
		t.Fatal(err)
	}
	snap("")
	mu.Lock()
	slots = []byte(`{"version":1,"slots":[]}`)
	mu.Unlock()
	snap(`{"version":1,"slots":[]}`)
	if reads != 3 {
		t.Errorf("the slot file was read %d times for 3 snapshots", reads)
	}
}
