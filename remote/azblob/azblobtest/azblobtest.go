// Package azblobtest runs Azurite's blob service as a child process on
// 127.0.0.1 (see internal/emulator), for tests of the azblob driver and of
// packages that upload to an azblob:// remote. Azurite comes from npm (scripts/test.sh installs it:
// npm install -g azurite@3.35.0); without it the tests fail, never skip.
package azblobtest

import (
	"context"
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/sealfs/sealfs/internal/emulator"
)

// Azurite's well-known development account, published in its documentation;
// it guards nothing but a throwaway emulator on 127.0.0.1.
const (
	Account    = "devstoreaccount1"
	AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// setupTimeout bounds creating a container.
const setupTimeout = 30 * time.Second

// Server is a running Azurite blob service.
type Server struct {
	endpoint   string // http://127.0.0.1:PORT/devstoreaccount1
	containers atomic.Int64
}

// NewServer starts Azurite, killed by t.Cleanup. It fails t when
// azurite-blob is not installed.
func NewServer(t testing.TB) *Server {
	t.Helper()
	port := emulator.StartAzurite(t)
	return &Server{endpoint: fmt.Sprintf("http://127.0.0.1:%d/%s", port, Account)}
}

// Endpoint is the blob service URL, account included.
func (s *Server) Endpoint() string { return s.endpoint }

// ConnectionString is the connection string for the development account
// on this server; pass it as driver.OpenOptions.Credentials.
func (s *Server) ConnectionString() string {
	return "DefaultEndpointsProtocol=http;AccountName=" + Account + ";AccountKey=" + AccountKey +
		";BlobEndpoint=" + s.endpoint + ";"
}

// URL is the azblob:// URL of containerName on this server.
func (s *Server) URL(containerName string) string {
	return "azblob://" + containerName + "/?" + url.Values{"endpoint": {s.endpoint}}.Encode()
}

// NewContainer creates a fresh empty container and returns its azblob://
// URL (with no prefix).
func (s *Server) NewContainer(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("sealfs-test-%d", s.containers.Add(1))
	client, err := container.NewClientFromConnectionString(s.ConnectionString(), name, nil)
	if err != nil {
		t.Fatalf("azblobtest: container client: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), setupTimeout)
	defer cancel()
	if _, err := client.Create(ctx, nil); err != nil {
		t.Fatalf("azblobtest: create container %s: %v", name, err)
	}
	return s.URL(name)
}

// Start starts Azurite with one empty container and returns its azblob://
// URL and the connection string to open it with.
func Start(t testing.TB) (url string, connectionString string) {
	t.Helper()
	s := NewServer(t)
	return s.NewContainer(t), s.ConnectionString()
}
