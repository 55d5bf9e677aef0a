package crypto

import (
	"encoding/binary"
	"fmt"
)

// BlockOverhead is what sealing adds to each block: nonce(12) and tag(16).
const BlockOverhead = 12 + 16

// Block AAD (39 bytes): magic(8) version(2) blockSize(4) fileID(16) are the
// per-file prefix, then blockIndex(8, big endian) and final(1).
const (
	aadPrefixSize = len(magic) + 2 + 4 + 16
	aadSize       = aadPrefixSize + 8 + 1
)

type blockAAD [aadSize]byte

// newAADPrefix fills the per-file part of a block AAD from the header. The
// key ID and wrapped DEK are deliberately left out: rotation rewrites them.
func newAADPrefix(h *Header) (a blockAAD) {
	copy(a[:], magic)
	binary.BigEndian.PutUint16(a[offVersion:], h.Version)
	binary.BigEndian.PutUint32(a[offBlockSize:], h.BlockSize)
	copy(a[offFileID:], h.FileID[:])
	return a
}

// set completes the AAD for block index i.
func (a *blockAAD) set(i int64, final bool) []byte {
	binary.BigEndian.PutUint64(a[aadPrefixSize:], uint64(i))
	a[aadSize-1] = 0
	if final {
		a[aadSize-1] = 1
	}
	return a[:]
}

// lastBlockIndex is the index of the final block of a plaintext of the
// given size: a file always has max(1, ceil(size/bs)) blocks.
func lastBlockIndex(size, bs int64) int64 {
	if size == 0 {
		return 0
	}
	return (size - 1) / bs
}

// blockToCipherOff is where block i starts in the backing, after a header
// of hs bytes.
func blockToCipherOff(i, bs, hs int64) int64 {
	return hs + i*(bs+BlockOverhead)
}

// plainSizeToCipherSize is the backing size of a complete file.
func plainSizeToCipherSize(size, bs, hs int64) int64 {
	last := lastBlockIndex(size, bs)
	return blockToCipherOff(last, bs, hs) + (size - last*bs) + BlockOverhead
}

// cipherSizeToPlainSize inverts plainSizeToCipherSize, rejecting every size
// no complete file can have: shorter than a header plus one (empty) block, a
// partial block of 1..27 bytes (less than its own overhead), or an empty
// final block after full blocks (a size that is a multiple of the block size
// ends in a full final block instead).
func cipherSizeToPlainSize(csize, bs, hs int64) (int64, error) {
	body := csize - hs
	if body < BlockOverhead {
		return 0, fmt.Errorf("ciphertext of %d bytes is too short for a header and a block: %w", csize, ErrAuth)
	}
	full, rem := body/(bs+BlockOverhead), body%(bs+BlockOverhead)
	switch {
	case rem == 0:
		return full * bs, nil
	case rem < BlockOverhead:
		return 0, fmt.Errorf("ciphertext of %d bytes ends in a %d-byte fragment: %w", csize, rem, ErrAuth)
	case rem == BlockOverhead && full > 0:
		return 0, fmt.Errorf("ciphertext of %d bytes ends in an empty block after full ones: %w", csize, ErrAuth)
	}
	return full*bs + rem - BlockOverhead, nil
}
