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

// Version is the content format version this package writes for encrypted
// content. Version 1 (the DEK wrapped in the header) is still read.
const Version = 2

// PlainVersion marks plain content: the layout of version 2, with blocks
// that are authenticated (a GMAC tag under the file's DEK) but not
// encrypted, for directories whose encryption is off. It is a sibling of
// version 2, not its successor; the version is in every block's AAD and
// under the header tag, so neither kind can pass for the other.
const PlainVersion = 3

// magic starts every content file ("SEALFS CipherText").
const magic = "SEALFSCT"

// HeaderTagSize is the version 2 header tag: nonce(12) || GCM tag(16).
const HeaderTagSize = 12 + 16

// Header sizes. Block i starts at the header size + i*(BlockSize+BlockOverhead).
const (
	// HeaderSize (version 2): magic, version, block size, file ID, header tag.
	HeaderSize = headerFieldsSize + HeaderTagSize
	// HeaderSizeV1: magic, version, block size, file ID, key ID, wrapped DEK.
	HeaderSizeV1 = headerFieldsSize + 16 + WrappedDEKSize
	// headerFieldsSize is the part both versions share, and what the
	// version 2 header tag authenticates.
	headerFieldsSize = len(magic) + 2 + 4 + 16
)

// Header field offsets.
const (
	offVersion   = len(magic)
	offBlockSize = offVersion + 2
	offFileID    = offBlockSize + 4
	offV2Tag     = headerFieldsSize
	offV1KeyID   = headerFieldsSize
	offV1Wrapped = offV1KeyID + 16
)

// Bounds on the plaintext block size a header may declare. Small blocks
// are legal (tests and fuzzing use them); the upper bound caps the memory
// a reader allocates for a header that is authentic (version 2 checks the
// header tag before allocating anything) or, in version 1, not yet checked.
const (
	DefaultBlockSize = 64 << 10
	MinBlockSize     = 16
	MaxBlockSize     = 16 << 20
)

// Header starts every content file.
type Header struct {
	Version   uint16
	BlockSize uint32 // plaintext bytes per block
	FileID    FileID

	// Version 1 only: the master key's ID and the DEK it wrapped. Version
	// 2 keeps both in the content record (FileKey), never beside the
	// ciphertext.
	KeyID      KeyID
	WrappedDEK []byte

	// Version 2 only: nonce || tag of an AES-256-GCM seal, under the file's
	// DEK, of an empty plaintext with the first headerFieldsSize bytes as
	// AAD. It authenticates the block size and file ID before a reader
	// relies on them.
	Tag []byte
}

// headerSize is the size of a header of the given version, 0 if unknown.
func headerSize(version uint16) int {
	switch version {
	case 1:
		return HeaderSizeV1
	case 2, PlainVersion:
		return HeaderSize
	}
	return 0
}

// Size is the encoded size of h.
func (h *Header) Size() int { return headerSize(h.Version) }

// MarshalBinary encodes h in exactly h.Size() bytes.
func (h *Header) MarshalBinary() ([]byte, error) {
	if err := h.validate(); err != nil {
		return nil, fmt.Errorf("marshal header: %w", err)
	}
	b := make([]byte, h.Size())
	h.putFields(b)
	switch h.Version {
	case 1:
		copy(b[offV1KeyID:], h.KeyID[:])
		copy(b[offV1Wrapped:], h.WrappedDEK)
	default:
		copy(b[offV2Tag:], h.Tag)
	}
	return b, nil
}

// putFields writes the fields both versions share (the version 2 tag's AAD).
func (h *Header) putFields(b []byte) {
	copy(b, magic)
	binary.BigEndian.PutUint16(b[offVersion:], h.Version)
	binary.BigEndian.PutUint32(b[offBlockSize:], h.BlockSize)
	copy(b[offFileID:], h.FileID[:])
}

// tagAAD is what the version 2 header tag authenticates.
func (h *Header) tagAAD() []byte {
	b := make([]byte, headerFieldsSize)
	h.putFields(b)
	return b
}

// peekVersion returns the format version of a file starting with b (at
// least offBlockSize bytes), or an error wrapping ErrAuth.
func peekVersion(b []byte) (uint16, error) {
	if len(b) < offBlockSize || string(b[:len(magic)]) != magic {
		return 0, fmt.Errorf("parse header: not a sealfs content file: %w", ErrAuth)
	}
	v := binary.BigEndian.Uint16(b[offVersion:])
	if headerSize(v) == 0 {
		return 0, fmt.Errorf("parse header: unsupported format version %d: %w", v, ErrAuth)
	}
	return v, nil
}

// ParseHeader decodes a header of exactly the size its version has.
// Anything else (wrong magic, unknown version, wrong length, block size out
// of range) gives an error wrapping ErrAuth. It checks the form only: a
// version 2 header is authentic once OpenFile verified its tag.
func ParseHeader(b []byte) (*Header, error) {
	v, err := peekVersion(b)
	if err != nil {
		return nil, err
	}
	if len(b) != headerSize(v) {
		return nil, fmt.Errorf("parse header: %d bytes, want %d: %w", len(b), headerSize(v), ErrAuth)
	}
	h := &Header{Version: v, BlockSize: binary.BigEndian.Uint32(b[offBlockSize:])}
	copy(h.FileID[:], b[offFileID:])
	switch v {
	case 1:
		copy(h.KeyID[:], b[offV1KeyID:])
		h.WrappedDEK = append([]byte(nil), b[offV1Wrapped:HeaderSizeV1]...)
	default:
		h.Tag = append([]byte(nil), b[offV2Tag:HeaderSize]...)
	}
	if err := h.validate(); err != nil {
		return nil, fmt.Errorf("parse header: %w", err)
	}
	return h, nil
}

func (h *Header) validate() error {
	if headerSize(h.Version) == 0 {
		return fmt.Errorf("unsupported format version %d: %w", h.Version, ErrAuth)
	}
	if h.BlockSize < MinBlockSize || h.BlockSize > MaxBlockSize {
		return fmt.Errorf("block size %d out of range [%d, %d]: %w",
			h.BlockSize, MinBlockSize, MaxBlockSize, ErrAuth)
	}
	if h.Version == 1 && len(h.WrappedDEK) != WrappedDEKSize {
		return fmt.Errorf("wrapped DEK is %d bytes, want %d: %w", len(h.WrappedDEK), WrappedDEKSize, ErrAuth)
	}
	if h.Version != 1 && len(h.Tag) != HeaderTagSize {
		return fmt.Errorf("header tag is %d bytes, want %d: %w", len(h.Tag), HeaderTagSize, ErrAuth)
	}
	return nil
}

// Plain reports whether the file's blocks hold plaintext (PlainVersion).
func (h Header) Plain() bool { return h.Version == PlainVersion }

func (h *Header) clone() Header {
	c := *h
	c.WrappedDEK = append([]byte(nil), h.WrappedDEK...)
	c.Tag = append([]byte(nil), h.Tag...)
	return c
}
