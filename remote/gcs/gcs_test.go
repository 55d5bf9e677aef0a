package gcs_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote/driver"
	"github.com/sealfs/sealfs/remote/drivertest"
	"github.com/sealfs/sealfs/remote/gcs"
	"github.com/sealfs/sealfs/remote/gcs/gcstest"
)

// open connects through the registered "gs" opener, as sealfs does.
func open(t *testing.T, rawURL string) (driver.Bucket, error) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	opener, ok := driver.Lookup(gcs.Scheme)
	if !ok {
		t.Fatal("gs driver not registered")
	}
	b, err := opener(t.Context(), u, driver.OpenOptions{})
	if err == nil {
		t.Cleanup(func() { b.Close() })
	}
	return b, err
}

func mustOpen(t *testing.T, rawURL string) driver.Bucket {
	t.Helper()
	b, err := open(t, rawURL)
	if err != nil {
		t.Fatalf("Open(%s): %v", rawURL, err)
	}
	return b
}

func TestConformance(t *testing.T) {
	srv := gcstest.NewServer(t)
	var n atomic.Int64
	drivertest.Run(t, func(t *testing.T) driver.Bucket {
		name := fmt.Sprintf("conformance-%d", n.Add(1))
		srv.MustCreateBucket(t, name)
		return mustOpen(t, srv.URL(name, "prefix"))
	})
}

func TestOpenMissingBucket(t *testing.T) {
	srv := gcstest.NewServer(t)
	_, err := open(t, srv.URL("no-such-bucket", "p"))
	if code := driver.CodeOf(err); code != driver.NotFound {
		t.Fatalf("Open of a missing bucket: err = %v (code %v), want NotFound", err, code)
	}
}

// TestEmulatorHostEnv: the SDK's standard STORAGE_EMULATOR_HOST works
// without endpoint= in the URL.
func TestEmulatorHostEnv(t *testing.T) {
	srv := gcstest.NewServer(t)
	srv.MustCreateBucket(t, "env")
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(srv.Endpoint(), "http://"))
	b := mustOpen(t, "gs://env/p")
	data := []byte("through STORAGE_EMULATOR_HOST")
	if _, err := put(t.Context(), b, "data/env", data); err != nil {
		t.Fatalf("Put: %v", err)
	}
	checkContent(t, b, "data/env", data)
}

func TestOpenBadURL(t *testing.T) {
	for _, raw := range []string{
		"gs:///prefix",
		"gs://bucket/p?endpoint=127.0.0.1:1",
		"gs://bucket/p?endpoint=ftp://127.0.0.1:1",
	} {
		_, err := open(t, raw)
		if code := driver.CodeOf(err); code != driver.Permanent {
			t.Errorf("Open(%s): err = %v (code %v), want Permanent", raw, err, code)
		}
	}
}

func TestOpenBadCredentials(t *testing.T) {
	u, _ := url.Parse("gs://bucket/p")
	for _, creds := range []string{`not json`, `{"type":"something_else"}`} {
		_, err := gcs.Open(t.Context(), u, driver.OpenOptions{Credentials: []byte(creds)})
		if code := driver.CodeOf(err); code != driver.Permanent {
			t.Errorf("Open with credentials %q: err = %v (code %v), want Permanent", creds, err, code)
		}
	}
}

func put(ctx context.Context, b driver.Bucket, key string, data []byte) (driver.Attributes, error) {
	crc, sum := drivertest.Checksums(data)
	return b.Put(ctx, key, bytes.NewReader(data), int64(len(data)), driver.PutOptions{CRC32C: crc, MD5: sum})
}

// TestOutage: with the emulator down every call is Transient; once it is
// back, the objects written before are still there and writes work again.
func TestOutage(t *testing.T) {
	rawURL, stop, restart := gcstest.Start(t)
	b := mustOpen(t, rawURL)
	ctx := t.Context()
	before := []byte("written before the outage")
	if _, err := put(ctx, b, "data/before", before); err != nil {
		t.Fatal(err)
	}

	stop()
	_, err := put(ctx, b, "data/during", []byte("x"))
	checkCode(t, "Put while stopped", err, driver.Transient)
	_, err = b.Stat(ctx, "data/before")
	checkCode(t, "Stat while stopped", err, driver.Transient)
	_, err = b.GetRange(ctx, "data/before", 0, -1)
	checkCode(t, "GetRange while stopped", err, driver.Transient)
	err = b.List(ctx, "", func(driver.Attributes) error { return nil })
	checkCode(t, "List while stopped", err, driver.Transient)

	restart()
	if _, err := put(ctx, b, "data/during", []byte("x")); err != nil {
		t.Fatalf("Put after restart: %v", err)
	}
	checkContent(t, b, "data/before", before)
}

// TestOutageMidUpload stops the emulator in the middle of a chunked upload
// and brings it back within the chunk retry deadline: the SDK resumes the
// session and the object is complete.
func TestOutageMidUpload(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the SDK's retry backoff")
	}
	rawURL, stop, restart := gcstest.Start(t)
	b := mustOpen(t, rawURL)
	data := bytes.Repeat([]byte("0123456789abcdef"), 40<<20/16) // 40 MiB: 3 chunks
	var once atomic.Bool
	r := &hookReader{r: bytes.NewReader(data), at: 20 << 20, hook: func() {
		if once.CompareAndSwap(false, true) {
			stop()
			time.AfterFunc(time.Second, restart)
		}
	}}
	crc, sum := drivertest.Checksums(data)
	a, err := b.Put(t.Context(), "data/big", r, int64(len(data)), driver.PutOptions{CRC32C: crc, MD5: sum})
	if err != nil {
		t.Fatalf("Put across an outage: %v", err)
	}
	if !once.Load() {
		t.Fatal("the emulator was never stopped")
	}
	if a.Size != int64(len(data)) || a.CRC32C != crc {
		t.Fatalf("Put attrs = %+v", a)
	}
	checkContent(t, b, "data/big", data)
}

// hookReader calls hook once the reader has passed offset at.
type hookReader struct {
	r    io.Reader
	n    int64
	at   int64
	hook func()
}

func (h *hookReader) Read(p []byte) (int, error) {
	if h.n >= h.at {
		h.hook()
	}
	n, err := h.r.Read(p)
	h.n += int64(n)
	return n, err
}

// TestPutBadSource: a source shorter than size, or whose bytes do not match
// the CRC32C, fails as Permanent (retrying reads the same bad source) and
// leaves no object.
func TestPutBadSource(t *testing.T) {
	srv := gcstest.NewServer(t)
	srv.MustCreateBucket(t, "source")
	b := mustOpen(t, srv.URL("source", "p"))
	for _, size := range []int{1000, 20<<20 + 3} {
		data := make([]byte, size)
		crc, _ := drivertest.Checksums(data)
		short := fmt.Sprintf("data/short-%d", size)
		_, err := b.Put(t.Context(), short, bytes.NewReader(data[:size-1]), int64(size), driver.PutOptions{CRC32C: crc})
		checkCode(t, "Put of a short source", err, driver.Permanent)
		wrong := fmt.Sprintf("data/wrong-%d", size)
		_, err = b.Put(t.Context(), wrong, bytes.NewReader(data), int64(size), driver.PutOptions{CRC32C: crc ^ 1})
		checkCode(t, "Put of a source that does not match its CRC32C", err, driver.Permanent)
		for _, key := range []string{short, wrong} {
			_, err = b.Stat(t.Context(), key)
			checkCode(t, "Stat after a failed Put", err, driver.NotFound)
		}
	}
}

func checkCode(t *testing.T, what string, err error, want driver.Code) {
	t.Helper()
	if got := driver.CodeOf(err); got != want {
		t.Fatalf("%s: err = %v (code %v), want %v", what, err, got, want)
	}
}

func checkContent(t *testing.T, b driver.Bucket, key string, want []byte) {
	t.Helper()
	rc, err := b.GetRange(t.Context(), key, 0, -1)
	if err != nil {
		t.Fatalf("GetRange(%q): %v", key, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%q: read %d bytes that differ from the %d written", key, len(got), len(want))
	}
}
