package crypto

import "testing"

// TestCipherSizeBijection checks that every plaintext size maps to one
// ciphertext size and back, and that every other ciphertext size is refused.
func TestCipherSizeBijection(t *testing.T) {
	for _, tc := range []struct{ bs, hs int }{
		{16, HeaderSize}, {100, HeaderSize}, {DefaultBlockSize, HeaderSize}, {100, HeaderSizeV1},
	} {
		bs, hs := int64(tc.bs), int64(tc.hs)
		valid := map[int64]int64{}
		for size := int64(0); size <= 4*bs+3; size++ {
			c := plainSizeToCipherSize(size, bs, hs)
			got, err := cipherSizeToPlainSize(c, bs, hs)
			if err != nil || got != size {
				t.Fatalf("bs %d: size %d -> cipher %d -> %d, %v", bs, size, c, got, err)
			}
			valid[c] = size
		}
		for c := int64(0); c <= plainSizeToCipherSize(4*bs, bs, hs); c++ {
			size, err := cipherSizeToPlainSize(c, bs, hs)
			if want, ok := valid[c]; ok != (err == nil) || (ok && size != want) {
				t.Fatalf("bs %d: cipher size %d -> %d, %v; valid %v", bs, c, size, err, ok)
			}
		}
	}
}
