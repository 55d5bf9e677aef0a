package file_test

import (
	"context"
	"hash/crc32"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote/driver"
	"github.com/sealfs/sealfs/remote/drivertest"
	"github.com/sealfs/sealfs/remote/file"
)

func open(t *testing.T, dir string) driver.Bucket {
	t.Helper()
	b, err := file.Open(context.Background(), &url.URL{Scheme: "file", Path: dir}, driver.OpenOptions{})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) driver.Bucket { return open(t, t.TempDir()) })
}

func TestRegistered(t *testing.T) {
	if _, ok := driver.Lookup("file"); !ok {
		t.Fatal(`scheme "file" not registered`)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "f")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		u    url.URL
		want driver.Code
	}{
		{"missing folder", url.URL{Scheme: "file", Path: filepath.Join(dir, "nope")}, driver.NotFound},
		{"a file", url.URL{Scheme: "file", Path: notDir}, driver.Permanent},
		{"remote host", url.URL{Scheme: "file", Host: "server", Path: dir}, driver.Permanent},
		{"relative", url.URL{Scheme: "file", Path: "rel/dir"}, driver.Permanent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := file.Open(context.Background(), &tc.u, driver.OpenOptions{})
			if got := driver.CodeOf(err); got != tc.want {
				t.Fatalf("Open: err = %v (code %v), want code %v", err, got, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "nope")); !os.IsNotExist(err) {
		t.Fatalf("Open created the missing folder")
	}
}

func TestBadKeys(t *testing.T) {
	dir := t.TempDir()
	b := open(t, dir)
	ctx := context.Background()
	for _, key := range []string{"", "/abs", "a//b", "a/../../etc/passwd", "..", "./a", "a/.", "data/.tmp-x", ".tmp-1/a", "a\x00b"} {
		if _, err := b.Stat(ctx, key); driver.CodeOf(err) != driver.Permanent {
			t.Errorf("Stat(%q): err = %v, want Permanent", key, err)
		}
		crc, sum := drivertest.Checksums(nil)
		if _, err := b.Put(ctx, key, nil, 0, driver.PutOptions{CRC32C: crc, MD5: sum}); driver.CodeOf(err) != driver.Permanent {
			t.Errorf("Put(%q): err = %v, want Permanent", key, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("bad keys left %d entries in the folder", len(entries))
	}
}

// TestNoLeftovers: failed writes leave no temporary files, successful ones
// leave exactly the object.
func TestNoLeftovers(t *testing.T) {
	dir := t.TempDir()
	b := open(t, dir)
	ctx := context.Background()
	data := []byte("hello")
	crc, sum := drivertest.Checksums(data)
	put := func(key string, opts driver.PutOptions) error {
		_, err := b.Put(ctx, key, bytesReader(data), int64(len(data)), opts)
		return err
	}
	if err := put("d/obj", driver.PutOptions{CRC32C: crc, MD5: sum}); err != nil {
		t.Fatal(err)
	}
	if err := put("d/obj", driver.PutOptions{CRC32C: crc}); driver.CodeOf(err) != driver.AlreadyExists {
		t.Fatalf("second Put: %v", err)
	}
	if err := put("d/bad", driver.PutOptions{CRC32C: crc ^ 1}); driver.CodeOf(err) != driver.Permanent {
		t.Fatalf("Put with a wrong CRC32C: %v, want Permanent", err)
	}
	badSum := append([]byte{sum[0] ^ 1}, sum[1:]...)
	if err := put("d/bad", driver.PutOptions{CRC32C: crc, MD5: badSum}); driver.CodeOf(err) != driver.Permanent {
		t.Fatalf("Put with a wrong MD5: %v, want Permanent", err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "d"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "obj" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("folder holds %q, want just obj", names)
	}
}

// TestVanishedFolderIsAnOutage: a bucket folder that goes away (an
// unplugged disk, a lost mount) makes every call Transient, retried like a
// network outage, and the bucket works again once it is back.
func TestVanishedFolderIsAnOutage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bucket")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	b := open(t, dir)
	ctx := context.Background()
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	_, putErr := b.Put(ctx, "data/x", strings.NewReader("x"), 1, driver.PutOptions{CRC32C: crc32.Checksum([]byte("x"), crc32.MakeTable(crc32.Castagnoli))})
	_, statErr := b.Stat(ctx, "data/x")
	listErr := b.List(ctx, "data/", func(driver.Attributes) error { return nil })
	for name, err := range map[string]error{"put": putErr, "stat": statErr, "list": listErr} {
		if driver.CodeOf(err) != driver.Transient {
			t.Errorf("%s with the folder gone: %v (code %v), want Transient", name, err, driver.CodeOf(err))
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("a call recreated the vanished folder: %v", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "data/x", strings.NewReader("x"), 1, driver.PutOptions{CRC32C: crc32.Checksum([]byte("x"), crc32.MakeTable(crc32.Castagnoli))}); err != nil {
		t.Fatalf("put once the folder is back: %v", err)
	}
}

// TestCleanTemp: temporary files a killed writer left are removed once
// old; a young one (a Put in progress) is kept.
func TestCleanTemp(t *testing.T) {
	dir := t.TempDir()
	b := open(t, dir)
	os.MkdirAll(filepath.Join(dir, "data"), 0o700)
	old, young := filepath.Join(dir, "data", ".tmp-123"), filepath.Join(dir, ".tmp-456")
	os.WriteFile(old, []byte("half an object"), 0o600)
	os.WriteFile(young, []byte("being written"), 0o600)
	past := time.Now().Add(-2 * time.Hour)
	os.Chtimes(old, past, past)
	n, err := b.(interface {
		CleanTemp(context.Context, time.Duration) (int, error)
	}).CleanTemp(context.Background(), time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("CleanTemp = %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Error("old temporary file kept")
	}
	if _, err := os.Stat(young); err != nil {
		t.Error("young temporary file removed")
	}
}
