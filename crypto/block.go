package crypto

import "errors"

// A block on disk is nonce(12) || body || tag(16) in both kinds of content:
// for encrypted content (version 1 and 2) body is the GCM ciphertext of the
// plaintext; for plain content (PlainVersion) body is the plaintext itself
// and the tag is GCM's over an empty plaintext with AAD = block AAD ||
// plaintext, that is a GMAC of both. Sizes and offsets are the same.

const (
	nonceSize = 12
	tagSize   = 16
)

var errShortBlock = errors.New("block shorter than its overhead")

// sealBlock appends block plain, sealed with aad, to dst. scratch is the
// caller's buffer for a plain block's MAC input.
func (f *File) sealBlock(dst, plain, aad []byte, scratch *[]byte) []byte {
	if !f.hdr.Plain() {
		return f.aead.Seal(dst, nil, plain, aad)
	}
	*scratch = append(append((*scratch)[:0], aad...), plain...)
	var nt [nonceSize + tagSize]byte
	f.aead.Seal(nt[:0], nil, nil, *scratch)
	dst = append(dst, nt[:nonceSize]...)
	dst = append(dst, plain...)
	return append(dst, nt[nonceSize:]...)
}

// openBlock authenticates block with aad and appends its plaintext to
// dst; nothing is appended for a block that fails.
func (f *File) openBlock(dst, block, aad []byte, scratch *[]byte) ([]byte, error) {
	if !f.hdr.Plain() {
		return f.aead.Open(dst, nil, block, aad)
	}
	if len(block) < nonceSize+tagSize {
		return dst, errShortBlock
	}
	plain := block[nonceSize : len(block)-tagSize]
	*scratch = append(append((*scratch)[:0], aad...), plain...)
	var nt [nonceSize + tagSize]byte
	copy(nt[:nonceSize], block[:nonceSize])
	copy(nt[nonceSize:], block[len(block)-tagSize:])
	if _, err := f.aead.Open(nil, nil, nt[:], *scratch); err != nil {
		return dst, err
	}
	return append(dst, plain...), nil
}
