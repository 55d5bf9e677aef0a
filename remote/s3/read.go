package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/aws/smithy-go"

	"github.com/sealfs/sealfs/remote/driver"
)

// GetRange reads length bytes of key at off (length < 0: to the end) with
// one ranged GetObject.
func (b *bucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if off < 0 {
		return nil, driver.Errorf(driver.Permanent, fmt.Errorf("s3: %s: negative offset %d", key, off))
	}
	if length == 0 {
		// HTTP cannot ask for zero bytes; still report a missing object.
		if _, err := b.Stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	in := &awss3.GetObjectInput{Bucket: aws.String(b.name), Key: aws.String(key)}
	switch {
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+length-1))
	case off > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	} // else the whole object: no Range, which also works for an empty one
	out, err := b.client.GetObject(ctx, in)
	if err == nil {
		return out.Body, nil
	}
	var statusErr interface{ HTTPStatusCode() int }
	if errors.As(err, &statusErr) && statusErr.HTTPStatusCode() == http.StatusRequestedRangeNotSatisfiable {
		// The range starts at or past the end: no bytes, if the object exists.
		if _, err := b.Stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	return nil, classify(err)
}

// Stat returns key's attributes from HeadObject, with its CRC32C when S3
// stored a full-object one.
func (b *bucket) Stat(ctx context.Context, key string) (driver.Attributes, error) {
	out, err := b.client.HeadObject(ctx, &awss3.HeadObjectInput{
		Bucket:       aws.String(b.name),
		Key:          aws.String(key),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return driver.Attributes{}, classify(err)
	}
	attrs := driver.Attributes{
		Key:      key,
		Size:     aws.ToInt64(out.ContentLength),
		Version:  aws.ToString(out.ETag),
		Modified: aws.ToTime(out.LastModified),
	}
	if out.ChecksumCRC32C != nil && out.ChecksumType != types.ChecksumTypeComposite {
		attrs.CRC32C, attrs.HasCRC32C = crc32cFromBase64(*out.ChecksumCRC32C)
	}
	return attrs, nil
}

// List calls fn for every object under prefix, in key order (S3 lists in
// UTF-8 binary order), one ListObjectsV2 page at a time.
func (b *bucket) List(ctx context.Context, prefix string, fn func(driver.Attributes) error) error {
	pages := awss3.NewListObjectsV2Paginator(b.client, &awss3.ListObjectsV2Input{
		Bucket: aws.String(b.name),
		Prefix: aws.String(prefix),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return classify(err)
		}
		for _, obj := range page.Contents {
			err := fn(driver.Attributes{
				Key:      aws.ToString(obj.Key),
				Size:     aws.ToInt64(obj.Size),
				Version:  aws.ToString(obj.ETag),
				Modified: aws.ToTime(obj.LastModified),
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes key; S3 itself answers success for a missing key, and a
// NotFound from a stricter server is success too.
func (b *bucket) Delete(ctx context.Context, key string) error {
	_, err := b.client.DeleteObject(ctx, &awss3.DeleteObjectInput{
		Bucket: aws.String(b.name),
		Key:    aws.String(key),
	})
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchBucket" {
		return classify(err)
	}
	if err = classify(err); driver.CodeOf(err) == driver.NotFound {
		return nil
	}
	return err
}
