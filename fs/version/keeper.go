// Package version keeps the content versions of one sealfs filesystem: it
// opens a regular file's ciphertext, moves it through its lifecycle (see
// State), saves its size with it, seals it for upload at the last close,
// and makes it durable (the group commit). It is the one writer of fs's half
// of a meta.Content record. It knows nothing of FUSE: fs locks a File
// around each call and maps errors to errno values.
package version

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
)

// DataFile is the ciphertext of one version: a local file, or ranged reads
// of the bucket object for a version evicted from the local cache.
type DataFile interface {
	crypto.Backing
	Sync() error
	Close() error
}

// DataStore holds the ciphertext files, one per version.
type DataStore interface {
	CreateData(id crypto.FileID) (DataFile, error)
	OpenData(id crypto.FileID) (DataFile, error)
	RemoveData(id crypto.FileID) error
	SyncAll() error // makes every data file written so far durable
	ListData(fn func(id crypto.FileID, size int64, mtime time.Time)) error
}

// Cache is the local ciphertext cache.
type Cache interface {
	// Used records that a version was opened (for least-recently-used eviction).
	Used(id crypto.FileID)
	// OpenRemote reads an evicted, synced version from the bucket.
	OpenRemote(ctx context.Context, id crypto.FileID) (DataFile, error)
	// FetchPlain rebuilds the local file of plain version c (size bytes)
	// in dst from its readable bucket copy, checked against the record.
	FetchPlain(ctx context.Context, c meta.Content, size int64, dst DataFile) error
}

// Upload is how sealed versions reach the uploader.
type Upload struct {
	// Quiet is how long a closed file must stay closed before its version
	// is uploaded, so rsync and tar bursts settle first.
	Quiet time.Duration
	// Retention is how long a superseded or deleted version stays in the
	// bucket: the trash and the undo.
	Retention time.Duration
	// Queued is called after a version was queued, to wake the uploader.
	Queued func()
}

// Records is the metadata store (*meta.Store).
type Records interface {
	Update(fn func(*meta.Tx) error) error
	View(fn func(*meta.Tx) error) error
	Sync() error
	SyncIfDirty() error
}

// Config wires a Keeper to its parts.
type Config struct {
	Meta      Records
	Data      DataStore
	Wrapper   *crypto.Wrapper
	BlockSize int
	Upload    *Upload // nil without a remote
	Cache     Cache   // nil without --cache-max
}

// Keeper holds the open files of one filesystem, one File per inode
// however many handles and hard links reach it, and the group commit.
type Keeper struct {
	cfg Config

	mu   sync.Mutex
	open map[meta.Ino]*File

	seq    atomic.Uint64 // for meta.Unsettled.Seq
	commit groupCommit
}

// New returns a Keeper; run Recover before the first open.
func New(cfg Config) *Keeper {
	if cfg.BlockSize == 0 {
		cfg.BlockSize = crypto.DefaultBlockSize
	}
	k := &Keeper{cfg: cfg, open: map[meta.Ino]*File{}}
	// Sequence numbers only need to differ between saves of one version;
	// starting from the clock keeps them apart across restarts too.
	k.seq.Store(uint64(time.Now().UnixNano()))
	return k
}

// Access is what an open asks of the content.
type Access int

const (
	// Read opens the version for reading.
	Read Access = iota
	// Write opens it for reading and writing; a damaged version opens
	// Broken instead of failing.
	Write
	// Replace opens it empty, as open(O_TRUNC) does: a new version, and the
	// old one is not read, so a damaged file can be replaced.
	Replace
)

// Acquire opens the content of regular file ino for one more handle; ctx
// bounds reading it from the bucket.
func (k *Keeper) Acquire(ctx context.Context, ino meta.Ino, access Access) (*File, error) {
	f := k.ref(ino)
	f.Lock()
	defer f.Unlock()
	var err error
	switch {
	case f.state == Closed && access == Replace:
		err = f.startEmpty()
	case f.state == Closed:
		err = f.load(ctx, access == Write)
	case access == Replace:
		err = f.truncate(0)
		if err != nil {
			// The handle is not handed out; the others keep the file.
			k.unref(f)
			return nil, err
		}
	}
	if err != nil {
		k.unref(f)
		k.forget(f)
		return nil, err
	}
	return f, nil
}

// Release drops one handle; the last one saves the file, seals its version
// for upload if this open made it, and closes it. where names the file, for
// a plain version's readable copy in the bucket (nil or "": unknown).
func (k *Keeper) Release(f *File, where func() string) error {
	f.Lock()
	var err error
	last := k.unref(f)
	if last {
		f.where = where
		err = f.close()
	}
	f.Unlock()
	if last {
		k.forget(f)
	}
	return err
}

// ref returns the File of ino, made if needed, with one more reference.
func (k *Keeper) ref(ino meta.Ino) *File {
	k.mu.Lock()
	defer k.mu.Unlock()
	f := k.open[ino]
	if f == nil {
		f = &File{k: k, ino: ino}
		k.open[ino] = f
	}
	f.refs++
	return f
}

// unref drops a reference and reports whether it was the last.
func (k *Keeper) unref(f *File) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	f.refs--
	return f.refs == 0
}

// forget removes f from the table unless an Acquire took it up again
// meanwhile (it then loads it anew: f is closed).
func (k *Keeper) forget(f *File) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if f.refs == 0 && k.open[f.ino] == f {
		delete(k.open, f.ino)
	}
}

// lookup returns the File of ino if a handle has it open.
func (k *Keeper) lookup(ino meta.Ino) *File {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.open[ino]
}

// Inode reads the attributes of ino as every reply to the kernel must show
// them: with the size and mtime an open file has not saved yet. For an open
// file the record is read under its lock, so no save can fall in between.
func (k *Keeper) Inode(ino meta.Ino) (meta.Inode, error) {
	var in meta.Inode
	f := k.lockOpen(ino, false)
	if f != nil {
		defer f.RUnlock()
	}
	err := k.cfg.Meta.View(func(tx *meta.Tx) (err error) {
		in, err = tx.Inode(ino)
		return err
	})
	if err == nil && f != nil {
		f.overlay(&in)
	}
	return in, err
}

// WithOpen runs fn with the File of ino locked exclusively if a handle has
// it open, and with nil otherwise; setattr uses it to save what writers
// changed before it sets attributes of its own.
func (k *Keeper) WithOpen(ino meta.Ino, fn func(*File) error) error {
	f := k.lockOpen(ino, true)
	if f == nil {
		return fn(nil)
	}
	defer f.Unlock()
	return fn(f)
}

// lockOpen returns the loaded File of ino, locked exclusively or shared, or
// nil when no handle has it open. A File that is in the table but closed is
// being loaded or forgotten: nothing of it is unsaved.
func (k *Keeper) lockOpen(ino meta.Ino, exclusive bool) *File {
	for {
		f := k.lookup(ino)
		if f == nil {
			return nil
		}
		if exclusive {
			f.Lock()
		} else {
			f.RLock()
		}
		if f.state != Closed {
			return f
		}
		if exclusive {
			f.Unlock()
		} else {
			f.RUnlock()
		}
		if g := k.lookup(ino); g == nil || g == f {
			return nil
		}
	}
}

func (k *Keeper) nextSeq() uint64 { return k.seq.Add(1) }

// WaitReleased waits, up to grace, until no handle holds a version that
// its open made (a file written and not yet closed), and returns how many
// such files are still open then. The kernel delivers RELEASE after
// close(2) has returned, so a file a program has just closed may still be
// open here for a moment; files still open after grace are really open.
func (k *Keeper) WaitReleased(ctx context.Context, grace time.Duration) int {
	deadline := time.Now().Add(grace)
	for {
		n := k.openWritten()
		if n == 0 || time.Now().After(deadline) {
			return n
		}
		select {
		case <-ctx.Done():
			return n
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// openWritten counts the open files whose version this open started.
func (k *Keeper) openWritten() int {
	k.mu.Lock()
	files := make([]*File, 0, len(k.open))
	for _, f := range k.open {
		files = append(files, f)
	}
	k.mu.Unlock()
	n := 0
	for _, f := range files {
		f.RLock()
		if f.state.started() {
			n++
		}
		f.RUnlock()
	}
	return n
}
