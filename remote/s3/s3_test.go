package s3_test

import (
	"bytes"
	"context"
	"hash/crc32"
	"net/url"
	"strings"
	"testing"

	"github.com/sealfs/sealfs/remote/driver"
	"github.com/sealfs/sealfs/remote/drivertest"
	"github.com/sealfs/sealfs/remote/s3"
	"github.com/sealfs/sealfs/remote/s3/s3test"
)

// open opens rawURL with the emulator's credentials, closed by t.Cleanup.
func open(t *testing.T, rawURL string) driver.Bucket {
	t.Helper()
	b, err := tryOpen(t.Context(), rawURL, []byte(s3test.Credentials))
	if err != nil {
		t.Fatalf("Open(%s): %v", rawURL, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func tryOpen(ctx context.Context, rawURL string, creds []byte) (driver.Bucket, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	return s3.Open(ctx, u, driver.OpenOptions{Credentials: creds})
}

func TestConformance(t *testing.T) {
	srv := s3test.NewServer(t)
	drivertest.Run(t, func(t *testing.T) driver.Bucket { return open(t, srv.NewBucket(t)) })
}

// put writes data create-only (ifVersion empty) or over ifVersion.
func put(t *testing.T, b driver.Bucket, key string, data []byte, ifVersion string) (driver.Attributes, error) {
	t.Helper()
	crc, sum := drivertest.Checksums(data)
	return b.Put(t.Context(), key, bytes.NewReader(data), int64(len(data)),
		driver.PutOptions{IfVersion: ifVersion, CRC32C: crc, MD5: sum})
}

// TestIdenticalRewriteKeepsETag pins an S3 property the lease relies on
// knowing: an ETag is the content's MD5, so rewriting identical bytes keeps
// the Version (the lease writes its new expiry on every renewal).
func TestIdenticalRewriteKeepsETag(t *testing.T) {
	b := open(t, s3test.NewServer(t).NewBucket(t))
	a1, err := put(t, b, "k", []byte("same"), "")
	if err != nil {
		t.Fatal(err)
	}
	a2, err := put(t, b, "k", []byte("same"), a1.Version)
	if err != nil {
		t.Fatal(err)
	}
	if a1.Version != a2.Version {
		t.Fatalf("ETag changed on an identical rewrite (%q, %q): drop knownGap", a1.Version, a2.Version)
	}
}

// TestStatCRC32C checks that an object is stored with its CRC32C and that
// Stat reports it. (Only single-part: gofakes3 does not store the
// full-object checksum of a multipart upload, real S3 does.)
func TestStatCRC32C(t *testing.T) {
	b := open(t, s3test.NewServer(t).NewBucket(t))
	data := bytes.Repeat([]byte("sealfs!"), 1<<20)
	if _, err := put(t, b, "big", data, ""); err != nil {
		t.Fatal(err)
	}
	a, err := b.Stat(t.Context(), "big")
	if err != nil {
		t.Fatal(err)
	}
	want := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
	if !a.HasCRC32C || a.CRC32C != want || a.Size != int64(len(data)) {
		t.Fatalf("Stat = %+v, want size %d and CRC32C %08x", a, len(data), want)
	}
}

func TestOpenErrors(t *testing.T) {
	srv := s3test.NewServer(t)
	creds := []byte(s3test.Credentials)
	cases := []struct {
		name, url string
		creds     []byte
		want      driver.Code
	}{
		{"missing bucket", srv.URL("no-such-bucket"), creds, driver.NotFound},
		{"no bucket name", "s3:///prefix", creds, driver.Permanent},
		{"bad endpoint", "s3://b/?endpoint=%3A%2F%2F", creds, driver.Permanent},
		{"bad credentials file", srv.URL("b"), []byte("[other]\naws_access_key_id = x\n"), driver.Permanent},
		{"nothing listening", "s3://b/?endpoint=http%3A%2F%2F127.0.0.1%3A1&region=us-east-1", creds, driver.Transient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tryOpen(t.Context(), tc.url, tc.creds)
			if c := driver.CodeOf(err); c != tc.want {
				t.Fatalf("Open = %v, %v (code %v), want code %v", b, err, c, tc.want)
			}
			if strings.Contains(err.Error(), "sealfs-test-secret") {
				t.Fatalf("error quotes the secret: %v", err)
			}
		})
	}
}

// TestStartEnvironment opens Start's URL through the SDK's standard chain,
// as a child sealfs process would.
func TestStartEnvironment(t *testing.T) {
	rawURL := s3test.Start(t)
	b, err := tryOpen(t.Context(), rawURL, nil)
	if err != nil {
		t.Fatalf("Open(%s) with the standard credential chain: %v", rawURL, err)
	}
	defer b.Close()
	if _, err := put(t, b, "data/x", []byte("hello"), ""); err != nil {
		t.Fatal(err)
	}
}

func TestRegistered(t *testing.T) {
	if _, ok := driver.Lookup(s3.Scheme); !ok {
		t.Fatalf("scheme %q is not registered", s3.Scheme)
	}
}
