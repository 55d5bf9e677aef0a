// Package check verifies a store and its bucket copy (sealfs check): that
// every record opens, every version's ciphertext is there and
// authenticates, no ciphertext is left without a record, and (with a
// bucket) every synced version's object is there with its size.
package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/cache"
	"github.com/sealfs/sealfs/remote/uploader"
	"github.com/sealfs/sealfs/store"
)

// Options say what to check.
type Options struct {
	// Bucket, when set, checks the bucket copy too: listings and sizes,
	// no download unless ReadData.
	Bucket *remote.Bucket
	// ReadData reads and authenticates every block (local, and with a
	// bucket the objects too) of the fraction Subset of the files (1: all).
	ReadData bool
	Subset   float64
	// Repair removes ciphertext files no record names.
	Repair bool
	// Mounted: a daemon is writing, so ciphertext younger than
	// inFlightAge may be a version not saved yet and is not an orphan.
	Mounted  bool
	Progress Progress
}

// inFlightAge: a data file younger than this may belong to a version being
// written while mounted.
const inFlightAge = time.Hour

// Progress follows the data pass.
type Progress interface {
	Start(files int, bytes int64)
	Add(files int, bytes int64) // files finished and bytes done since the last call
	Done()
}

// Problem is one damaged or missing thing, by its path in the mount.
type Problem struct {
	Path    string `json:"path"`
	Problem string `json:"problem"`
}

// Report is what a check found.
type Report struct {
	Files    int       `json:"files"`
	Records  int       `json:"records"`
	Objects  int       `json:"objects,omitempty"`
	ReadData int       `json:"read_data,omitempty"` // files whose every block was read
	Problems []Problem `json:"problems"`
	Orphans  []string  `json:"orphans,omitempty"` // data files without a record
	// Shredded lists the ciphertext of shredded versions still found (in
	// the store, or "bucket data/<id>"): it opens with no key, so it is
	// neither damage nor an orphan; --repair deletes it from the store.
	Shredded []string `json:"shredded,omitempty"`
	Removed  int      `json:"removed,omitempty"`
	// TempRemoved counts the temporary files a crashed upload had left in
	// a file:// bucket (older than an hour), removed by the check.
	TempRemoved int `json:"temp_removed,omitempty"`
}

// Clean reports whether nothing is wrong.
func (r *Report) Clean() bool { return len(r.Problems) == 0 && len(r.Orphans) == 0 }

type version struct {
	ino  meta.Ino
	path string
	c    meta.Content
	size int64
}

// Run checks st.
func Run(ctx context.Context, st *store.Store, o Options) (*Report, error) {
	rep := &Report{Problems: []Problem{}}
	paths, err := meta.Paths(st.Meta)
	if err != nil {
		return nil, err
	}
	name := func(ino meta.Ino, fallback string) string {
		if p, ok := paths[ino]; ok {
			return p
		}
		return fallback
	}
	if err := st.Meta.Verify(func(d meta.Damage) {
		rep.Problems = append(rep.Problems, Problem{name(d.Ino, "(no path)"), d.Record + " fails authentication"})
	}); err != nil {
		return nil, err
	}
	var versions []version
	referenced := map[[16]byte]bool{}
	err = st.Meta.View(func(tx *meta.Tx) error {
		if err := tx.EachContent(func(ino meta.Ino, c meta.Content, err error) bool {
			rep.Records++
			if err != nil {
				return true // reported by Verify
			}
			referenced[c.FileID] = true
			in, err := tx.Inode(ino)
			if err != nil {
				return true
			}
			if _, named := paths[ino]; named {
				rep.Files++
			}
			versions = append(versions, version{ino, name(ino, fmt.Sprintf("(inode %d, no name)", ino)), c, int64(in.Size)})
			return true
		}); err != nil {
			return err
		}
		// The fallback of an unsettled version is kept until it settles.
		return tx.Unsettleds(func(_ meta.Ino, u meta.Unsettled) bool {
			referenced[u.FileID] = true
			if u.Prev != nil {
				referenced[u.Prev.Content.FileID] = true
			}
			return true
		})
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(versions, func(i, j int) bool { return versions[i].path < versions[j].path })

	var objects map[[16]byte]int64
	var plain map[string]int64
	if o.Bucket != nil {
		if objects, err = uploader.ListObjects(ctx, o.Bucket); err != nil {
			return nil, err
		}
		if plain, err = uploader.ListPlain(ctx, o.Bucket); err != nil {
			return nil, err
		}
		rep.Objects = len(objects) + len(plain)
		if rep.TempRemoved, err = o.Bucket.CleanTemp(ctx, inFlightAge); err != nil {
			return nil, err
		}
	}
	var c *cache.Cache
	if o.Bucket != nil {
		c = cache.New(cache.Config{Meta: st.Meta, Local: st, Bucket: o.Bucket})
	}
	chosen := chooseForData(versions, o)
	if o.Progress != nil && len(chosen) > 0 {
		var total int64
		for _, v := range chosen {
			total += v.size
		}
		o.Progress.Start(len(chosen), total)
		defer o.Progress.Done()
	}
	for _, v := range versions {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		readAll := chosen[v.c.FileID] != nil
		if problem := checkLocal(st, v, readAll); problem != "" {
			rep.Problems = append(rep.Problems, Problem{v.path, problem})
		}
		if o.Bucket != nil && v.c.Sync == meta.SyncSynced {
			check := checkRemote
			if v.c.PlainCopy() {
				check = checkPlainCopy
			}
			if problem := check(ctx, st, c, bucketListing{objects, plain, o.Bucket}, v, readAll); problem != "" {
				rep.Problems = append(rep.Problems, Problem{v.path, problem})
			}
		}
		if readAll {
			rep.ReadData++
			if o.Progress != nil {
				o.Progress.Add(1, v.size)
			}
		}
	}
	shredded, err := st.Shredded()
	if err != nil {
		return nil, err
	}
	for id := range objects {
		if shredded[id] {
			rep.Shredded = append(rep.Shredded, "bucket "+uploader.ObjectKey(id))
		}
	}
	if err := orphans(st, referenced, shredded, o, rep); err != nil {
		return nil, err
	}
	sort.Strings(rep.Shredded)
	return rep, nil
}

// chooseForData picks the versions whose every block is read.
func chooseForData(versions []version, o Options) map[[16]byte]*version {
	out := map[[16]byte]*version{}
	if !o.ReadData {
		return out
	}
	for i := range versions {
		if o.Subset >= 1 || rand.Float64() < o.Subset {
			out[versions[i].c.FileID] = &versions[i]
		}
	}
	return out
}

// checkLocal authenticates the local ciphertext of v (its header, size and
// final block; every block with readAll). A synced version that is not
// local was evicted: the bucket has it.
func checkLocal(st *store.Store, v version, readAll bool) string {
	id := crypto.FileID(v.c.FileID)
	f, err := st.OpenData(id)
	if errors.Is(err, os.ErrNotExist) {
		if v.c.Sync == meta.SyncSynced {
			return ""
		}
		return "content missing: not in the store, and not synced to the bucket"
	}
	if err != nil {
		return "content: " + err.Error()
	}
	defer f.Close()
	return authenticate(st.Wrapper, f, v, readAll, "content")
}

// bucketListing is what the bucket holds, listed once.
type bucketListing struct {
	objects map[[16]byte]int64 // data/<file id>: ciphertext
	plain   map[string]int64   // plain/<path>: readable copies
	bucket  *remote.Bucket
}

// checkPlainCopy checks the readable copy of a plain version: there, at
// its size, and with readAll its bytes against the record's SHA-256.
func checkPlainCopy(ctx context.Context, _ *store.Store, _ *cache.Cache, l bucketListing, v version, readAll bool) string {
	size, ok := l.plain[v.c.Object]
	switch {
	case !ok:
		return fmt.Sprintf("readable copy %s missing from the bucket", v.c.Object)
	case size != v.size:
		return fmt.Sprintf("readable copy %s is %d bytes, the file %d", v.c.Object, size, v.size)
	case !readAll:
		return ""
	}
	if err := uploader.VerifyPlain(ctx, l.bucket, v.c, v.size); err != nil {
		return "readable copy: " + err.Error()
	}
	return ""
}

func checkRemote(ctx context.Context, st *store.Store, c *cache.Cache, l bucketListing, v version, readAll bool) string {
	size, ok := l.objects[v.c.FileID]
	if !ok {
		return "object missing from the bucket"
	}
	if fi, err := os.Stat(st.DataPath(crypto.FileID(v.c.FileID))); err == nil && fi.Size() != size {
		return fmt.Sprintf("object in the bucket is %d bytes, the local copy %d", size, fi.Size())
	}
	if !readAll {
		return ""
	}
	rf, err := c.OpenRemote(ctx, crypto.FileID(v.c.FileID))
	if err != nil {
		return "object: " + err.Error()
	}
	return authenticate(st.Wrapper, rf, v, true, "object in the bucket")
}

func authenticate(w *crypto.Wrapper, b crypto.Backing, v version, readAll bool, what string) string {
	f, err := crypto.OpenFile(w, b, crypto.FileKey{KeyID: v.c.KeyID, Wrapped: v.c.WrappedDEK})
	if err == nil && (f.Header().FileID != crypto.FileID(v.c.FileID) || f.Size() != v.size) {
		err = fmt.Errorf("it is not the version its record names: %w", crypto.ErrAuth)
	}
	if err == nil && readAll {
		_, err = io.Copy(io.Discard, io.NewSectionReader(f, 0, f.Size()))
	}
	if err != nil {
		return what + ": " + err.Error()
	}
	return ""
}

// orphans lists (and with Repair removes) ciphertext no record names.
func orphans(st *store.Store, referenced, shredded map[[16]byte]bool, o Options, rep *Report) error {
	var found []crypto.FileID
	err := st.ListData(func(id crypto.FileID, _ int64, mtime time.Time) {
		if shredded[id] {
			rep.Shredded = append(rep.Shredded, "data/"+id.String()[:2]+"/"+id.String())
			if o.Repair && st.RemoveData(id) == nil {
				rep.Removed++
			}
			return
		}
		if !referenced[id] && !(o.Mounted && time.Since(mtime) < inFlightAge) {
			found = append(found, id)
		}
	})
	if err != nil {
		return err
	}
	for _, id := range found {
		rep.Orphans = append(rep.Orphans, "data/"+id.String()[:2]+"/"+id.String())
		if o.Repair {
			if err := st.RemoveData(id); err != nil {
				return err
			}
			rep.Removed++
		}
	}
	return nil
}
