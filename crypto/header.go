package crypto

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrAuth reports content that failed authentication: a tampered header or
// block, blocks reordered or moved between files, a ciphertext cut short or
// extended, or a size no valid file can have.
var ErrAuth = errors.New("ciphertext authentication failed")

// Version is the content format version this package writes.
const Version = 1

// magic starts every content file ("SEALFS CipherText").
const magic = "SEALFSCT"

// HeaderSize is the size of a version 1 header. Block i starts at
// HeaderSize + i*(BlockSize+BlockOverhead).
const HeaderSize = len(magic) + 2 + 4 + 16 + 16 + WrappedDEKSize

// Header field offsets (version 1).
const (
	offVersion   = len(magic)
	offBlockSize = offVersion + 2
	offFileID    = offBlockSize + 4
	offKeyID     = offFileID + 16
	offWrapped   = offKeyID + 16
)

// Bounds on the plaintext block size a header may declare. Small blocks
// are legal (tests and fuzzing use them); the upper bound caps the memory an
// untrusted header can make a reader allocate.
const (
	DefaultBlockSize = 64 << 10
	MinBlockSize     = 16
	MaxBlockSize     = 16 << 20
)

// Header starts every content file.
type Header struct {
	Version    uint16
	BlockSize  uint32 // plaintext bytes per block
	FileID     FileID
	KeyID      KeyID  // master key that wrapped the DEK
	WrappedDEK []byte // WrappedDEKSize bytes
}

// MarshalBinary encodes h in exactly HeaderSize bytes.
func (h *Header) MarshalBinary() ([]byte, error) {
	if err := h.validate(); err != nil {
		return nil, fmt.Errorf("marshal header: %w", err)
	}
	b := make([]byte, HeaderSize)
	copy(b, magic)
	binary.BigEndian.PutUint16(b[offVersion:], h.Version)
	binary.BigEndian.PutUint32(b[offBlockSize:], h.BlockSize)
	copy(b[offFileID:], h.FileID[:])
	copy(b[offKeyID:], h.KeyID[:])
	copy(b[offWrapped:], h.WrappedDEK)
	return b, nil
}

// ParseHeader decodes a header of exactly HeaderSize bytes. Anything else
// (wrong magic, unknown version, wrong length, block size out of range)
// gives an error wrapping ErrAuth.
func ParseHeader(b []byte) (*Header, error) {
	if len(b) < offBlockSize || string(b[:len(magic)]) != magic {
		return nil, fmt.Errorf("parse header: not a sealfs content file: %w", ErrAuth)
	}
	h := &Header{Version: binary.BigEndian.Uint16(b[offVersion:])}
	if h.Version != Version {
		return nil, fmt.Errorf("parse header: unsupported format version %d: %w", h.Version, ErrAuth)
	}
	if len(b) != HeaderSize {
		return nil, fmt.Errorf("parse header: %d bytes, want %d: %w", len(b), HeaderSize, ErrAuth)
	}
	h.BlockSize = binary.BigEndian.Uint32(b[offBlockSize:])
	copy(h.FileID[:], b[offFileID:])
	copy(h.KeyID[:], b[offKeyID:])
	h.WrappedDEK = append([]byte(nil), b[offWrapped:HeaderSize]...)
	if err := h.validate(); err != nil {
		return nil, fmt.Errorf("parse header: %w", err)
	}
	return h, nil
}

func (h *Header) validate() error {
	if h.Version != Version {
		return fmt.Errorf("unsupported format version %d: %w", h.Version, ErrAuth)
	}
	if h.BlockSize < MinBlockSize || h.BlockSize > MaxBlockSize {
		return fmt.Errorf("block size %d out of range [%d, %d]: %w",
			h.BlockSize, MinBlockSize, MaxBlockSize, ErrAuth)
	}
	if len(h.WrappedDEK) != WrappedDEKSize {
		return fmt.Errorf("wrapped DEK is %d bytes, want %d: %w", len(h.WrappedDEK), WrappedDEKSize, ErrAuth)
	}
	return nil
}

func (h *Header) clone() Header {
	c := *h
	c.WrappedDEK = append([]byte(nil), h.WrappedDEK...)
	return c
}
