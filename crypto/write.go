package crypto

import (
	"context"
	"errors"
	"fmt"
)

var (
	errSealLimit = errors.New("seal limit for this file's key reached; copy it to a new file")
	errOldFormat = errors.New("content of an older format version is read-only; copy it to a new file")
)

// zeros is the source for filling holes and growing files.
var zeros [maxRunBytes]byte

// WriteAt writes p at off. Writing past the end first fills the gap with
// zeros. Partial blocks are read, modified and resealed; the tail block is
// only buffered (see File).
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.checkWritable(); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, fmt.Errorf("write at %d: %w", off, errNegativeOffset)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off > f.size {
		if err := f.growLocked(off); err != nil {
			return 0, err
		}
	}
	if err := f.writeLocked(p, off); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Truncate changes the plaintext size; growing appends zeros. Cutting a file
// to zero gives it a fresh DEK (the header is rewritten at once), so its new
// content never shares a key with the old.
func (f *File) Truncate(size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.checkWritable(); err != nil {
		return err
	}
	switch {
	case size < 0:
		return fmt.Errorf("truncate to %d: negative size", size)
	case size > f.size:
		return f.growLocked(size)
	case size == 0 && f.size > 0:
		return f.resetLocked()
	case size < f.size:
		return f.shrinkLocked(size)
	}
	return nil
}

// Flush seals the tail block as the final block and writes it, and cuts
// the backing to the exact ciphertext size, so the backing holds a
// complete, valid file. It does not sync the backing.
func (f *File) Flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if !f.dirty {
		return nil
	}
	if f.seals >= maxSealsPerDEK {
		return errSealLimit
	}
	last := lastBlockIndex(f.size, f.bs)
	f.wbuf.runIdx = last
	f.wbuf.run = f.seal(f.wbuf.run[:0], f.tail, last, true)
	if err := f.flushRun(); err != nil {
		return err
	}
	if want := plainSizeToCipherSize(f.size, f.bs, f.hs); f.blen != want {
		if err := f.truncateBacking(want); err != nil {
			return err
		}
	}
	f.dirty = false
	return nil
}

func (f *File) checkWritable() error {
	if f.err != nil {
		return f.err
	}
	if f.readOnly {
		return errOldFormat
	}
	if f.seals >= maxSealsPerDEK {
		return errSealLimit
	}
	return nil
}

// writeLocked writes p at off <= size. Blocks are visited in order:
// existing middle blocks are resealed (read-modify-write when partly
// covered), the old tail is filled and, if the write goes past it, sealed
// non-final, new full blocks are sealed straight from p, and the block that
// ends up last becomes the tail. Sealed blocks gather in one run so a large
// write costs one backing call per maxRunBytes.
func (f *File) writeLocked(p []byte, off int64) error {
	end := off + int64(len(p))
	newSize := max(f.size, end)
	oldLast, newLast := lastBlockIndex(f.size, f.bs), lastBlockIndex(newSize, f.bs)
	f.wbuf.run = f.wbuf.run[:0]
	if first := off / f.bs; first > oldLast {
		// Appending right after a full tail: it becomes a middle block.
		f.wbuf.runIdx = oldLast
		f.wbuf.run = f.seal(f.wbuf.run, f.tail, oldLast, false)
	} else {
		f.wbuf.runIdx = first
	}
	for off < end {
		i := off / f.bs
		in := off - i*f.bs
		chunk := p[:min(f.bs-in, end-off)]
		p = p[len(chunk):]
		off += int64(len(chunk))
		var err error
		switch {
		case i < oldLast && len(chunk) < int(f.bs):
			err = f.rewriteBlock(i, int(in), chunk)
		case i < oldLast || (i > oldLast && i < newLast):
			err = f.addToRun(i, chunk)
		case i == oldLast:
			f.tail = f.tail[:max(len(f.tail), int(in)+len(chunk))]
			copy(f.tail[in:], chunk)
			if newLast > oldLast {
				err = f.addToRun(i, f.tail)
				f.tail = f.tail[:0]
			}
		default: // i == newLast > oldLast
			f.tail = append(f.tail[:0], chunk...)
		}
		if err != nil {
			return err
		}
	}
	if err := f.flushRun(); err != nil {
		return err
	}
	f.size = newSize
	f.dirty = true
	return nil
}

// rewriteBlock overlays chunk at in on middle block i and adds it to the run.
func (f *File) rewriteBlock(i int64, in int, chunk []byte) error {
	plain, err := f.loadBlock(context.Background(), f.spareBlock(), i, int(f.bs), false)
	if err != nil {
		return err
	}
	f.wbuf.pblk = plain
	copy(plain[in:], chunk)
	return f.addToRun(i, plain)
}

// addToRun seals full middle block i (the next in the run) into the run,
// writing the run out first if it is full.
func (f *File) addToRun(i int64, plain []byte) error {
	if len(f.wbuf.run) >= maxRunBytes {
		if err := f.flushRun(); err != nil {
			return err
		}
		f.wbuf.runIdx = i
	}
	if f.seals >= maxSealsPerDEK {
		return errSealLimit
	}
	f.wbuf.run = f.seal(f.wbuf.run, plain, i, false)
	return nil
}

func (f *File) seal(dst, plain []byte, i int64, final bool) []byte {
	f.seals++
	return f.sealBlock(dst, plain, f.wbuf.aad.set(i, final), &f.wbuf.mac)
}

// flushRun writes the gathered blocks; a failure is sticky, since the
// backing may now hold some of them and not others.
func (f *File) flushRun() error {
	run := f.wbuf.run
	if len(run) == 0 {
		return nil
	}
	off := blockToCipherOff(f.wbuf.runIdx, f.bs, f.hs)
	if _, err := f.b.WriteAt(run, off); err != nil {
		f.err = fmt.Errorf("write blocks %d-%d of %s: %w",
			f.wbuf.runIdx, f.wbuf.runIdx+int64(len(run)/int(f.bs+BlockOverhead)), f.hdr.FileID, err)
		return f.err
	}
	f.blen = max(f.blen, off+int64(len(run)))
	f.wbuf.runIdx += int64(len(run) / int(f.bs+BlockOverhead))
	f.wbuf.run = run[:0]
	return nil
}

// growLocked appends zeros up to size.
func (f *File) growLocked(size int64) error {
	for f.size < size {
		n := min(size-f.size, int64(len(zeros)))
		if err := f.writeLocked(zeros[:n], f.size); err != nil {
			return err
		}
	}
	return nil
}

// shrinkLocked cuts the plaintext to 0 < size < f.size. If the last block
// changes, the new one is loaded as the tail and the backing is cut before
// it; Flush writes it back final.
func (f *File) shrinkLocked(size int64) error {
	oldLast, newLast := lastBlockIndex(f.size, f.bs), lastBlockIndex(size, f.bs)
	if newLast != oldLast {
		// Load into spare scratch: a failure must leave the tail intact.
		blk, err := f.loadBlock(context.Background(), f.spareBlock(), newLast, int(f.bs), false)
		if err != nil {
			return fmt.Errorf("truncate to %d: %w", size, err)
		}
		f.tail, f.wbuf.pblk = blk, f.tail[:0]
		if err := f.truncateBacking(blockToCipherOff(newLast, f.bs, f.hs)); err != nil {
			return err
		}
	}
	f.tail = f.tail[:size-newLast*f.bs]
	f.size = size
	f.dirty = true
	return nil
}

// resetLocked empties the file under a fresh DEK.
func (f *File) resetLocked() error {
	if err := f.truncateBacking(0); err != nil {
		return err
	}
	if err := f.newDEK(); err != nil {
		f.err = err
		return err
	}
	f.size, f.tail, f.dirty = 0, f.tail[:0], true
	return nil
}

// newDEK gives the file a fresh DEK and writes its header, sealed under it.
func (f *File) newDEK() error { return f.useDEK(FileKey{}) }

// useDEK gives the file the DEK k holds (a fresh one for the zero FileKey)
// and writes its header, sealed under it.
func (f *File) useDEK(k FileKey) error {
	if k.Wrapped == nil {
		var err error
		if k, err = f.w.newFileKey(f.hdr.FileID); err != nil {
			return err
		}
	}
	dek, err := f.w.unwrap(f.hdr.FileID, k.KeyID, k.Wrapped)
	if err != nil {
		return err
	}
	f.aead = newAEAD(dek)
	clear(dek)
	f.key = k
	f.hdr.Tag = f.aead.Seal(nil, nil, nil, f.hdr.tagAAD())
	f.seals = 1
	b, err := f.hdr.MarshalBinary()
	if err != nil {
		return err
	}
	if _, err := f.b.WriteAt(b, 0); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	f.blen = max(f.blen, int64(len(b)))
	return nil
}

func (f *File) truncateBacking(size int64) error {
	if err := f.b.Truncate(size); err != nil {
		f.err = fmt.Errorf("truncate ciphertext of %s: %w", f.hdr.FileID, err)
		return f.err
	}
	f.blen = size
	return nil
}

// spareBlock returns the empty writer scratch for one plaintext block.
func (f *File) spareBlock() []byte {
	if cap(f.wbuf.pblk) < int(f.bs) {
		f.wbuf.pblk = make([]byte, 0, f.bs)
	}
	return f.wbuf.pblk[:0]
}
