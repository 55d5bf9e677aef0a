package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/sealfs/sealfs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/uploader"
	"github.com/sealfs/sealfs/store"
)

// The history of one path: its current version and the retired ones the
// retention period still keeps (meta.Retired), for versions and undelete.

// versionRow is one version of a file, as `sealfs versions` shows it.
type versionRow struct {
	ID        string     `json:"id"` // the version's file ID, hex (its bucket object is data/<id>)
	State     string     `json:"state"`
	Size      uint64     `json:"size"`
	Modified  time.Time  `json:"modified"`
	Retired   *time.Time `json:"retired,omitempty"`    // when it was replaced or deleted
	KeptUntil *time.Time `json:"kept_until,omitempty"` // when its bucket copy goes
	Where     string     `json:"where"`
	Encrypted bool       `json:"encrypted"`

	content meta.Content // what reading it needs
	attrs   meta.Inode   // mode, owner and time to bring it back with
}

// Version states.
const (
	stateCurrent  = "current"  // the file's content now
	stateReplaced = "replaced" // a newer version took its place
	stateDeleted  = "deleted"  // the file was deleted (or a rename replaced it)
)

// Where a version's ciphertext is.
const (
	whereLocal   = "local"
	whereBucket  = "bucket"
	whereBoth    = "local+bucket"
	wherePending = "local, upload pending"
	whereGone    = "gone" // neither: never uploaded before it was retired
)

// fileHistory returns every version of the file at p that can still be
// read, newest first: the current one (when p is a regular file) and the
// retired versions of that file, or of the files deleted at p. b (nil:
// none) tells which retired versions reached the bucket.
func fileHistory(ctx context.Context, st *store.Store, b *remote.Bucket, p string) ([]versionRow, error) {
	p = path.Clean("/" + p)
	var rows []versionRow
	err := st.Meta.View(func(tx *meta.Tx) error {
		inos := map[meta.Ino]bool{}
		if ino, err := resolvePath(tx, p); err == nil {
			in, err := tx.Inode(ino)
			if err != nil {
				return err
			}
			if in.Mode&syscall.S_IFMT != syscall.S_IFREG {
				return badInput("%s is not a regular file", quoteName(p))
			}
			c, err := tx.Content(ino)
			if err != nil {
				return err
			}
			inos[ino] = true
			rows = append(rows, versionRow{State: stateCurrent, Size: in.Size, Modified: in.ModTime(), content: c, attrs: in})
		}
		var retired []meta.Retired
		err := tx.EachRetired(func(r meta.Retired) bool {
			if r.Restorable() {
				retired = append(retired, r)
				if r.Deleted && r.Path == p {
					inos[r.Ino] = true
				}
			}
			return true
		})
		if err != nil {
			return err
		}
		hasCurrent := len(rows) > 0
		for _, r := range retired {
			if !inos[r.Ino] {
				continue
			}
			at, until := time.Unix(0, r.At), time.Unix(0, r.After)
			state := stateReplaced
			if r.Deleted && !hasCurrent {
				state = stateDeleted
			}
			rows = append(rows, versionRow{
				State: state, Size: r.Size, Modified: time.Unix(0, r.Mtime), Retired: &at, KeptUntil: &until,
				content: *r.Content,
				attrs:   meta.Inode{Mode: r.Mode, Uid: r.Uid, Gid: r.Gid, Size: r.Size, Mtime: r.Mtime},
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, badInput("%s: no such file, and no deleted file of that path is kept", quoteName(p))
	}
	for i := range rows {
		r := &rows[i]
		r.ID = hex.EncodeToString(r.content.FileID[:])
		r.Encrypted = r.content.Encrypted
		r.Where = whereOf(ctx, st, b, *r)
	}
	// Newest first: the current version, then by retirement time.
	sort.SliceStable(rows, func(i, j int) bool { return retiredAt(rows[i]).After(retiredAt(rows[j])) })
	return rows, nil
}

// retiredAt orders versions: the current one is the newest.
func retiredAt(r versionRow) time.Time {
	if r.Retired == nil {
		return time.Unix(1<<62, 0)
	}
	return *r.Retired
}

// whereOf says where the ciphertext of r is. A retired version's bucket
// copy is looked up when b is given; without it, the record's last sync
// state answers.
func whereOf(ctx context.Context, st *store.Store, b *remote.Bucket, r versionRow) string {
	local := false
	if f, err := st.OpenData(r.content.FileID); err == nil {
		f.Close()
		local = true
	}
	inBucket := r.content.Sync == meta.SyncSynced
	if b != nil && r.State != stateCurrent {
		// A plain file's copy is under its path, which a newer version
		// may hold now: only a copy of the version's size can be it (and
		// undelete checks its SHA-256).
		a, err := b.Stat(ctx, uploader.KeyOf(r.content))
		inBucket = err == nil && (!r.content.PlainCopy() || a.Size == int64(r.Size))
	}
	switch {
	case local && inBucket:
		return whereBoth
	case inBucket:
		return whereBucket
	case local && r.State == stateCurrent && st.Config.Remote != "":
		return wherePending
	case local:
		return whereLocal
	}
	return whereGone
}

// pickVersion returns the version of rows that id names (a unique prefix of
// at least 4 hex digits); with id empty, the newest retired one.
func pickVersion(rows []versionRow, id string) (versionRow, error) {
	if id == "" {
		for _, r := range rows {
			if r.State != stateCurrent {
				return r, nil
			}
		}
		return versionRow{}, badInput("no earlier version is kept (see sealfs versions)")
	}
	id = strings.ToLower(id)
	if len(id) < 4 {
		return versionRow{}, badInput("--version %q: give at least 4 hex digits of a version ID", id)
	}
	var found []versionRow
	for _, r := range rows {
		if strings.HasPrefix(r.ID, id) {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 0:
		return versionRow{}, badInput("no version %q of this file (see sealfs versions)", id)
	case 1:
		return found[0], nil
	}
	return versionRow{}, badInput("version %q is ambiguous: give more digits", id)
}

// errVersionGone: the version's ciphertext is neither local nor in the bucket.
var errVersionGone = errors.New("its content is neither local nor in the bucket")

// describeVersion is a one-line account of r for undelete's output.
func describeVersion(r versionRow) string {
	s := fmt.Sprintf("version %s (%s, %d bytes, modified %s", r.ID[:8], r.State, r.Size, r.Modified.UTC().Format(time.DateTime))
	if r.Retired != nil {
		s += ", " + r.State + " " + r.Retired.UTC().Format(time.DateTime)
	}
	return s + " UTC)"
}
