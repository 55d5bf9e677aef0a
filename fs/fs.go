// Package fs is the sealfs FUSE node tree (go-fuse v2). Metadata lives in
// meta, ciphertext in files of a DataStore, and content is sealed with
// crypto.File; fs only translates POSIX calls into those.
package fs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
	"golang.org/x/sys/unix"
)

// DataStore holds the ciphertext files, one per content version.
type DataStore interface {
	CreateData(id crypto.FileID) (*os.File, error)
	OpenData(id crypto.FileID) (*os.File, error)
	RemoveData(id crypto.FileID) error
	SyncAll() error // makes every data file written so far durable
	Statfs() (unix.Statfs_t, error)
	ListData(fn func(id crypto.FileID, size int64, mtime time.Time)) error
}

// Config wires a filesystem to its parts.
type Config struct {
	Meta      *meta.Store
	Data      DataStore
	Wrapper   *crypto.Wrapper
	BlockSize int
	Log       *slog.Logger
	// Owner of the root directory when the store is new.
	RootUID, RootGID uint32
	// Upload, when set, queues each sealed version for the uploader and
	// keeps superseded and deleted versions in the bucket for Retention.
	Upload *UploadConfig
	// Cache, when set, serves versions whose local ciphertext was evicted.
	Cache Cache
}

// DataFile is the ciphertext of one version: a local file, or ranged reads
// of the bucket object for a version evicted from the local cache.
type DataFile interface {
	crypto.Backing
	Sync() error
	Close() error
}

// Cache is the local ciphertext cache seen from fs.
type Cache interface {
	// Used records that a version was opened (for least-recently-used eviction).
	Used(id crypto.FileID)
	// OpenRemote reads an evicted, synced version from the bucket.
	OpenRemote(id crypto.FileID) (DataFile, error)
}

// UploadConfig is how fs hands sealed versions to the uploader.
type UploadConfig struct {
	// Quiet is how long a closed file must stay closed before its version
	// is sealed for upload, so rsync and tar bursts settle first.
	Quiet time.Duration
	// Retention is how long a superseded or deleted version stays in the
	// bucket: the trash and the undo.
	Retention time.Duration
	// Queued is called after a version was queued, to wake the uploader.
	Queued func()
}

// FS is one mounted sealfs filesystem.
type FS struct {
	meta      *meta.Store
	data      DataStore
	wrapper   *crypto.Wrapper
	blockSize int
	log       *slog.Logger
	upload    *UploadConfig
	cache     Cache
	root      *node

	// nsMu serializes changes to the namespace (create, link, unlink,
	// rename, ...). They touch several inodes at once; one lock keeps
	// their read-modify-write of meta records simple and deadlock-free.
	// Reads and writes of file content do not take it.
	nsMu sync.Mutex

	commit groupCommit
}

// New opens the filesystem: it creates the root directory of a new store and
// removes files that were unlinked while open when the last mount ended.
func New(cfg Config) (*FS, error) {
	if cfg.BlockSize == 0 {
		cfg.BlockSize = crypto.DefaultBlockSize
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	f := &FS{
		meta: cfg.Meta, data: cfg.Data, wrapper: cfg.Wrapper,
		blockSize: cfg.BlockSize, log: cfg.Log, upload: cfg.Upload, cache: cfg.Cache,
	}
	if err := f.ensureRoot(cfg.RootUID, cfg.RootGID); err != nil {
		return nil, err
	}
	if err := f.removeOrphans(); err != nil {
		return nil, err
	}
	if err := f.removeUnreferencedData(); err != nil {
		return nil, err
	}
	f.root = &node{fsys: f, ino: meta.RootIno}
	return f, nil
}

// Root is the node to pass to go-fuse's Mount.
func (f *FS) Root() gofs.InodeEmbedder { return f.root }

func (f *FS) ensureRoot(uid, gid uint32) error {
	return f.meta.Update(func(tx *meta.Tx) error {
		if _, err := tx.Inode(meta.RootIno); !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		now := time.Now().UnixNano()
		return tx.PutInode(meta.Inode{
			Ino: meta.RootIno, Mode: syscall.S_IFDIR | 0o755, Uid: uid, Gid: gid,
			Nlink: 2, Atime: now, Mtime: now, Ctime: now,
		})
	})
}

func (f *FS) removeOrphans() error {
	var orphans []meta.Ino
	if err := f.meta.View(func(tx *meta.Tx) (err error) {
		orphans, err = tx.Orphans()
		return err
	}); err != nil {
		return fmt.Errorf("list orphans: %w", err)
	}
	for _, ino := range orphans {
		if err := f.destroyInode(ino); err != nil {
			return err
		}
	}
	return nil
}

// removeUnreferencedData deletes ciphertext files no record points at: a
// version that was being written (a copy, or a file whose metadata never
// committed) when the daemon or the machine died. Nothing is open yet.
func (f *FS) removeUnreferencedData() error {
	used := map[crypto.FileID]bool{}
	if err := f.meta.View(func(tx *meta.Tx) error {
		return tx.Contents(func(_ meta.Ino, c meta.Content) bool {
			used[c.FileID] = true
			return true
		})
	}); err != nil {
		return fmt.Errorf("list content records: %w", err)
	}
	var unused []crypto.FileID
	if err := f.data.ListData(func(id crypto.FileID, _ int64, _ time.Time) {
		if !used[id] {
			unused = append(unused, id)
		}
	}); err != nil {
		return fmt.Errorf("list data files: %w", err)
	}
	for _, id := range unused {
		if err := f.data.RemoveData(id); err != nil {
			return err
		}
	}
	if len(unused) > 0 {
		f.log.Info("removed data files of versions interrupted by a crash", "files", len(unused))
	}
	return nil
}

// destroyInode deletes an inode that has no names left, and then its
// ciphertext, once the deletion is durable.
func (f *FS) destroyInode(ino meta.Ino) error {
	var content *meta.Content
	err := f.meta.Update(func(tx *meta.Tx) error {
		content = nil
		if c, err := tx.Content(ino); err == nil {
			content = &c
			if err := f.retireVersion(tx, c.FileID); err != nil {
				return err
			}
		} else if !errors.Is(err, meta.ErrNotFound) {
			return err
		}
		return tx.DeleteInode(ino)
	})
	if err != nil {
		return fmt.Errorf("delete inode %d: %w", ino, err)
	}
	if content != nil {
		f.removeLater(content.FileID)
	}
	return nil
}

// attrTimeout is how long the kernel may cache entries and attributes.
// Every change goes through the mount, so the caches stay correct.
const attrTimeout = time.Second

// MountOptions are the go-fuse options sealfs mounts with.
func MountOptions(allowOther bool, debug bool) *gofs.Options {
	entry, attr, negative := attrTimeout, attrTimeout, attrTimeout
	return &gofs.Options{
		MountOptions: fuse.MountOptions{
			AllowOther: allowOther,
			// The kernel checks modes and owners for every caller, as on ext4.
			Options:      []string{"default_permissions"},
			FsName:       "sealfs",
			Name:         "sealfs",
			MaxWrite:     1 << 20,
			MaxReadAhead: 1 << 20,
			DirectMount:  true,
			Debug:        debug,
		},
		// Mode 0000 is a real mode (ext4 keeps it); go-fuse would show 0644.
		NullPermissions: true,
		EntryTimeout:    &entry,
		AttrTimeout:     &attr,
		NegativeTimeout: &negative,
	}
}
