package crypto_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealfs/sealfs/crypto"
)

// validHeader is a well-formed version 2 header (its tag is not genuine:
// ParseHeader checks form only).
func validHeader(t testing.TB) crypto.Header {
	t.Helper()
	return crypto.Header{Version: crypto.Version, BlockSize: B, FileID: crypto.FileID{1, 2, 3},
		Tag: randBytes(11, crypto.HeaderTagSize)}
}

// validHeaderV1 is a well-formed version 1 header, DEK included.
func validHeaderV1(t testing.TB) crypto.Header {
	t.Helper()
	w := fixedWrapper(t)
	id := crypto.FileID{1, 2, 3}
	wrapped, err := w.NewDEK(id)
	if err != nil {
		t.Fatal(err)
	}
	return crypto.Header{Version: 1, BlockSize: B, FileID: id, KeyID: w.KeyID(), WrappedDEK: wrapped}
}

func TestHeaderRoundTrip(t *testing.T) {
	for _, h := range []crypto.Header{validHeader(t), validHeaderV1(t)} {
		b, err := h.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if want := map[uint16]int{1: crypto.HeaderSizeV1, 2: crypto.HeaderSize}[h.Version]; len(b) != want {
			t.Fatalf("version %d header is %d bytes, want %d", h.Version, len(b), want)
		}
		if string(b[:8]) != "SEALFSCT" {
			t.Fatalf("magic %q", b[:8])
		}
		h2, err := crypto.ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		if h2.Version != h.Version || h2.BlockSize != h.BlockSize || h2.FileID != h.FileID ||
			h2.KeyID != h.KeyID || !bytes.Equal(h2.WrappedDEK, h.WrappedDEK) || !bytes.Equal(h2.Tag, h.Tag) {
			t.Fatalf("round trip: %+v, want %+v", h2, h)
		}
	}
}

func TestHeaderInvalid(t *testing.T) {
	good, _ := (func() *crypto.Header { h := validHeader(t); return &h })().MarshalBinary()
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short magic", good[:5]},
		{"short", good[:crypto.HeaderSize-1]},
		{"long", append(bytes.Clone(good), 0)},
		{"version 0", patch(good, 8, 0, 0)},
		{"version 4", patch(good, 8, 0, 4)},
		{"version 1 at version 2's size", patch(good, 8, 0, 1)},
		{"block size 0", patch(good, 10, 0, 0, 0, 0)},
		{"block size 15", patch(good, 10, 0, 0, 0, 15)},
		{"block size 16 MiB + 1", patch(good, 10, 1, 0, 0, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := crypto.ParseHeader(tt.b); !errors.Is(err, crypto.ErrAuth) {
				t.Fatalf("ParseHeader: %v, want ErrAuth", err)
			}
		})
	}
	h := validHeaderV1(t)
	h.WrappedDEK = h.WrappedDEK[:10]
	if _, err := h.MarshalBinary(); err == nil {
		t.Fatal("marshalled a header with a short wrapped DEK")
	}
	h = validHeader(t)
	h.Tag = h.Tag[:10]
	if _, err := h.MarshalBinary(); err == nil {
		t.Fatal("marshalled a header with a short tag")
	}
}

func patch(b []byte, off int, v ...byte) []byte {
	b = bytes.Clone(b)
	copy(b[off:], v)
	return b
}
