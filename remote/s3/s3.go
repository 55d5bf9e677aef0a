// Package s3 is the sealfs bucket driver for Amazon S3 and S3-compatible
// servers, on github.com/aws/aws-sdk-go-v2. It registers the scheme "s3":
//
//	s3://BUCKET/PREFIX?endpoint=http://127.0.0.1:9000&region=eu-west-1
//
// With endpoint= the client uses path-style addressing (BUCKET in the path),
// which is what S3-compatible servers and emulators expect. Writes are
// create-only (If-None-Match: *) or conditional on the ETag (If-Match), carry
// a CRC32C checksum and, when the caller has one, Content-MD5, so the server
// rejects a corrupted upload; objects above multipartThreshold go up in parts.
package s3

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aws/smithy-go/logging"

	"github.com/sealfs/sealfs/remote/driver"
)

// Scheme is the URL scheme this driver registers.
const Scheme = "s3"

// defaultRegion signs requests to a custom endpoint when neither the URL nor
// the AWS environment names a region; S3-compatible servers accept it.
const defaultRegion = "us-east-1"

func init() { driver.Register(Scheme, Open) }

// bucket implements driver.Bucket over one S3 bucket.
type bucket struct {
	client *awss3.Client
	name   string
}

var _ driver.Bucket = (*bucket)(nil)

// Open connects to the bucket u names (u.Host) and checks that it exists
// (NotFound otherwise). The query may set endpoint= (a custom server, path
// style) and region=. opts.Credentials, when non-nil, is the content of an AWS
// shared-credentials file whose [default] profile is used; otherwise the
// SDK's standard chain (environment, shared config and credentials files,
// instance roles) applies.
func Open(ctx context.Context, u *url.URL, opts driver.OpenOptions) (driver.Bucket, error) {
	if u.Host == "" {
		return nil, driver.Errorf(driver.Permanent, errors.New("s3: URL has no bucket name"))
	}
	q := u.Query()
	endpoint, region := q.Get("endpoint"), q.Get("region")
	if endpoint != "" {
		if e, err := url.Parse(endpoint); err != nil || e.Scheme == "" || e.Host == "" {
			return nil, driver.Errorf(driver.Permanent, fmt.Errorf("s3: bad endpoint %q", endpoint))
		}
	}
	cfg, err := loadConfig(ctx, region, opts.Credentials)
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" && endpoint != "" {
		cfg.Region = defaultRegion
	}
	client := awss3.NewFromConfig(cfg, func(o *awss3.Options) {
		// A library never logs (STYLE.md); ranged reads legitimately
		// come back without a checksum to validate.
		o.Logger = logging.Nop{}
		o.DisableLogOutputChecksumValidationSkipped = true
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
		}
	})
	b := &bucket{client: client, name: u.Host}
	if _, err := client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(b.name)}); err != nil {
		return nil, classify(fmt.Errorf("s3: bucket %q: %w", b.name, err))
	}
	return b, nil
}

// loadConfig builds the SDK configuration: the standard discovery, with the
// region from the URL and static credentials from a credentials file when
// given.
func loadConfig(ctx context.Context, region string, creds []byte) (aws.Config, error) {
	var loadOpts []func(*config.LoadOptions) error
	if region != "" {
		loadOpts = append(loadOpts, config.WithRegion(region))
	}
	if creds != nil {
		provider, err := credentialsFromFile(creds)
		if err != nil {
			return aws.Config{}, driver.Errorf(driver.Permanent, err)
		}
		loadOpts = append(loadOpts, config.WithCredentialsProvider(provider))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return aws.Config{}, driver.Errorf(driver.Permanent, fmt.Errorf("s3: load AWS configuration: %w", err))
	}
	return cfg, nil
}

// Close releases nothing: the SDK client holds only pooled connections.
func (b *bucket) Close() error { return nil }
