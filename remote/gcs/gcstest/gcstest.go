// Package gcstest runs fake-gcs-server as a child process on 127.0.0.1 (see
// internal/emulator/gcsemu), for tests that talk to the GCS driver through
// its URL. Test packages that use it wrap their tests in emulator.RunTests.
//
// The fake keeps its objects in memory for the life of the test; Stop closes
// the port and every open connection (clients see connection refused or
// reset, as in an outage) and Restart listens again on the same port, so the
// objects and any resumable upload sessions survive, as they would on GCS.
package gcstest

import (
	"fmt"
	"testing"

	"github.com/sealfs/sealfs/internal/emulator"
)

// Server is a running fake-gcs-server.
type Server struct {
	proc *emulator.Process
}

// NewServer starts a fake-gcs-server, killed when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	return &Server{proc: emulator.Start(t, emulator.GCS)}
}

// Listen starts a fake-gcs-server for programs that are not tests (the
// benchmarks); Close stops it, and emulator.Cleanup removes the program.
func Listen() (*Server, error) {
	p, err := emulator.Launch(emulator.GCS)
	if err != nil {
		return nil, err
	}
	return &Server{proc: p}, nil
}

// Close stops the server for good.
func (s *Server) Close() { s.proc.Close() }

// Endpoint is the server's base URL, for the driver's endpoint= parameter.
func (s *Server) Endpoint() string { return s.proc.Endpoint() }

// URL returns gs://bucket/prefix?endpoint=... for this server.
func (s *Server) URL(bucket, prefix string) string {
	return fmt.Sprintf("gs://%s/%s?endpoint=%s", bucket, prefix, s.Endpoint())
}

// CreateBucket creates an empty bucket.
func (s *Server) CreateBucket(name string) error { return s.proc.CreateBucket(name) }

// Stop takes the server down as in an outage; objects and upload sessions
// survive until Restart. Stopping a stopped server does nothing.
func (s *Server) Stop() error { return s.proc.Stop() }

// Restart listens again on the same port with the same objects. Restarting
// a running server does nothing.
func (s *Server) Restart() error { return s.proc.Restart() }

// Bucket and Prefix are what the URL from Start names.
const (
	Bucket = "sealfs-test"
	Prefix = "backup"
)

// Start runs a fake-gcs-server with one empty bucket and returns its
// gs://bucket/prefix?endpoint=... URL, a stop function (an outage: the port
// refuses connections) and a restart function that brings it back on the
// same port with the same objects. The server is removed when t ends.
func Start(t *testing.T) (url string, stop func(), restart func()) {
	t.Helper()
	s := NewServer(t)
	s.MustCreateBucket(t, Bucket)
	stop = func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	}
	restart = func() {
		if err := s.Restart(); err != nil {
			t.Error(err)
		}
	}
	return s.URL(Bucket, Prefix), stop, restart
}

// MustCreateBucket creates an empty bucket or fails t.
func (s *Server) MustCreateBucket(t testing.TB, name string) {
	t.Helper()
	if err := s.CreateBucket(name); err != nil {
		t.Fatalf("gcstest: %v", err)
	}
}
