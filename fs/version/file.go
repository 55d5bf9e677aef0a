package version

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
)

// File is the content of one regular file while handles have it open.
// Callers hold its lock around every call: shared for ReadAt, Size, Err and
// State, exclusive for everything else.
type File struct {
	sync.RWMutex
	k    *Keeper
	ino  meta.Ino
	refs int // guarded by k.mu

	state   State
	rec     meta.Content // the version read and written
	data    DataFile
	content *crypto.File
	old     *meta.Content // Copying: the version the record still points at
	damage  error         // Broken: why the version failed to open
	unsaved bool          // size or mtime changed since the last save
	mtime   int64         // of the last change, valid when unsaved
	// where names the file ("/app/x") for the readable bucket copy of a
	// plain version sealed at the last release; "" when it has no name.
	where func() string
}

// State returns where the file is in its lifecycle.
func (f *File) State() State { return f.state }

// Err is the error every read and write of a Broken file fails with.
func (f *File) Err() error {
	if f.state == Broken {
		return f.damage
	}
	return nil
}

// Size is the plaintext size, including what is not saved yet.
func (f *File) Size() int64 {
	if f.content == nil {
		return 0
	}
	return f.content.Size()
}

// ReadAt reads plaintext; every byte returned was authenticated.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	return f.ReadAtContext(context.Background(), p, off)
}

// ReadAtContext is ReadAt for a request that can be interrupted: a read
// of a version that is only in the bucket stops waiting when ctx ends.
func (f *File) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if err := f.Err(); err != nil {
		return 0, err
	}
	return f.content.ReadAtContext(ctx, p, off)
}

// overlay puts the unsaved size and mtime on in, the file's saved record.
func (f *File) overlay(in *meta.Inode) {
	if f.content != nil {
		in.Size = uint64(f.content.Size())
	}
	if f.unsaved {
		in.Mtime, in.Ctime = f.mtime, f.mtime
	}
}

// load opens the version the record points at. A version that fails
// authentication opens Broken when writable (so open(O_TRUNC) can replace
// it) and fails otherwise.
func (f *File) load(ctx context.Context, writable bool) error {
	var in meta.Inode
	var c meta.Content
	err := f.k.cfg.Meta.View(func(tx *meta.Tx) (err error) {
		if in, err = tx.Inode(f.ino); err != nil {
			return err
		}
		c, err = tx.Content(f.ino)
		return err
	})
	if err != nil {
		return err
	}
	data, content, err := f.k.openVersion(ctx, c, in.Size)
	if err != nil {
		if writable && isDamage(err) {
			f.state, f.rec, f.damage = Broken, c, err
			return nil
		}
		return err
	}
	f.state, f.rec, f.data, f.content = Sealed, c, data, content
	return nil
}

// ErrNoData: a version's ciphertext is neither in the store nor (synced)
// in the bucket, e.g. a file whose object was missing when the store was
// recovered. Reads are EIO; open(O_TRUNC) replaces it.
var ErrNoData = errors.New("content is missing")

// isDamage reports whether err says the ciphertext is not what the record
// says, or is gone (as opposed to an I/O failure).
func isDamage(err error) bool {
	return errors.Is(err, crypto.ErrAuth) || errors.Is(err, crypto.ErrWrongKey) || errors.Is(err, ErrNoData)
}

// openVersion opens the ciphertext of c and checks it against its record: a
// ciphertext that was cut, extended or swapped for another file's fails with
// crypto.ErrAuth. An evicted, synced version is read from the bucket.
func (k *Keeper) openVersion(ctx context.Context, c meta.Content, size uint64) (DataFile, *crypto.File, error) {
	data, content, err := k.openVersionOnce(ctx, c, size)
	if errors.Is(err, crypto.ErrAuth) && k.fromPlainCopy(c) {
		// A plain version's local file can be rebuilt from its checked
		// bucket copy: one cut by a crash while it was fetched, or damaged.
		if rerr := k.cfg.Data.RemoveData(c.FileID); rerr == nil {
			data, content, err = k.openVersionOnce(ctx, c, size)
		}
	}
	return data, content, err
}

// fromPlainCopy reports whether c can be read back from its readable copy.
func (k *Keeper) fromPlainCopy(c meta.Content) bool {
	return k.cfg.Cache != nil && c.Sync == meta.SyncSynced && c.PlainCopy() && c.SHA256 != ""
}

func (k *Keeper) openVersionOnce(ctx context.Context, c meta.Content, size uint64) (DataFile, *crypto.File, error) {
	id := crypto.FileID(c.FileID)
	data, err := k.cfg.Data.OpenData(id)
	switch {
	case err == nil:
		if k.cfg.Cache != nil {
			k.cfg.Cache.Used(id)
		}
	case errors.Is(err, os.ErrNotExist) && k.fromPlainCopy(c):
		if data, err = k.fetchPlain(ctx, c, size); err != nil {
			return nil, nil, err
		}
	case errors.Is(err, os.ErrNotExist) && k.cfg.Cache != nil && c.Sync == meta.SyncSynced:
		if data, err = k.cfg.Cache.OpenRemote(ctx, id); err != nil {
			return nil, nil, err
		}
	case errors.Is(err, os.ErrNotExist):
		return nil, nil, fmt.Errorf("version %s: %w", id, ErrNoData)
	default:
		return nil, nil, err
	}
	content, err := crypto.OpenFileContext(ctx, k.cfg.Wrapper, data, crypto.FileKey{KeyID: c.KeyID, Wrapped: c.WrappedDEK})
	if err == nil && (content.Header().FileID != id || uint64(content.Size()) != size) {
		err = crypto.ErrAuth
	}
	if err != nil {
		data.Close()
		return nil, nil, err
	}
	return data, content, nil
}

// fetchPlain rebuilds the local file of plain version c from its bucket
// copy; a copy that does not match the record leaves no local file.
func (k *Keeper) fetchPlain(ctx context.Context, c meta.Content, size uint64) (DataFile, error) {
	data, err := k.cfg.Data.CreateData(c.FileID)
	if err != nil {
		return nil, err
	}
	if err := k.cfg.Cache.FetchPlain(ctx, c, int64(size), data); err != nil {
		data.Close()
		k.cfg.Data.RemoveData(c.FileID)
		return nil, err
	}
	return data, nil
}

// copyChunk bounds the memory a copy-on-write takes.
const copyChunk = 1 << 20

func copyContent(dst, src *crypto.File) error {
	buf := make([]byte, copyChunk)
	for off := int64(0); off < src.Size(); {
		n, err := src.ReadAt(buf, off)
		if n > 0 {
			if _, werr := dst.WriteAt(buf[:n], off); werr != nil {
				return werr
			}
			off += int64(n)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if n == 0 {
			break
		}
	}
	return dst.Flush()
}
