package drivertest

import (
	"fmt"
	"testing"

	"github.com/sealfs/sealfs/remote/driver"
)

func testGetRange(t *testing.T, b driver.Bucket) {
	const key = "data/range"
	data := content(5, mib+7)
	mustPut(t, b, key, data)
	size := int64(len(data))

	type span struct{ off, length int64 }
	spans := []span{
		{0, -1}, {0, size}, {0, 1}, {10, 100}, {size - 10, 10},
		{size - 10, -1}, {size - 1, 1}, {size / 2, size / 4},
		// Past the end: the read is cut short at the end of the object.
		{size - 10, 100}, {0, size + 1000},
	}
	// Chunk edges of the sealfs block (64 KiB) and common SDK chunk sizes.
	for _, cs := range []int64{64 << 10, 256 << 10, mib} {
		for _, off := range []int64{cs - 1, cs, cs + 1} {
			spans = append(spans, span{off, 1}, span{off, 2}, span{off, cs}, span{off, -1})
		}
		spans = append(spans, span{0, cs - 1}, span{0, cs}, span{0, cs + 1}, span{cs - 500, 1000})
	}
	for _, s := range spans {
		t.Run(fmt.Sprintf("off=%d/len=%d", s.off, s.length), func(t *testing.T) {
			got, err := read(testContext(t), b, key, s.off, s.length)
			if err != nil {
				t.Fatalf("GetRange: %v", err)
			}
			end := size
			if s.length >= 0 && s.off+s.length < size {
				end = s.off + s.length
			}
			checkBytes(t, "range", got, data[s.off:end])
		})
	}

	// At or past the end there is nothing to return: an error or no bytes
	// are both fine, bytes are not.
	for _, s := range []span{{size, -1}, {size, 10}, {size + 100, 10}} {
		t.Run(fmt.Sprintf("off=%d/len=%d", s.off, s.length), func(t *testing.T) {
			got, err := read(testContext(t), b, key, s.off, s.length)
			if err == nil && len(got) != 0 {
				t.Fatalf("GetRange past the end returned %d bytes", len(got))
			}
		})
	}

	t.Run("empty-object", func(t *testing.T) {
		mustPut(t, b, "data/empty", nil)
		got, err := read(testContext(t), b, "data/empty", 0, -1)
		if err != nil {
			t.Fatalf("GetRange of an empty object: %v", err)
		}
		if len(got) != 0 {
			t.Fatalf("empty object read back %d bytes", len(got))
		}
	})
}

func testMissing(t *testing.T, b driver.Bucket) {
	ctx := testContext(t)
	const key = "data/missing"
	checkMissing(t, b, key)
	rc, err := b.GetRange(ctx, key, 0, -1)
	if rc != nil {
		rc.Close()
	}
	checkCode(t, "GetRange of a missing key", err, driver.NotFound)
	_, err = b.GetRange(ctx, key, 10, 5)
	checkCode(t, "ranged GetRange of a missing key", err, driver.NotFound)
	if err := b.Delete(ctx, key); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	// A key below a missing "directory" is just as missing.
	checkMissing(t, b, "no/such/dir/key")
}

func testDelete(t *testing.T, b driver.Bucket) {
	ctx := testContext(t)
	keep, gone := content(1, 500), content(2, 500)
	mustPut(t, b, "data/keep", keep)
	mustPut(t, b, "data/gone", gone)
	if err := b.Delete(ctx, "data/gone"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	checkMissing(t, b, "data/gone")
	_, err := b.GetRange(ctx, "data/gone", 0, -1)
	checkCode(t, "GetRange after Delete", err, driver.NotFound)
	if err := b.Delete(ctx, "data/gone"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	checkContent(t, b, "data/keep", keep)
	// A deleted key can be created again.
	again := content(3, 700)
	mustPut(t, b, "data/gone", again)
	checkContent(t, b, "data/gone", again)
}
