package azblob

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/sealfs/sealfs/remote/driver"
)

// GetRange reads length bytes of key at off (length < 0: to the end) with
// one ranged download.
func (b *bucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if off < 0 {
		return nil, driver.Errorf(driver.Permanent, fmt.Errorf("azblob: %s: negative offset %d", key, off))
	}
	if length == 0 {
		// HTTP cannot ask for zero bytes; still report a missing object.
		if _, err := b.Stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	// Count 0 means "to the end"; a zero range sends no Range header at
	// all, which also reads an empty blob.
	rng := blob.HTTPRange{Offset: off, Count: max(length, 0)}
	resp, err := b.client.NewBlobClient(key).DownloadStream(ctx, &blob.DownloadStreamOptions{Range: rng})
	if err == nil {
		return resp.Body, nil
	}
	if bloberror.HasCode(err, bloberror.InvalidRange) {
		// The range starts at or past the end: no bytes, if the blob exists.
		if _, err := b.Stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	return nil, classify(err)
}

// Stat returns key's attributes, with the MD5 the service stored.
func (b *bucket) Stat(ctx context.Context, key string) (driver.Attributes, error) {
	resp, err := b.client.NewBlobClient(key).GetProperties(ctx, nil)
	if err != nil {
		return driver.Attributes{}, classify(err)
	}
	a := driver.Attributes{Key: key, MD5: resp.ContentMD5}
	if resp.ContentLength != nil {
		a.Size = *resp.ContentLength
	}
	if resp.ETag != nil {
		a.Version = string(*resp.ETag)
	}
	if resp.LastModified != nil {
		a.Modified = *resp.LastModified
	}
	return a, nil
}

// List calls fn for every blob under prefix, in key order (the service
// lists blob names sorted), one page at a time.
func (b *bucket) List(ctx context.Context, prefix string, fn func(driver.Attributes) error) error {
	pager := b.client.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return classify(err)
		}
		for _, item := range page.Segment.BlobItems {
			if err := fn(listed(item)); err != nil {
				return err
			}
		}
	}
	return nil
}

// listed converts one listing entry.
func listed(item *container.BlobItem) driver.Attributes {
	a := driver.Attributes{}
	if item.Name != nil {
		a.Key = *item.Name
	}
	if p := item.Properties; p != nil {
		a.MD5 = p.ContentMD5
		if p.ContentLength != nil {
			a.Size = *p.ContentLength
		}
		if p.ETag != nil {
			a.Version = quotedETag(string(*p.ETag))
		}
		if p.LastModified != nil {
			a.Modified = *p.LastModified
		}
	}
	return a
}

// quotedETag puts a listing's bare ETag (0x8D...) in the quoted form the
// response headers use, so Put, Stat and List report one Version.
func quotedETag(etag string) string {
	if strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, `W/"`) {
		return etag
	}
	return `"` + etag + `"`
}

// Delete removes key; a missing blob is success, a missing container not.
func (b *bucket) Delete(ctx context.Context, key string) error {
	_, err := b.client.NewBlobClient(key).Delete(ctx, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return nil
	}
	return classify(err)
}
