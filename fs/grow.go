package fs

import "syscall"

// maxFileSize is ext4's limit with 4 KiB blocks; beyond it truncate and
// write fail with EFBIG.
const maxFileSize = 16 << 40

// minFreeBytes is the least free space a zero fill may leave (or 5% of the
// disk, if more).
const minFreeBytes = 1 << 30

// checkGrow refuses to grow a file from size to newSize when the sealed
// zeros that fill the gap cannot fit: holes are not sparse on disk, so a
// truncate to a petabyte must fail at once instead of filling the disk.
func (f *FS) checkGrow(size, newSize int64) syscall.Errno {
	if newSize > maxFileSize || newSize < 0 {
		return syscall.EFBIG
	}
	if newSize <= size {
		return 0
	}
	st, err := f.data.Statfs()
	if err != nil {
		return toErrno(err)
	}
	// Leave headroom for metadata and for the other users of the disk.
	free := int64(st.Bavail)*st.Bsize - max(minFreeBytes, int64(st.Blocks)*st.Bsize/20)
	if newSize-size > free {
		return syscall.ENOSPC
	}
	return 0
}
