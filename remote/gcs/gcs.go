// Package gcs is the Google Cloud Storage driver, on
// cloud.google.com/go/storage over the JSON API.
//
// URLs look like gs://BUCKET/PREFIX[?endpoint=http://127.0.0.1:PORT]. With
// endpoint= (or the SDK's standard STORAGE_EMULATOR_HOST) the driver talks
// to an emulator without authentication; otherwise it uses the credentials
// given to Open or application default credentials.
//
// Versions are GCS generations in decimal. Writes are create-only
// (ifGenerationMatch=0) or conditional on a generation, and carry the
// caller's CRC32C (and MD5, when given) so that GCS rejects a corrupted
// upload.
package gcs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/sealfs/sealfs/remote/driver"
)

// Scheme is the URL scheme this driver registers.
const Scheme = "gs"

func init() { driver.Register(Scheme, Open) }

// SDK retries are kept short: the portable layer in package remote retries
// with its own backoff and without limit, so the SDK only smooths over blips.
const (
	sdkMaxAttempts      = 3
	sdkMaxRetryDuration = 20 * time.Second
	// chunkRetryDeadline bounds the SDK's retries of one chunk of a
	// resumable upload (objects above singleShotMax).
	chunkRetryDeadline = 30 * time.Second
)

// bucket implements driver.Bucket for one GCS bucket.
type bucket struct {
	client *storage.Client
	h      *storage.BucketHandle
}

var _ driver.Bucket = (*bucket)(nil)

// Open connects to the bucket u names and checks that it exists.
func Open(ctx context.Context, u *url.URL, opts driver.OpenOptions) (driver.Bucket, error) {
	if u.Host == "" {
		return nil, driver.Errorf(driver.Permanent, fmt.Errorf("gcs: no bucket in URL %q", u.Redacted()))
	}
	copts, err := clientOptions(u.Query().Get("endpoint"), opts.Credentials)
	if err != nil {
		return nil, driver.Errorf(driver.Permanent, err)
	}
	client, err := storage.NewClient(ctx, copts...)
	if err != nil {
		return nil, driver.Errorf(driver.Permanent, fmt.Errorf("gcs: new client: %w", err))
	}
	client.SetRetry(
		storage.WithPolicy(storage.RetryIdempotent),
		storage.WithMaxAttempts(sdkMaxAttempts),
		storage.WithMaxRetryDuration(sdkMaxRetryDuration),
		storage.WithBackoff(gax.Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2}),
	)
	b := &bucket{client: client, h: client.Bucket(u.Host)}
	if err := b.checkExists(ctx); err != nil {
		client.Close()
		return nil, err
	}
	return b, nil
}

// clientOptions chooses the endpoint and the credentials.
func clientOptions(endpoint string, creds []byte) ([]option.ClientOption, error) {
	if endpoint != "" {
		e, err := url.Parse(endpoint)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return nil, fmt.Errorf("gcs: endpoint %q: want http(s)://HOST[:PORT]", endpoint)
		}
		return []option.ClientOption{
			option.WithEndpoint(strings.TrimSuffix(endpoint, "/") + "/storage/v1/"),
			option.WithoutAuthentication(),
		}, nil
	}
	// The SDK itself points at STORAGE_EMULATOR_HOST without authentication.
	if creds == nil || os.Getenv("STORAGE_EMULATOR_HOST") != "" {
		return nil, nil
	}
	typ, err := credentialsType(creds)
	if err != nil {
		return nil, err
	}
	return []option.ClientOption{option.WithAuthCredentialsJSON(typ, creds)}, nil
}

// credentialsType reads the "type" field of a credentials JSON file and
// accepts only the kinds a user would hand to sealfs.
func credentialsType(creds []byte) (option.CredentialsType, error) {
	var f struct {
		Type string `json:"type"`
	}
	// Never quote creds in an error: it holds a private key.
	if err := json.Unmarshal(creds, &f); err != nil {
		return "", errors.New("gcs: credentials are not a JSON credentials file")
	}
	switch t := option.CredentialsType(f.Type); t {
	case option.ServiceAccount, option.AuthorizedUser, option.ExternalAccount, option.ImpersonatedServiceAccount:
		return t, nil
	}
	return "", fmt.Errorf("gcs: unsupported credentials type %q", f.Type)
}

// checkExists fails with NotFound when the bucket does not exist. Accounts
// with object roles only may not read bucket metadata (403); for those,
// listing one object answers the same question.
func (b *bucket) checkExists(ctx context.Context) error {
	_, err := b.h.Attrs(ctx)
	if code := driver.CodeOf(classify(ctx, err)); code == driver.Permanent {
		_, err = b.h.Objects(ctx, &storage.Query{}).Next()
		if errors.Is(err, iterator.Done) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("gcs: bucket %q: %w", b.h.BucketName(), classify(ctx, err))
	}
	return nil
}

// Close releases the client's connections.
func (b *bucket) Close() error { return b.client.Close() }
