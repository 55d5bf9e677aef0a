package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/driver"
	"github.com/sealfs/sealfs/remote/gcs/gcstest"
	"github.com/sealfs/sealfs/remote/snapshot"
)

// gcsObject is one object as the bucket holds it: its bytes' hash and
// its generation (a rewrite, even of the same bytes, gets a new one).
type gcsObject struct{ sum, generation string }

// bucketObjects reads every object under prefix in b.
func bucketObjects(t *testing.T, b *remote.Bucket, prefix string) map[string]gcsObject {
	t.Helper()
	ctx := context.Background()
	var attrs []driver.Attributes
	if err := b.List(ctx, prefix, func(a driver.Attributes) error { attrs = append(attrs, a); return nil }); err != nil {
		t.Fatal(err)
	}
	objs := map[string]gcsObject{}
	for _, a := range attrs {
		r, err := b.NewRangeReader(ctx, a.Key, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil {
			t.Fatalf("read %s: %v", a.Key, err)
		}
		objs[a.Key] = gcsObject{hex.EncodeToString(h.Sum(nil)), a.Version}
	}
	return objs
}

// TestKeyRotateGCS is the rotation of issue 10 against the GCS emulator:
// a tree and a 200 MiB file synced to GCS, then `key rotate`. No data
// object is rewritten (same bytes, same generation) and none is added;
// every snapshot and manifest left in the bucket opens under the new key
// only; the bucket recovers whole with the new key file and with the
// passphrase, and refuses the old key.
func TestKeyRotateGCS(t *testing.T) {
	url, _, _ := gcstest.Start(t)
	store, key := remoteStore(t, url)
	pass := secretFile(t, "a passphrase for the GCS rotation")
	runSealfsOK(t, "key", "add", "--store", store, "--unlock-key-file", key, "--passphrase", "--new-passphrase-file", pass, cheapKDF)
	m := mountSealfs(t, withStore(store, key))
	want := rotationTree(t, m, 200, 200<<20+5)
	syncWait(t, store, key)
	m.Unmount(t)

	b, err := remote.Open(context.Background(), url, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	before := bucketObjects(t, b, "data/")
	if len(before) < len(want) {
		t.Fatalf("%d data objects in the bucket for %d files", len(before), len(want))
	}
	oldKey := filepath.Join(t.TempDir(), "old.key")
	copyDir(t, key, oldKey)

	r := runSealfsOK(t, "key", "rotate", "--store", store, "--key-file", key)
	if !strings.Contains(r.Stdout, "deleted the ones under the old key") {
		t.Fatalf("key rotate said:\n%s%s", r.Stdout, r.Stderr)
	}
	old, err := crypto.LoadKeyFile(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	next, err := crypto.LoadKeyFile(key)
	if err != nil {
		t.Fatal(err)
	}

	after := bucketObjects(t, b, "data/")
	if len(after) != len(before) {
		t.Errorf("%d data objects after the rotation, %d before", len(after), len(before))
	}
	for k, o := range before {
		if after[k] != o {
			t.Errorf("%s changed in the rotation: %+v, was %+v", k, after[k], o)
		}
	}

	metaObjs := bucketObjects(t, b, "meta/")
	if len(metaObjs) == 0 {
		t.Fatal("no snapshot in the bucket")
	}
	ctx := context.Background()
	for k := range metaObjs {
		rd, err := b.NewRangeReader(ctx, k, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(rd)
		rd.Close()
		if err != nil {
			t.Fatal(err)
		}
		sealedUnderOnly(t, k, body, old, next)
	}
	l, err := snapshot.List(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := snapshot.Latest(ctx, b, old, l); !errors.Is(err, snapshot.ErrNoSnapshot) {
		t.Errorf("a snapshot in the bucket opens with the old key: %v", err)
	}
	if deks := snapshotDEKs(t, b, next); len(deks) != len(want) {
		t.Errorf("the new snapshot names %d files, want %d", len(deks), len(want))
	}

	recoversAfterRotation(t, url, want, key, pass, oldKey)
}
