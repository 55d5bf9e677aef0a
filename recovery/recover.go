// Package recovery rebuilds a store on a new machine from the bucket and
// the master key alone: the newest genuine metadata snapshot gives the
// names, attributes and wrapped DEKs, and the bucket's data objects the
// content, fetched on first read or (Download) all at once and verified.
package recovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/keyslot"
	"github.com/sealfs/sealfs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/snapshot"
	"github.com/sealfs/sealfs/remote/uploader"
	"github.com/sealfs/sealfs/store"
)

// Options says what to recover and where.
type Options struct {
	Bucket *remote.Bucket
	Key    *crypto.MasterKey
	Store  string // the new store's directory: missing or empty
	// Sealed are the bucket credentials, sealed for Bucket.URL(), kept
	// in the new store (nil: none).
	Sealed []byte
	// Slots are the store's key slots, from the bucket (nil: the new
	// store gets one key-file slot).
	Slots *keyslot.File
	// Snapshot is the ID of the snapshot to restore; "" is the newest.
	Snapshot string
	// Download fetches and verifies every file's content now; otherwise it
	// is fetched from the bucket on first read.
	Download bool
	Workers  int      // parallel downloads; default 4
	Progress Progress // nil: none
}

// Report says what was recovered.
type Report struct {
	Snapshot   snapshot.Entry
	StoreID    [16]byte
	Files      int      // regular files
	Bytes      int64    // their plaintext size
	Missing    []string // paths of files whose object is not in the bucket (they read EIO)
	Damaged    []string // paths whose downloaded object failed authentication (Download)
	Downloaded int
	// Newer are snapshots newer than the newest manifest (a crash between
	// a snapshot's upload and its manifest's, or a deleted manifest); they
	// are genuine and can be named with Options.Snapshot.
	Newer []uint64
}

// ErrBadInput marks refusals that are the caller's to fix: a non-empty
// store directory, a key that opens no snapshot, a snapshot ID the
// manifest does not name, a newest snapshot that is missing.
var ErrBadInput = errors.New("cannot recover")

func badInput(err error) error { return fmt.Errorf("%w: %w", ErrBadInput, err) }

// Recover builds the store. Nothing is created before the snapshot has been
// found and authenticated; a failure after that removes what was created.
func Recover(ctx context.Context, o Options) (*Report, error) {
	if err := store.CheckEmpty(o.Store); err != nil {
		return nil, badInput(err)
	}
	m, entry, newer, err := choose(ctx, o)
	if err != nil {
		return nil, err
	}
	rep := &Report{StoreID: m.StoreID, Newer: newer}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(o.Store)), ".sealfs-recover-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	entry, content, cleanup, err := snapshot.Fetch(ctx, o.Bucket, o.Key, m, entry, tmp)
	if err != nil {
		if errors.Is(err, snapshot.ErrMissing) || errors.Is(err, crypto.ErrAuth) {
			err = badInput(fmt.Errorf("%w; name an older one with --snapshot (sealfs recover lists them)", err))
		}
		return nil, err
	}
	defer cleanup()
	rep.Snapshot = entry
	objects, err := uploader.ListObjects(ctx, o.Bucket)
	if err != nil {
		return nil, err
	}
	plain, err := uploader.ListPlain(ctx, o.Bucket)
	if err != nil {
		return nil, err
	}
	cfg := store.Config{StoreID: crypto.FileID(m.StoreID).String(), Remote: o.Bucket.URL()}
	slots := o.Slots
	if slots != nil && slots.StoreID != cfg.StoreID {
		// Another store's slots (their wrapped keys are bound to it): the
		// new store starts from its key file alone.
		slots = nil
	}
	err = store.Restore(o.Store, o.Key, cfg, o.Sealed, slots, func(ms *meta.Store) error {
		if err := ms.Load(io.NewSectionReader(content, 0, content.Size())); err != nil {
			return err
		}
		return settle(ms, objects, plain, rep)
	})
	if err != nil {
		return nil, err
	}
	if o.Download {
		// The restore's database is closed: give its memory back before
		// the download opens the store again, so the peaks do not add up.
		debug.FreeOSMemory()
		if err := download(ctx, o, rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// choose finds the newest genuine manifest and the entry to restore.
func choose(ctx context.Context, o Options) (*snapshot.Manifest, snapshot.Entry, []uint64, error) {
	l, err := snapshot.List(ctx, o.Bucket)
	if err != nil {
		return nil, snapshot.Entry{}, nil, err
	}
	m, _, err := snapshot.Latest(ctx, o.Bucket, o.Key, l)
	if errors.Is(err, snapshot.ErrNoSnapshot) {
		return nil, snapshot.Entry{}, nil, badInput(fmt.Errorf("%s: %w (wrong key, or nothing synced there yet?)", o.Bucket.URL(), err))
	}
	if err != nil {
		return nil, snapshot.Entry{}, nil, err
	}
	var newer []uint64
	for s := range l.Snapshots {
		if s > m.Seq {
			newer = append(newer, s)
		}
	}
	if o.Snapshot == "" {
		return m, m.Newest(), newer, nil
	}
	if e, ok := m.Find(o.Snapshot); ok {
		return m, e, newer, nil
	}
	for _, s := range newer {
		if e, ok := snapshot.Unlisted(s, l); ok && e.ID() == o.Snapshot {
			return m, e, newer, nil
		}
	}
	return nil, snapshot.Entry{}, nil, badInput(fmt.Errorf("snapshot %q is not one the newest manifest (%d) names; it names %s",
		o.Snapshot, m.Seq, ids(m)))
}

func ids(m *snapshot.Manifest) string {
	var s []string
	for _, e := range m.Snapshots {
		s = append(s, e.ID())
	}
	return strings.Join(s, ", ")
}

// settle makes the loaded metadata that of a store with no local content:
// every version is synced if its object is in the bucket (so it is read
// from there) and marked missing otherwise; unsettled marks and upload
// jobs, which speak of local data the old machine had, are dropped.
//
// A plain version is there when its readable copy is (plain), at the size
// its file has; its bytes are checked against the record when fetched.
func settle(ms *meta.Store, objects map[[16]byte]int64, plain map[string]int64, rep *Report) error {
	paths, err := meta.Paths(ms)
	if err != nil {
		return err
	}
	type fix struct {
		ino meta.Ino
		c   meta.Content
	}
	var fixes []fix
	var jobs []meta.Upload
	var marks []meta.Ino
	err = ms.View(func(tx *meta.Tx) error {
		if err := tx.Contents(func(ino meta.Ino, c meta.Content) bool {
			_, there := objects[c.FileID]
			if c.PlainCopy() {
				size, ok := plain[c.Object]
				in, err := tx.Inode(ino)
				there = ok && err == nil && size == int64(in.Size) && c.SHA256 != ""
			}
			if there {
				c.Sync, c.SyncDetail = meta.SyncSynced, "recovered"
			} else {
				c.Sync, c.SyncDetail = meta.SyncError, "object missing from the bucket at recovery"
				if p, ok := paths[ino]; ok {
					rep.Missing = append(rep.Missing, p)
				}
			}
			fixes = append(fixes, fix{ino, c})
			return true
		}); err != nil {
			return err
		}
		if err := tx.Uploads(func(u meta.Upload) bool { jobs = append(jobs, u); return true }); err != nil {
			return err
		}
		return tx.Unsettleds(func(ino meta.Ino, _ meta.Unsettled) bool { marks = append(marks, ino); return true })
	})
	if err != nil {
		return err
	}
	for _, f := range fixes {
		if _, ok := paths[f.ino]; ok {
			rep.Files++
		}
	}
	rep.Bytes, err = plainBytes(ms, paths)
	if err != nil {
		return err
	}
	const batch = 500
	for len(fixes) > 0 || len(jobs) > 0 || len(marks) > 0 {
		err := ms.Update(func(tx *meta.Tx) error {
			for i := 0; i < batch && len(fixes) > 0; i++ {
				if err := tx.PutContent(fixes[0].ino, fixes[0].c); err != nil {
					return err
				}
				fixes = fixes[1:]
			}
			for i := 0; i < batch && len(jobs) > 0; i++ {
				if err := tx.DeleteUpload(jobs[0]); err != nil {
					return err
				}
				jobs = jobs[1:]
			}
			for i := 0; i < batch && len(marks) > 0; i++ {
				if err := tx.DeleteUnsettled(marks[0]); err != nil {
					return err
				}
				marks = marks[1:]
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("settle recovered metadata: %w", err)
		}
	}
	return ms.Sync()
}

// plainBytes sums the sizes of the regular files that have a name.
func plainBytes(ms *meta.Store, paths map[meta.Ino]string) (int64, error) {
	var total int64
	err := ms.View(func(tx *meta.Tx) error {
		return tx.Contents(func(ino meta.Ino, _ meta.Content) bool {
			if _, ok := paths[ino]; !ok {
				return true
			}
			if in, err := tx.Inode(ino); err == nil {
				total += int64(in.Size)
			}
			return true
		})
	})
	return total, err
}

// ObjectKey is where a version's ciphertext is in the bucket.
func ObjectKey(id [16]byte) string { return uploader.ObjectKey(id) }
