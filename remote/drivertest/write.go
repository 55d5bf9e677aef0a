package drivertest

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/sealfs/sealfs/remote/driver"
)

const mib = 1 << 20

// putSizes cover the empty object, one byte, a size just past a power of two
// and one large enough for multipart/chunked upload paths in every SDK.
var putSizes = []int{0, 1, mib + 7, 20*mib + 3}

func testPutStat(t *testing.T, b driver.Bucket) {
	for i, n := range putSizes {
		t.Run(fmt.Sprintf("size=%d", n), func(t *testing.T) {
			key := fmt.Sprintf("data/put-%d", n)
			data := content(uint64(i), n)
			pa := mustPut(t, b, key, data)
			sa, err := b.Stat(testContext(t), key)
			if err != nil {
				t.Fatalf("Stat(%q): %v", key, err)
			}
			checkAttrs(t, "Stat", sa, key, data)
			if sa.Version != pa.Version {
				t.Errorf("Stat Version %q != Put Version %q", sa.Version, pa.Version)
			}
			checkContent(t, b, key, data)
		})
	}
}

// onlyReader hides every method but Read, so a driver that needs Seek or
// ReaderAt must say so by failing here rather than in production.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func testPutPlainReader(t *testing.T, b driver.Bucket) {
	const key = "data/plain-reader"
	data := content(10, mib+7)
	crc, sum := Checksums(data)
	a, err := b.Put(testContext(t), key, onlyReader{bytes.NewReader(data)}, int64(len(data)), driver.PutOptions{CRC32C: crc, MD5: sum})
	if err != nil {
		t.Fatalf("Put with a plain io.Reader: %v", err)
	}
	checkAttrs(t, "Put", a, key, data)
	checkContent(t, b, key, data)
}

func testPutExisting(t *testing.T, b driver.Bucket) {
	const key = "data/existing"
	first := content(1, 1000)
	mustPut(t, b, key, first)
	_, err := put(testContext(t), b, key, content(2, 1000), "")
	checkCode(t, "create-only Put over an existing object", err, driver.AlreadyExists)
	// Same content again is still a conflict at the driver level; the
	// portable layer decides whether that counts as success.
	_, err = put(testContext(t), b, key, first, "")
	checkCode(t, "create-only Put of identical content", err, driver.AlreadyExists)
	checkContent(t, b, key, first)
}

// testPutShortReader: the reader ends before size. The upload must fail and
// leave nothing, or a create-only key would be poisoned for every retry.
func testPutShortReader(t *testing.T, b driver.Bucket) {
	const key = "data/short"
	data := content(3, 4096)
	crc, sum := Checksums(data)
	_, err := b.Put(testContext(t), key, bytes.NewReader(data[:1000]), int64(len(data)), driver.PutOptions{CRC32C: crc, MD5: sum})
	if err == nil {
		t.Fatalf("Put with a reader shorter than size succeeded")
	}
	checkMissing(t, b, key)
}

func testIfVersion(t *testing.T, b driver.Bucket) {
	const key = "lease"
	v1, v2, v3 := content(1, 300), content(2, 301), content(3, 302)
	a1 := mustPut(t, b, key, v1)

	a2, err := put(testContext(t), b, key, v2, a1.Version)
	if err != nil {
		t.Fatalf("Put IfVersion=current: %v", err)
	}
	checkAttrs(t, "Put IfVersion", a2, key, v2)
	if a2.Version == a1.Version {
		t.Errorf("Version did not change on replace: %q", a2.Version)
	}
	checkContent(t, b, key, v2)

	_, err = put(testContext(t), b, key, v3, a1.Version)
	checkCode(t, "Put IfVersion=stale", err, driver.AlreadyExists)
	checkContent(t, b, key, v2)

	// Replacing with identical bytes must succeed; whether the Version
	// changes is the backend's business (an S3 ETag is the content's MD5),
	// so the lease writes different bytes (its expiry) on every renewal.
	if _, err := put(testContext(t), b, key, v2, a2.Version); err != nil {
		t.Fatalf("Put IfVersion with identical content: %v", err)
	}

	_, err = put(testContext(t), b, "no-lease", v3, a1.Version)
	if c := driver.CodeOf(err); c != driver.AlreadyExists && c != driver.NotFound {
		t.Fatalf("Put IfVersion on a missing key: err = %v (code %v), want AlreadyExists or NotFound", err, c)
	}
	checkMissing(t, b, "no-lease")
}

func testConcurrentCreate(t *testing.T, b driver.Bucket) {
	const key, writers = "data/race", 8
	ctx := testContext(t)
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = put(ctx, b, key, content(uint64(100+i), 64<<10), "")
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both created %q", winner, i, key)
		case err == nil:
			winner = i
		default:
			checkCode(t, fmt.Sprintf("losing writer %d", i), err, driver.AlreadyExists)
		}
	}
	if winner < 0 {
		t.Fatalf("no writer succeeded")
	}
	checkContent(t, b, key, content(uint64(100+winner), 64<<10))
}

// testWrongChecksum: drivers must hand the checksums to the server (or, for
// the folder driver, check them) so a corrupted upload fails and leaves no
// object. Both wrong must fail on every backend; one wrong fails wherever
// the backend verifies that one, and otherwise must store correct bytes.
func testWrongChecksum(t *testing.T, b driver.Bucket) {
	for _, n := range []int{1000, 20*mib + 3} {
		data := content(7, n)
		crc, sum := Checksums(data)
		badSum := bytes.Clone(sum)
		badSum[0] ^= 1
		cases := []struct {
			name     string
			opts     driver.PutOptions
			mustFail bool
		}{
			{"both", driver.PutOptions{CRC32C: crc ^ 1, MD5: badSum}, true},
			{"crc32c", driver.PutOptions{CRC32C: crc ^ 1, MD5: sum}, false},
			{"crc32c-no-md5", driver.PutOptions{CRC32C: crc ^ 1}, false},
			{"md5", driver.PutOptions{CRC32C: crc, MD5: badSum}, false},
		}
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/size=%d", tc.name, n), func(t *testing.T) {
				if n > mib && !tc.mustFail && testing.Short() {
					t.Skip("large optional case in -short mode")
				}
				key := fmt.Sprintf("data/badsum-%s-%d", tc.name, n)
				r := io.NewSectionReader(bytes.NewReader(data), 0, int64(n))
				_, err := b.Put(testContext(t), key, r, int64(n), tc.opts)
				switch {
				case err != nil:
					checkMissing(t, b, key)
				case tc.mustFail:
					t.Fatalf("Put with wrong CRC32C and MD5 succeeded")
				default:
					t.Logf("backend does not verify %s; stored bytes must still be right", tc.name)
					checkContent(t, b, key, data)
				}
			})
		}
	}
}

// oddKeys need escaping in URLs, signatures or paths.
var oddKeys = []string{
	"data/ab cd",
	"data/ünïcødé-ファイル",
	"data/a+b=c&d?e#f%20g",
	"data/semi;colon,comma'quote\"",
	"data/tilde~star*paren(1)",
	"data/trailing-space ",
	"meta/2026-01-02T03:04:05Z",
}

func testOddKeys(t *testing.T, b driver.Bucket) {
	for i, key := range oddKeys {
		data := content(uint64(200+i), 100+i)
		mustPut(t, b, key, data)
		a, err := b.Stat(testContext(t), key)
		if err != nil {
			t.Fatalf("Stat(%q): %v", key, err)
		}
		checkAttrs(t, "Stat", a, key, data)
		checkContent(t, b, key, data)
	}
	var listed []string
	err := b.List(testContext(t), "", func(a driver.Attributes) error {
		listed = append(listed, a.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	want := sortedCopy(oddKeys)
	if !equalStrings(listed, want) {
		t.Fatalf("List = %q, want %q", listed, want)
	}
	for _, key := range oddKeys {
		if err := b.Delete(testContext(t), key); err != nil {
			t.Fatalf("Delete(%q): %v", key, err)
		}
		checkMissing(t, b, key)
	}
}
