// Package s3test starts an S3 emulator (gofakes3 behind a shim for the
// conditional-write and checksum features it lacks; see
// internal/emulator/s3emu) as a child process on 127.0.0.1, for tests of the
// s3 driver and of packages that upload to an s3:// remote. Test packages
// that use it wrap their tests in emulator.RunTests.
package s3test

import (
	"fmt"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/sealfs/sealfs/internal/emulator"
)

// Credentials is an AWS shared-credentials file the emulator accepts (it
// checks no signature); pass it as driver.OpenOptions.Credentials.
const Credentials = "[default]\naws_access_key_id = sealfs-test\naws_secret_access_key = sealfs-test-secret\n"

// Region is the region the URLs name.
const Region = "us-east-1"

// Server is a running emulator.
type Server struct {
	proc    *emulator.Process
	buckets atomic.Int64
}

// NewServer starts an emulator with no bucket, stopped by t.Cleanup.
func NewServer(t testing.TB) *Server {
	t.Helper()
	return &Server{proc: emulator.Start(t, emulator.S3)}
}

// Endpoint is the emulator's base URL, http://127.0.0.1:PORT.
func (s *Server) Endpoint() string { return s.proc.Endpoint() }

// NewBucket creates a fresh empty bucket and returns its s3:// URL (with no
// prefix).
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("sealfs-test-%d", s.buckets.Add(1))
	if err := s.proc.CreateBucket(name); err != nil {
		t.Fatalf("s3test: create bucket %s: %v", name, err)
	}
	return s.URL(name)
}

// URL is the s3:// URL of bucket on this emulator.
func (s *Server) URL(bucket string) string {
	q := url.Values{"endpoint": {s.Endpoint()}, "region": {Region}}
	return "s3://" + bucket + "/?" + q.Encode()
}

// Start starts an emulator with one bucket and returns its s3:// URL. It
// also points the AWS SDK's standard credential chain at Credentials for the
// rest of the test (t.Setenv: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, and
// no shared config files, no instance metadata), so code that opens the URL
// without explicit credentials, a child sealfs process included, works too.
// Because of t.Setenv, t must not be parallel.
func Start(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "sealfs-test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "sealfs-test-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "absent-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "absent-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return NewServer(t).NewBucket(t)
}
