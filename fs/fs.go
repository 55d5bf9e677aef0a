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
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/fs/version"
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

// DataFile is the ciphertext of one version (see version.DataFile).
type DataFile = version.DataFile

// Cache is the local ciphertext cache seen from fs (see version.Cache).
type Cache = version.Cache

// UploadConfig is how fs hands sealed versions to the uploader (see
// version.Upload).
type UploadConfig = version.Upload

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

// FS is one mounted sealfs filesystem.
type FS struct {
	meta     *meta.Store
	data     DataStore
	versions *version.Keeper
	log      *slog.Logger
	upload   *UploadConfig
	root     *node

	// nsMu serializes changes to the namespace (create, link, unlink,
	// rename, ...). They touch several inodes at once; one lock keeps
	// their read-modify-write of meta records simple and deadlock-free.
	// Reads and writes of file content do not take it.
	nsMu sync.Mutex

	// mounted is set once the kernel holds the tree (see outside.go).
	mounted atomic.Bool
}

// New opens the filesystem: it creates the root directory of a new store,
// repairs what a crash left behind and removes files that were unlinked
// while open when the last mount ended.
func New(cfg Config) (*FS, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	f := &FS{
		meta: cfg.Meta, data: cfg.Data, log: cfg.Log, upload: cfg.Upload,
		versions: version.New(version.Config{
			Meta: cfg.Meta, Data: localData{cfg.Data}, Wrapper: cfg.Wrapper,
			BlockSize: cfg.BlockSize, Upload: cfg.Upload, Cache: cfg.Cache,
		}),
	}
	if err := f.ensureRoot(cfg.RootUID, cfg.RootGID); err != nil {
		return nil, err
	}
	rep, err := f.versions.Recover()
	if err != nil {
		return nil, err
	}
	f.logRecovery(rep)
	if err := f.removeOrphans(); err != nil {
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

func (f *FS) logRecovery(rep version.Recovery) {
	for _, ino := range rep.Restored {
		f.log.Warn("a crash cut the newest version of a file short; it is back at its previous version", "ino", uint64(ino))
	}
	for _, ino := range rep.Emptied {
		f.log.Warn("a crash cut a file being written short and it had no earlier version; it is now empty", "ino", uint64(ino))
	}
	if rep.RemovedData > 0 {
		f.log.Info("removed data files of versions interrupted by a crash", "files", rep.RemovedData)
	}
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

// destroyInode deletes an inode that has no names left, and then its
// ciphertext, once the deletion is durable.
func (f *FS) destroyInode(ino meta.Ino) error {
	if err := f.versions.Destroy(ino); err != nil {
		return fmt.Errorf("delete inode %d: %w", ino, err)
	}
	return nil
}

// localData gives a DataStore the signature version wants.
type localData struct{ DataStore }

func (d localData) CreateData(id crypto.FileID) (version.DataFile, error) {
	f, err := d.DataStore.CreateData(id)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (d localData) OpenData(id crypto.FileID) (version.DataFile, error) {
	f, err := d.DataStore.OpenData(id)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// attrTimeout is how long the kernel may cache entries and attributes.
// Every change goes through the mount, so the caches stay correct.
const attrTimeout = time.Second

// MountOptions are the go-fuse options sealfs mounts with.
func MountOptions(allowOther, debug, readOnly bool) *gofs.Options {
	entry, attr, negative := attrTimeout, attrTimeout, attrTimeout
	// The kernel checks modes and owners for every caller, as on ext4.
	opts := []string{"default_permissions"}
	if readOnly {
		opts = append(opts, "ro") // the kernel answers every change EROFS
	}
	var flags uintptr // go-fuse's default: nosuid, nodev
	if readOnly {
		flags = syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_RDONLY
	}
	return &gofs.Options{
		MountOptions: fuse.MountOptions{
			AllowOther:       allowOther,
			Options:          opts,
			DirectMountFlags: flags,
			FsName:           "sealfs",
			Name:             "sealfs",
			MaxWrite:         1 << 20,
			MaxReadAhead:     1 << 20,
			DirectMount:      true,
			Debug:            debug,
		},
		// Mode 0000 is a real mode (ext4 keeps it); go-fuse would show 0644.
		NullPermissions: true,
		EntryTimeout:    &entry,
		AttrTimeout:     &attr,
		NegativeTimeout: &negative,
	}
}
