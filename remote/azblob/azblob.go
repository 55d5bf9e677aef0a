// Package azblob is the sealfs bucket driver for Azure Blob Storage, on
// github.com/Azure/azure-sdk-for-go/sdk/storage/azblob. It registers the
// scheme "azblob":
//
//	azblob://CONTAINER/PREFIX?endpoint=http://127.0.0.1:10000/devstoreaccount1
//
// endpoint= is the blob service URL (account included, as Azurite wants it);
// without it the connection string's BlobEndpoint or the account's public
// endpoint is used. Objects are block blobs; writes are create-only
// (If-None-Match: *) or conditional on the ETag (If-Match), and each request
// body carries an MD5 the service verifies.
package azblob

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/sealfs/sealfs/remote/driver"
)

// Scheme is the URL scheme this driver registers.
const Scheme = "azblob"

func init() { driver.Register(Scheme, Open) }

// bucket implements driver.Bucket over one container.
type bucket struct {
	client *container.Client
}

var _ driver.Bucket = (*bucket)(nil)

// Open connects to the container u names (u.Host) and checks that it exists
// (NotFound otherwise). Credentials, in order: opts.Credentials (a
// connection string), the environment's AZURE_STORAGE_CONNECTION_STRING,
// then AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY. The query's endpoint=
// overrides the blob endpoint a connection string names.
func Open(ctx context.Context, u *url.URL, opts driver.OpenOptions) (driver.Bucket, error) {
	if u.Host == "" {
		return nil, driver.Errorf(driver.Permanent, errors.New("azblob: URL has no container name"))
	}
	endpoint := u.Query().Get("endpoint")
	if endpoint != "" {
		if e, err := url.Parse(endpoint); err != nil || e.Scheme == "" || e.Host == "" {
			return nil, driver.Errorf(driver.Permanent, fmt.Errorf("azblob: bad endpoint %q", endpoint))
		}
	}
	client, err := newContainerClient(u.Host, endpoint, opts.Credentials)
	if err != nil {
		return nil, driver.Errorf(driver.Permanent, err)
	}
	if _, err := client.GetProperties(ctx, nil); err != nil {
		return nil, classify(fmt.Errorf("azblob: container %q: %w", u.Host, err))
	}
	return &bucket{client: client}, nil
}

// Close releases nothing: the SDK client holds only pooled connections.
func (b *bucket) Close() error { return nil }
