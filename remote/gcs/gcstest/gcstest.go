// Package gcstest runs fake-gcs-server in-process on a real 127.0.0.1
// listener, for tests that talk to the GCS driver through its URL.
//
// The fake keeps its objects in memory for the life of the test; Stop closes
// the listener and every open connection (clients see connection refused or
// reset, as in an outage) and Restart listens again on the same port, so the
// objects and any resumable upload sessions survive, as they would on GCS.
package gcstest

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// Server is an in-process fake-gcs-server bound to 127.0.0.1:port.
type Server struct {
	fake *fakestorage.Server
	addr string // 127.0.0.1:port, fixed for the Server's life

	mu sync.Mutex
	hs *http.Server // nil while stopped
}

// NewServer starts a fake-gcs-server on a free port and stops it when the
// test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s, err := Listen()
	if err != nil {
		t.Fatalf("gcstest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Listen starts a fake-gcs-server on a free 127.0.0.1 port, for programs
// that are not tests (the benchmarks); Close stops it.
func Listen() (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	addr := l.Addr().String()
	// The fake serves downloads only for requests whose Host is its public
	// host, so it must be exactly the address clients dial.
	fake, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme:     "http",
		NoListener: true,
		PublicHost: addr,
	})
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("start fake-gcs-server: %w", err)
	}
	s := &Server{fake: fake, addr: addr}
	s.mu.Lock()
	s.serve(l)
	s.mu.Unlock()
	return s, nil
}

// Close stops the server for good.
func (s *Server) Close() {
	s.Stop()
	s.fake.Stop()
}

// Endpoint is the server's base URL, for the driver's endpoint= parameter.
func (s *Server) Endpoint() string { return "http://" + s.addr }

// URL returns gs://bucket/prefix?endpoint=... for this server.
func (s *Server) URL(bucket, prefix string) string {
	return fmt.Sprintf("gs://%s/%s?endpoint=%s", bucket, prefix, s.Endpoint())
}

// CreateBucket creates an empty bucket.
func (s *Server) CreateBucket(name string) { s.fake.CreateBucket(name) }

// Fake returns the underlying server, to inspect or plant objects directly.
func (s *Server) Fake() *fakestorage.Server { return s.fake }

// Stop closes the listener and drops every connection, including uploads
// in flight. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hs != nil {
		s.hs.Close()
		s.hs = nil
	}
}

// Restart listens again on the same port with the same objects. Restarting
// a running server does nothing.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hs != nil {
		return nil
	}
	var l net.Listener
	var err error
	// The port may linger briefly after Stop; retry for a moment.
	for deadline := time.Now().Add(5 * time.Second); ; {
		l, err = net.Listen("tcp", s.addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("gcstest: listen again on %s: %w", s.addr, err)
	}
	s.serve(l)
	return nil
}

// serve starts serving on l; the caller holds s.mu.
func (s *Server) serve(l net.Listener) {
	s.hs = &http.Server{Handler: s.fake.HTTPHandler(), ReadHeaderTimeout: 10 * time.Second}
	// Serve returns http.ErrServerClosed once Stop closes the server.
	go s.hs.Serve(l) //nolint:errcheck
}

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
	s.CreateBucket(Bucket)
	restart = func() {
		if err := s.Restart(); err != nil {
			t.Error(err)
		}
	}
	return s.URL(Bucket, Prefix), s.Stop, restart
}
