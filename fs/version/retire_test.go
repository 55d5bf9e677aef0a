package version_test

import (
	"testing"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/fs/version"
	"github.com/sealfs/sealfs/meta"
)

// TestRetiredVersionsKeepWhatUndeleteNeeds: replacing and then deleting a
// file leaves one record per version with its keys, size, time and
// attributes, and the deleted one with the file's last path.
func TestRetiredVersionsKeepWhatUndeleteNeeds(t *testing.T) {
	r := newTestRig(t)
	r.k = version.New(version.Config{
		Meta: r.meta, Data: r.data, Wrapper: crypto.NewWrapper(r.key), BlockSize: blockSize,
		Upload: &version.Upload{Retention: time.Hour},
	})
	must(t, r.create(contentA))
	must(t, r.k.Commit())
	f, err := r.open(version.Replace)
	must(t, err)
	must(t, write(f, patchX, 0))
	must(t, r.k.Release(f, nil))
	must(t, r.k.Commit())
	must(t, r.meta.Update(func(tx *meta.Tx) error {
		if err := tx.DeleteEntry(1, theName); err != nil {
			return err
		}
		return tx.MarkOrphan(theIno, "/dir/x")
	}))
	must(t, r.k.Destroy(theIno))

	var got []meta.Retired
	must(t, r.meta.View(func(tx *meta.Tx) error {
		return tx.EachRetired(func(v meta.Retired) bool { got = append(got, v); return true })
	}))
	if len(got) != 2 {
		t.Fatalf("%d retired versions, want 2: %+v", len(got), got)
	}
	replaced, deleted := got[0], got[1]
	if replaced.Deleted || replaced.Size != uint64(len(contentA)) || !replaced.Restorable() {
		t.Errorf("replaced version: %+v", replaced)
	}
	if !deleted.Deleted || deleted.Path != "/dir/x" || deleted.Size != uint64(len(patchX)) || !deleted.Restorable() {
		t.Errorf("deleted version: %+v", deleted)
	}
	for _, v := range got {
		if v.Ino != theIno || v.Mode != 0o100644 || v.At == 0 || v.After-v.At != int64(time.Hour) {
			t.Errorf("version %x: ino %d mode %o at %d after %d", v.FileID, v.Ino, v.Mode, v.At, v.After)
		}
	}
	if replaced.FileID == deleted.FileID {
		t.Error("both records name one version")
	}
}
