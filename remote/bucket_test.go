package remote_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/driver"
	"github.com/sealfs/sealfs/remote/drivertest"
	_ "github.com/sealfs/sealfs/remote/file"
)

func open(t *testing.T, rawURL string) *remote.Bucket {
	t.Helper()
	b, err := remote.Open(context.Background(), rawURL, remote.Options{})
	if err != nil {
		t.Fatalf("Open(%s): %v", rawURL, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// openFault opens a fault bucket with tiny backoffs whose pauses are
// recorded instead of slept.
func openFault(t *testing.T, opts remote.Options) (*remote.Bucket, *faultBucket, *[]time.Duration) {
	t.Helper()
	fb, u := newFaultBucket(t)
	if opts.MinBackoff == 0 {
		opts.MinBackoff, opts.MaxBackoff = time.Millisecond, 10*time.Millisecond
	}
	b, err := remote.Open(context.Background(), u, opts)
	if err != nil {
		t.Fatal(err)
	}
	var sleeps []time.Duration
	remote.SetSleep(b, func(ctx context.Context, d time.Duration) error {
		sleeps = append(sleeps, d)
		return ctx.Err()
	})
	return b, fb, &sleeps
}

func putBytes(ctx context.Context, b *remote.Bucket, key string, data []byte) (driver.Attributes, error) {
	return b.Put(ctx, key, bytes.NewReader(data), int64(len(data)))
}

func readAll(t *testing.T, b *remote.Bucket, key string) []byte {
	t.Helper()
	rc, err := b.NewRangeReader(context.Background(), key, 0, -1)
	if err != nil {
		t.Fatalf("NewRangeReader(%q): %v", key, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return got
}

func TestFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	b := open(t, "file://"+dir)
	ctx := context.Background()
	data := []byte("sealed ciphertext, pretend")
	a, err := putBytes(ctx, b, "data/0f3a", data)
	if err != nil {
		t.Fatal(err)
	}
	if a.Key != "data/0f3a" || a.Size != int64(len(data)) || a.Version == "" {
		t.Fatalf("Put = %+v", a)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "data", "0f3a")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("object file = %q, %v", got, err)
	}
	if got := readAll(t, b, "data/0f3a"); !bytes.Equal(got, data) {
		t.Fatalf("read back %q", got)
	}
	p := make([]byte, 10)
	if n, err := b.ReadAt(ctx, "data/0f3a", p, 7); n != 10 || err != nil || string(p) != string(data[7:17]) {
		t.Fatalf("ReadAt = %d, %v, %q", n, err, p)
	}
	if n, err := b.ReadAt(ctx, "data/0f3a", p, int64(len(data))-4); n != 4 || err != io.EOF || string(p[:4]) != string(data[len(data)-4:]) {
		t.Fatalf("ReadAt at the end = %d, %v; want 4, io.EOF", n, err)
	}

	// Identical bytes again: idempotent. Other bytes: a conflict.
	if _, err := putBytes(ctx, b, "data/0f3a", data); err != nil {
		t.Fatalf("Put of identical content: %v", err)
	}
	_, err = putBytes(ctx, b, "data/0f3a", []byte("other bytes, other secret"))
	if !errors.Is(err, remote.ErrAlreadyExists) {
		t.Fatalf("Put of other content: %v, want ErrAlreadyExists", err)
	}
	if strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "put data/0f3a on file://"+dir+": already exists") {
		t.Fatalf("error %q: want op, key and URL, and no content", err)
	}
	if got := readAll(t, b, "data/0f3a"); !bytes.Equal(got, data) {
		t.Fatalf("conflicting Put changed the object to %q", got)
	}

	if err := b.Delete(ctx, "data/0f3a"); err != nil {
		t.Fatal(err)
	}
	_, err = b.Stat(ctx, "data/0f3a")
	if !errors.Is(err, remote.ErrNotFound) || !strings.Contains(err.Error(), "stat data/0f3a") {
		t.Fatalf("Stat after Delete: %v", err)
	}
	if _, err := b.NewRangeReader(ctx, "data/0f3a", 0, -1); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("NewRangeReader after Delete: %v", err)
	}
	if err := b.Delete(ctx, "data/0f3a"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
}

func TestPrefix(t *testing.T) {
	b, fb, _ := openFault(t, remote.Options{})
	ctx := context.Background()
	if b.Prefix() != "pre/fix" {
		t.Fatalf("Prefix() = %q", b.Prefix())
	}
	if _, err := putBytes(ctx, b, "data/1", []byte("one")); err != nil {
		t.Fatal(err)
	}
	// A sibling prefix that starts with the same letters is not ours.
	crc, sum := drivertest.Checksums([]byte("two"))
	if _, err := fb.Bucket.Put(ctx, "pre/fix2/data/2", bytes.NewReader([]byte("two")), 3, driver.PutOptions{CRC32C: crc, MD5: sum}); err != nil {
		t.Fatal(err)
	}
	if _, err := fb.Bucket.Stat(ctx, "pre/fix/data/1"); err != nil {
		t.Fatalf("object not under the prefix: %v", err)
	}
	a, err := b.Stat(ctx, "data/1")
	if err != nil || a.Key != "data/1" {
		t.Fatalf("Stat = %+v, %v; want Key relative to the prefix", a, err)
	}
	var keys []string
	err = b.List(ctx, "", func(a driver.Attributes) error {
		keys = append(keys, a.Key)
		return nil
	})
	if err != nil || len(keys) != 1 || keys[0] != "data/1" {
		t.Fatalf("List = %q, %v; want [data/1]", keys, err)
	}
}

func TestBadKeys(t *testing.T) {
	b, fb, _ := openFault(t, remote.Options{})
	ctx := context.Background()
	for _, key := range []string{"", "/abs", "a//b", "a/../b", "dir/", "\xff"} {
		if _, err := putBytes(ctx, b, key, []byte("x")); driver.CodeOf(err) != driver.Permanent {
			t.Errorf("Put(%q) = %v, want a Permanent error", key, err)
		}
		if _, err := b.Stat(ctx, key); driver.CodeOf(err) != driver.Permanent {
			t.Errorf("Stat(%q) = %v, want a Permanent error", key, err)
		}
	}
	if n := fb.count("put") + fb.count("stat"); n != 0 {
		t.Fatalf("bad keys reached the driver %d times", n)
	}
}
