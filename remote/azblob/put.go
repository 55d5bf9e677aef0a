package azblob

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/sealfs/sealfs/remote/driver"
)

// singleUploadMax is the largest object sent in one Put Blob; bigger ones
// are staged in blocks of blockSize and committed with Put Block List.
const (
	singleUploadMax = 16 << 20
	blockSize       = 16 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// noRetry turns off the SDK's retries for a conditional write: when a
// create-only write succeeds but its response is lost, a silent retry would
// report AlreadyExists for our own object. The portable layer, which
// retries whole operations, sees the transient error instead.
func noRetry(ctx context.Context) context.Context {
	return policy.WithRetryOptions(ctx, policy.RetryOptions{MaxRetries: -1})
}

// Put writes size bytes from r to key, create-only or conditional on
// opts.IfVersion (an ETag). Every request body carries an MD5 the service
// verifies. Azure has no CRC32C, so the driver checks opts.CRC32C (and
// opts.MD5 for a block upload, whose whole-blob MD5 the service does not
// verify) against the bytes it read before anything becomes visible.
func (b *bucket) Put(ctx context.Context, key string, r io.Reader, size int64, opts driver.PutOptions) (driver.Attributes, error) {
	if size > singleUploadMax {
		return b.putBlocks(ctx, key, r, size, opts)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		return driver.Attributes{}, fmt.Errorf("azblob: read %d bytes to upload: %w", size, err)
	}
	if err := checkCRC32C(crc32.Checksum(body, castagnoli), opts.CRC32C); err != nil {
		return driver.Attributes{}, err
	}
	sum := opts.MD5
	if sum == nil {
		s := md5.Sum(body)
		sum = s[:]
	}
	resp, err := b.client.NewBlockBlobClient(key).Upload(noRetry(ctx), streaming.NopCloser(bytes.NewReader(body)), &blockblob.UploadOptions{
		TransactionalValidation: blob.TransferValidationTypeMD5(sum),
		HTTPHeaders:             &blob.HTTPHeaders{BlobContentMD5: sum},
		AccessConditions:        accessConditions(opts.IfVersion),
	})
	if err != nil {
		return driver.Attributes{}, classify(err)
	}
	return written(key, size, opts.CRC32C, sum, resp.ETag, resp.LastModified), nil
}

// accessConditions make a write create-only, or conditional on ifVersion.
func accessConditions(ifVersion string) *blob.AccessConditions {
	var mod blob.ModifiedAccessConditions
	if ifVersion == "" {
		etagAny := azcore.ETagAny
		mod.IfNoneMatch = &etagAny
	} else {
		etag := azcore.ETag(ifVersion)
		mod.IfMatch = &etag
	}
	return &blob.AccessConditions{ModifiedAccessConditions: &mod}
}

// checkCRC32C compares the CRC32C of the bytes read with the caller's.
func checkCRC32C(got, want uint32) error {
	if got == want {
		return nil
	}
	return driver.Errorf(driver.Permanent,
		fmt.Errorf("azblob: content read has CRC32C %08x, caller gave %08x", got, want))
}

// written returns the attributes of a blob the service just confirmed; the
// CRC32C and MD5 were verified on the way (see Put).
func written(key string, size int64, crc uint32, sum []byte, etag *azcore.ETag, modified *time.Time) driver.Attributes {
	a := driver.Attributes{Key: key, Size: size, CRC32C: crc, HasCRC32C: true, MD5: sum}
	if etag != nil {
		a.Version = string(*etag)
	}
	if modified != nil {
		a.Modified = *modified
	}
	return a
}
