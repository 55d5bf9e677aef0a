// Package meta keeps sealfs metadata (inodes, directory entries, content
// records, extended attributes) in an embedded Badger database that is
// encrypted at rest. No Badger type appears in its API.
package meta

import "time"

// Ino is an inode number. Numbers are never reused within one store, so they
// are stable across mounts and safe for rsync -H and find -inum.
type Ino uint64

// RootIno is the inode number of the root directory.
const RootIno Ino = 1

// Inode holds the POSIX attributes of one file, directory or symlink.
// Times are nanoseconds since the Unix epoch so they round-trip exactly.
type Inode struct {
	Ino    Ino    `json:"ino"`
	Mode   uint32 `json:"mode"` // file type bits and permission bits, as in stat(2)
	Uid    uint32 `json:"uid"`
	Gid    uint32 `json:"gid"`
	Nlink  uint32 `json:"nlink"`
	Size   uint64 `json:"size"`
	Rdev   uint32 `json:"rdev,omitempty"`
	Atime  int64  `json:"atime"`
	Mtime  int64  `json:"mtime"`
	Ctime  int64  `json:"ctime"`
	Target string `json:"target,omitempty"` // symlink target
	// Plain, on a directory, switches encryption off for what is made in
	// it: new files get plain content, new directories inherit the flag.
	Plain bool `json:"plain,omitempty"`
}

// ModTime returns Mtime as a time.Time.
func (i *Inode) ModTime() time.Time { return time.Unix(0, i.Mtime) }

// Entry is one name in a directory.
type Entry struct {
	Name string `json:"-"`
	Ino  Ino    `json:"ino"`
	Mode uint32 `json:"mode"` // file type bits only; lets readdir answer without loading inodes
}

// SyncState says how far a content version has travelled towards the bucket.
type SyncState string

// Sync states, as shown in user.sealfs.sync.
const (
	SyncNone      SyncState = ""
	SyncPending   SyncState = "pending"
	SyncUploading SyncState = "uploading"
	SyncSynced    SyncState = "synced"
	SyncError     SyncState = "error"
)

// Content links a regular file's inode to its ciphertext.
type Content struct {
	FileID     [16]byte  `json:"file_id"`
	KeyID      [16]byte  `json:"key_id"`
	WrappedDEK []byte    `json:"wrapped_dek"`
	Encrypted  bool      `json:"encrypted"`
	Version    uint64    `json:"version"`
	Sync       SyncState `json:"sync,omitempty"`
	SyncDetail string    `json:"sync_detail,omitempty"` // generation/etag when synced, reason on error
	// Plain content only. Object is the bucket key of its readable copy,
	// PlainObject(the file's path when it was sealed); empty when the
	// path was unknown (then it goes to data/ like encrypted content).
	// SHA256 (hex) is the plaintext's, recorded when it was uploaded: a
	// copy read back from the bucket must match it.
	Object string `json:"object,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// PlainCopy reports whether c's bucket copy is its plaintext under its
// path (Object), not its ciphertext under data/.
func (c Content) PlainCopy() bool { return !c.Encrypted && c.Object != "" }

// PlainObject is the bucket key of the readable copy of the plain file at
// path p (as in the mount, "/app/x.tar.gz"): "plain/app/x.tar.gz".
func PlainObject(p string) string { return "plain" + p }

// SyncText is how the sync state reads in user.sealfs.sync and the SYNC
// column: pending, uploading, synced <generation or etag>, error <reason>.
func (c Content) SyncText() string {
	switch c.Sync {
	case SyncNone, SyncPending:
		return string(SyncPending)
	case SyncSynced, SyncError:
		return string(c.Sync) + " " + c.SyncDetail
	}
	return string(c.Sync)
}
