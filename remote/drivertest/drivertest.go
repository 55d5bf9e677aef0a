// Package drivertest is the conformance suite every driver.Bucket passes.
//
// A driver's test calls Run with a function that returns a fresh, empty
// bucket for each subtest (and registers its cleanup with t.Cleanup):
//
//	func TestConformance(t *testing.T) {
//		drivertest.Run(t, func(t *testing.T) driver.Bucket { ... })
//	}
//
// The suite asserts content and error codes, not just the absence of errors.
// What it expects beyond the comments in package driver:
//   - Put always receives the correct CRC32C of the content (the portable
//     layer always computes it, and 0 is a valid CRC32C, so drivers may treat
//     it as always present); MD5 is nil when not given.
//   - A failed Put leaves no object behind.
//   - GetRange of a missing key fails at the call, not at the first Read.
//   - IfVersion on a missing key fails with AlreadyExists or NotFound.
//   - Attributes.Version from Put, Stat and List agree for one object.
//   - Keys never name both an object and a "directory" of other objects
//     (no "a" beside "a/b"), so a folder-backed driver can pass.
package drivertest

import (
	"bytes"
	"context"
	"crypto/md5"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote/driver"
)

// Run runs every conformance test against buckets from newBucket. Subtest
// names are stable so drivers can skip one with -skip while they fix it.
func Run(t *testing.T, newBucket func(t *testing.T) driver.Bucket) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b driver.Bucket)
	}{
		{"PutStat", testPutStat},
		{"PutPlainReader", testPutPlainReader},
		{"PutExisting", testPutExisting},
		{"PutShortReader", testPutShortReader},
		{"IfVersion", testIfVersion},
		{"ConcurrentCreate", testConcurrentCreate},
		{"GetRange", testGetRange},
		{"Missing", testMissing},
		{"Delete", testDelete},
		{"List", testList},
		{"ListPaging", testListPaging},
		{"WrongChecksum", testWrongChecksum},
		{"OddKeys", testOddKeys},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newBucket(t)) })
	}
}

// Checksums returns the CRC32C (Castagnoli) and MD5 of b, as the portable
// layer passes them in driver.PutOptions.
func Checksums(b []byte) (crc32c uint32, md5sum []byte) {
	sum := md5.Sum(b)
	return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)), sum[:]
}

// testTimeout bounds each subtest so a hung emulator fails instead of
// blocking the whole run.
const testTimeout = 3 * time.Minute

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// content returns n deterministic pseudo-random bytes; different seeds give
// different content, so a test can tell which writer won.
func content(seed uint64, n int) []byte {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(s).Read(b)
	return b
}

// put writes data to key with correct checksums, through an
// *io.SectionReader as the portable layer does.
func put(ctx context.Context, b driver.Bucket, key string, data []byte, ifVersion string) (driver.Attributes, error) {
	crc, sum := Checksums(data)
	r := io.NewSectionReader(bytes.NewReader(data), 0, int64(len(data)))
	return b.Put(ctx, key, r, int64(len(data)), driver.PutOptions{IfVersion: ifVersion, CRC32C: crc, MD5: sum})
}

func mustPut(t *testing.T, b driver.Bucket, key string, data []byte) driver.Attributes {
	t.Helper()
	a, err := put(testContext(t), b, key, data, "")
	if err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, len(data), err)
	}
	checkAttrs(t, "Put", a, key, data)
	return a
}

// read returns the bytes GetRange(off, length) yields.
func read(ctx context.Context, b driver.Bucket, key string, off, length int64) ([]byte, error) {
	rc, err := b.GetRange(ctx, key, off, length)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// checkContent fails t unless key holds exactly want.
func checkContent(t *testing.T, b driver.Bucket, key string, want []byte) {
	t.Helper()
	got, err := read(testContext(t), b, key, 0, -1)
	if err != nil {
		t.Fatalf("GetRange(%q, 0, -1): %v", key, err)
	}
	checkBytes(t, "content of "+key, got, want)
}

// checkBytes compares without dumping megabytes into the log.
func checkBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Fatalf("%s: got %d bytes, want %d; first difference at offset %d", what, len(got), len(want), i)
}

// checkAttrs checks what every driver must report for an object holding data.
func checkAttrs(t *testing.T, op string, a driver.Attributes, key string, data []byte) {
	t.Helper()
	crc, sum := Checksums(data)
	if a.Key != key {
		t.Errorf("%s(%q): Key = %q", op, key, a.Key)
	}
	if a.Size != int64(len(data)) {
		t.Errorf("%s(%q): Size = %d, want %d", op, key, a.Size, len(data))
	}
	if a.Version == "" {
		t.Errorf("%s(%q): empty Version", op, key)
	}
	if a.HasCRC32C && a.CRC32C != crc {
		t.Errorf("%s(%q): CRC32C = %08x, want %08x", op, key, a.CRC32C, crc)
	}
	if a.MD5 != nil && !bytes.Equal(a.MD5, sum) {
		t.Errorf("%s(%q): MD5 = %x, want %x", op, key, a.MD5, sum)
	}
	// Emulators run on this host; a day's slack only catches unset or
	// garbage times, not clock skew.
	if d := time.Since(a.Modified); a.Modified.IsZero() || d > 24*time.Hour || d < -24*time.Hour {
		t.Errorf("%s(%q): Modified = %v, not around now", op, key, a.Modified)
	}
}

// checkMissing fails t unless Stat of key reports NotFound.
func checkMissing(t *testing.T, b driver.Bucket, key string) {
	t.Helper()
	a, err := b.Stat(testContext(t), key)
	if code := driver.CodeOf(err); code != driver.NotFound {
		t.Fatalf("Stat(%q) = %+v, %v (code %v); want NotFound", key, a, err, code)
	}
}

// checkCode fails t unless err carries want.
func checkCode(t *testing.T, what string, err error, want driver.Code) {
	t.Helper()
	if got := driver.CodeOf(err); got != want {
		t.Fatalf("%s: err = %v (code %v), want code %v", what, err, got, want)
	}
}
