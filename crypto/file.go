package crypto

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Backing is where a content file's ciphertext lives; *os.File satisfies it.
// ReadAt must be safe for concurrent use.
type Backing interface {
	io.ReaderAt
	io.WriterAt
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
}

// ContextReaderAt is a Backing whose reads can be cut short: a bucket
// object read over the network. Reads given a context (OpenFileContext,
// ReadAtContext) use it, so an interrupted FUSE request stops waiting.
type ContextReaderAt interface {
	ReadAtContext(ctx context.Context, p []byte, off int64) (int, error)
}

// readBacking reads from b, with ctx when b can take one.
func readBacking(ctx context.Context, b Backing, p []byte, off int64) (int, error) {
	if cb, ok := b.(ContextReaderAt); ok {
		return cb.ReadAtContext(ctx, p, off)
	}
	return b.ReadAt(p, off)
}

// Nonce safety. Every block seal draws a fresh random 96-bit nonce from
// crypto/rand (cipher.NewGCMWithRandomNonce). A (key, nonce) pair repeats
// only if two seals under the same DEK draw the same nonce; after q seals
// under one DEK the chance of any repeat is at most q^2/2^97 (birthday
// bound). Every DEK is fresh and random: one per file created
// (CreateFile), and a new one whenever a file is cut to zero (Truncate(0)),
// so q counts the block seals of one file version only. A File refuses to
// seal more than maxSealsPerDEK = 2^32 blocks under one DEK, where the bound
// is 2^64/2^97 = 2^-33; a realistic file (a 1 TiB backup is 2^24 blocks of
// 64 KiB, and sequential appends seal each block once) stays near 2^-49.
const maxSealsPerDEK = 1 << 32

// maxRunBytes bounds the ciphertext gathered for one backing read or write:
// whole runs of blocks move in one call, in chunks of about this size.
const maxRunBytes = 1 << 20

var errNegativeOffset = errors.New("negative offset")

// File is the plaintext view of one content file. It is safe for concurrent
// use: reads run in parallel, writes, truncations and flushes are exclusive.
//
// The last block (the tail) is kept as plaintext in memory: appends fill it
// without resealing, it is sealed non-final and written once a write goes
// past it, and sealed final by Flush. The backing therefore holds a complete,
// valid file only after Flush.
type File struct {
	mu   sync.RWMutex
	w    *Wrapper
	b    Backing
	hdr  Header
	key  FileKey     // the file's DEK, wrapped
	aead cipher.AEAD // the file's DEK
	bs   int64       // block size
	hs   int64       // header size
	// readOnly: an older format version, which is read but never written.
	readOnly bool
	aad      blockAAD // per-file prefix filled in
	size     int64
	tail     []byte // plaintext of block lastBlockIndex(size), cap bs
	dirty    bool   // tail differs from what the backing holds
	seals    uint64 // seals under the current DEK by this File
	err      error  // first backing failure while mutating; sticky

	blen int64     // backing size as last written or truncated by us
	wbuf writeBufs // scratch for writers, guarded by mu held exclusively
	rbuf sync.Pool // *readBufs for readers
}

type writeBufs struct {
	run    []byte // sealed blocks about to be written in one WriteAt
	runIdx int64  // index of the first block in run
	cblk   []byte // one sealed block read back for read-modify-write
	pblk   []byte // its plaintext
	mac    []byte // a plain block's AAD and bytes, as its tag covers them
	aad    blockAAD
}

type readBufs struct {
	cipher []byte
	plain  []byte
	mac    []byte
	aad    blockAAD
}

// CreateFile starts a new, empty content file in b: it truncates b, picks a
// file ID and a DEK, and writes the header. blockSize 0 means
// DefaultBlockSize. The empty final block is written by Flush. Key returns
// the wrapped DEK, which the caller keeps (the file does not).
func CreateFile(w *Wrapper, b Backing, blockSize int) (*File, error) {
	fileID, err := NewFileID()
	if err != nil {
		return nil, fmt.Errorf("create file: %w", err)
	}
	return createFile(w, b, fileID, blockSize, Version)
}

func createFile(w *Wrapper, b Backing, fileID FileID, blockSize int, version uint16) (*File, error) {
	return createFileKeyed(w, b, fileID, blockSize, version, nil)
}

// CreateFileWithKey is CreateFileWithID under the DEK k that a content
// record already holds: a version rebuilt from a copy of its plaintext
// (a plain file's readable bucket copy) opens with its record again. The
// blocks get fresh nonces.
func CreateFileWithKey(w *Wrapper, b Backing, fileID FileID, blockSize int, k FileKey, plain bool) (*File, error) {
	version := uint16(Version)
	if plain {
		version = PlainVersion
	}
	return createFileKeyed(w, b, fileID, blockSize, version, &k)
}

// createFileKeyed creates a file under DEK k, or a new one when k is nil.
func createFileKeyed(w *Wrapper, b Backing, fileID FileID, blockSize int, version uint16, k *FileKey) (*File, error) {
	if blockSize == 0 {
		blockSize = DefaultBlockSize
	}
	if blockSize < MinBlockSize || blockSize > MaxBlockSize {
		return nil, fmt.Errorf("create file: block size %d out of range [%d, %d]", blockSize, MinBlockSize, MaxBlockSize)
	}
	if err := b.Truncate(0); err != nil {
		return nil, fmt.Errorf("create file %s: %w", fileID, err)
	}
	hdr := Header{Version: version, BlockSize: uint32(blockSize), FileID: fileID}
	f := newFile(w, b, hdr)
	var key FileKey
	if k != nil {
		key = *k
	}
	if err := f.useDEK(key); err != nil {
		return nil, fmt.Errorf("create file %s: %w", fileID, err)
	}
	f.dirty = true
	return f, nil
}

// OpenFile opens the content file in b with its DEK k, as the file's content
// record keeps it. It checks the header (a version 2 header's tag, before
// anything the header declares is allocated), derives the plaintext size
// from the backing size and authenticates the final block, so a file cut or
// extended at a block boundary fails here with ErrAuth. ErrWrongKey: k is
// wrapped by another master key.
//
// A version 1 file carries its own wrapped DEK, which is used when k is the
// zero FileKey; version 1 files open read-only.
func OpenFile(w *Wrapper, b Backing, k FileKey) (*File, error) {
	return OpenFileContext(context.Background(), w, b, k)
}

// OpenFileContext is OpenFile whose reads of b end when ctx does.
func OpenFileContext(ctx context.Context, w *Wrapper, b Backing, k FileKey) (*File, error) {
	hdr, err := readHeader(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("open file: %w", err)
	}
	if k.Wrapped == nil && hdr.Version == 1 {
		k = FileKey{KeyID: hdr.KeyID, Wrapped: hdr.WrappedDEK}
	}
	if k.Wrapped == nil {
		return nil, fmt.Errorf("open file %s: no DEK given for a version %d file: %w", hdr.FileID, hdr.Version, ErrWrongKey)
	}
	dek, err := w.unwrap(hdr.FileID, k.KeyID, k.Wrapped)
	if err != nil {
		return nil, fmt.Errorf("open file: %w", err)
	}
	aead := newAEAD(dek)
	clear(dek)
	if hdr.Version != 1 {
		if _, err := aead.Open(nil, nil, hdr.Tag, hdr.tagAAD()); err != nil {
			return nil, fmt.Errorf("open file %s: header tag: %w", hdr.FileID, ErrAuth)
		}
	}
	f := newFile(w, b, *hdr)
	f.aead, f.key = aead, k
	f.readOnly = hdr.Version == 1
	fi, err := b.Stat()
	if err != nil {
		return nil, fmt.Errorf("open file %s: %w", hdr.FileID, err)
	}
	f.blen = fi.Size()
	if f.size, err = cipherSizeToPlainSize(f.blen, f.bs, f.hs); err != nil {
		return nil, fmt.Errorf("open file %s: %w", hdr.FileID, err)
	}
	last := lastBlockIndex(f.size, f.bs)
	f.tail, err = f.loadBlock(ctx, f.tail[:0], last, int(f.size-last*f.bs), true)
	if err != nil {
		return nil, fmt.Errorf("open file %s: %w", hdr.FileID, err)
	}
	return f, nil
}

// readHeader reads and parses the header at the start of b.
func readHeader(ctx context.Context, b Backing) (*Header, error) {
	buf := make([]byte, max(HeaderSize, HeaderSizeV1))
	n, err := readBacking(ctx, b, buf, 0)
	if n < offBlockSize {
		if err == nil || err == io.EOF {
			err = fmt.Errorf("short header: %w", ErrAuth)
		}
		return nil, err
	}
	v, perr := peekVersion(buf[:n])
	if perr != nil {
		return nil, perr
	}
	if hs := headerSize(v); n < hs {
		if err == nil || err == io.EOF {
			err = fmt.Errorf("short header: %w", ErrAuth)
		}
		return nil, err
	}
	return ParseHeader(buf[:headerSize(v)])
}

func newFile(w *Wrapper, b Backing, hdr Header) *File {
	f := &File{w: w, b: b, hdr: hdr, bs: int64(hdr.BlockSize), hs: int64(hdr.Size()), aad: newAADPrefix(&hdr)}
	f.tail = make([]byte, 0, f.bs)
	f.wbuf.aad = f.aad
	f.rbuf.New = func() any {
		return &readBufs{cipher: make([]byte, f.runBlocks()*int(f.bs+BlockOverhead)), aad: f.aad}
	}
	return f
}

// runBlocks is how many blocks one backing call moves at most.
func (f *File) runBlocks() int {
	return max(1, maxRunBytes/int(f.bs+BlockOverhead))
}

// Header returns a copy of the file's header.
func (f *File) Header() Header {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.hdr.clone()
}

// Key returns the file's wrapped DEK, which its content record keeps. It
// changes when Truncate(0) gives the file a fresh DEK.
func (f *File) Key() FileKey {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return FileKey{KeyID: f.key.KeyID, Wrapped: append([]byte(nil), f.key.Wrapped...)}
}

// Size returns the plaintext size, including data not yet flushed.
func (f *File) Size() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.size
}

// loadBlock reads block i (n plaintext bytes, sealed final or not) from the
// backing and appends its plaintext to dst. Callers hold mu exclusively.
func (f *File) loadBlock(ctx context.Context, dst []byte, i int64, n int, final bool) ([]byte, error) {
	if cap(f.wbuf.cblk) < n+BlockOverhead {
		f.wbuf.cblk = make([]byte, f.bs+BlockOverhead)
	}
	cblk := f.wbuf.cblk[:n+BlockOverhead]
	if err := f.readCipher(ctx, cblk, i); err != nil {
		return dst, err
	}
	out, err := f.openBlock(dst, cblk, f.wbuf.aad.set(i, final), &f.wbuf.mac)
	if err != nil {
		clear(dst[len(dst):cap(dst)]) // Open may have written there
		return dst, fmt.Errorf("open block %d: %w", i, ErrAuth)
	}
	return out, nil
}

// readCipher fills buf with the ciphertext starting at block i; a backing
// shorter than the file's size says is tampering.
func (f *File) readCipher(ctx context.Context, buf []byte, i int64) error {
	n, err := readBacking(ctx, f.b, buf, blockToCipherOff(i, f.bs, f.hs))
	if n == len(buf) {
		return nil
	}
	if err == nil || err == io.EOF {
		return fmt.Errorf("read block %d: ciphertext truncated: %w", i, ErrAuth)
	}
	return fmt.Errorf("read block %d: %w", i, err)
}

// ReadAt reads plaintext with io.ReaderAt semantics. Every byte returned has
// been authenticated; a block that fails gives an error wrapping ErrAuth
// that names the block.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	return f.ReadAtContext(context.Background(), p, off)
}

// ReadAtContext is ReadAt whose reads of the backing end when ctx does.
func (f *File) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.err != nil {
		return 0, f.err
	}
	if off < 0 {
		return 0, fmt.Errorf("read at %d: %w", off, errNegativeOffset)
	}
	if off >= f.size {
		return 0, io.EOF
	}
	want := int(min(int64(len(p)), f.size-off))
	n, err := f.readLocked(ctx, p[:want], off)
	if err == nil && want < len(p) {
		err = io.EOF
	}
	return n, err
}

// readLocked fills p from off; off+len(p) <= size.
func (f *File) readLocked(ctx context.Context, p []byte, off int64) (int, error) {
	last := lastBlockIndex(f.size, f.bs)
	var rb *readBufs
	defer func() {
		if rb != nil {
			f.rbuf.Put(rb)
		}
	}()
	n := 0
	for n < len(p) {
		i := off / f.bs
		if i == last {
			n += copy(p[n:], f.tail[off-i*f.bs:])
			break
		}
		if rb == nil {
			rb = f.rbuf.Get().(*readBufs)
		}
		// Blocks i..j-1 are full, non-final, and all come from the backing.
		endBlk := (off + int64(len(p)-n) - 1) / f.bs
		j := min(endBlk+1, last, i+int64(f.runBlocks()))
		m, err := f.readRun(ctx, p[n:], off, i, j, rb)
		n += m
		off += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// readRun reads full blocks [i, j) with one backing call, and copies the
// plaintext from off on into p.
func (f *File) readRun(ctx context.Context, p []byte, off, i, j int64, rb *readBufs) (int, error) {
	cbs := int(f.bs + BlockOverhead)
	buf := rb.cipher[:int(j-i)*cbs]
	if err := f.readCipher(ctx, buf, i); err != nil {
		return 0, err
	}
	n := 0
	for k := i; k < j && n < len(p); k++ {
		ct := buf[int(k-i)*cbs:][:cbs]
		in := int(off - k*f.bs) // offset of off within block k; 0 after the first
		dst := p[n:]
		whole := in == 0 && len(dst) >= int(f.bs)
		if !whole {
			if rb.plain == nil {
				rb.plain = make([]byte, f.bs)
			}
			dst = rb.plain
		}
		out, err := f.openBlock(dst[:0], ct, rb.aad.set(k, false), &rb.mac)
		if err != nil {
			clear(dst[:f.bs])
			return n, fmt.Errorf("open block %d: %w", k, ErrAuth)
		}
		c := len(out) - in
		if !whole {
			c = copy(p[n:], out[in:])
		}
		n += c
		off += int64(c)
	}
	return n, nil
}
