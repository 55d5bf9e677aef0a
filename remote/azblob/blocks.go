package azblob

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/sealfs/sealfs/remote/driver"
)

// maxBlocks is the most blocks one block blob may commit.
const maxBlocks = 50000

// putBlocks uploads a large object as staged blocks, each with an MD5 the
// service verifies, then commits the list with the write condition, so the
// blob appears atomically and only if the condition holds. The CRC32C and
// MD5 of everything read are checked against the caller's before the
// commit; on any failure nothing is committed (the service discards
// uncommitted blocks after a week). Block IDs carry a random per-upload
// tag, so two uploads of one key never commit each other's blocks.
func (b *bucket) putBlocks(ctx context.Context, key string, r io.Reader, size int64, opts driver.PutOptions) (driver.Attributes, error) {
	if (size+blockSize-1)/blockSize > maxBlocks {
		return driver.Attributes{}, driver.Errorf(driver.Permanent, fmt.Errorf("azblob: %d bytes is over the block blob limit", size))
	}
	tag, err := uploadTag()
	if err != nil {
		return driver.Attributes{}, err
	}
	client := b.client.NewBlockBlobClient(key)
	crc, whole := crc32.New(castagnoli), md5.New()
	buf := make([]byte, blockSize)
	var ids []string
	for off := int64(0); off < size; off += blockSize {
		chunk := buf[:min(blockSize, size-off)]
		if _, err := io.ReadFull(r, chunk); err != nil {
			return driver.Attributes{}, fmt.Errorf("azblob: read block %d to upload: %w", len(ids), err)
		}
		crc.Write(chunk)
		whole.Write(chunk)
		id := blockID(tag, len(ids))
		sum := md5.Sum(chunk)
		_, err := client.StageBlock(ctx, id, streaming.NopCloser(bytes.NewReader(chunk)), &blockblob.StageBlockOptions{
			TransactionalValidation: blob.TransferValidationTypeMD5(sum[:]),
		})
		if err != nil {
			return driver.Attributes{}, classify(fmt.Errorf("block %d: %w", len(ids), err))
		}
		ids = append(ids, id)
	}
	if err := checkCRC32C(crc.Sum32(), opts.CRC32C); err != nil {
		return driver.Attributes{}, err
	}
	sum := whole.Sum(nil)
	if opts.MD5 != nil && !bytes.Equal(sum, opts.MD5) {
		return driver.Attributes{}, driver.Errorf(driver.Permanent,
			fmt.Errorf("azblob: content read has MD5 %x, caller gave %x", sum, opts.MD5))
	}
	resp, err := client.CommitBlockList(noRetry(ctx), ids, &blockblob.CommitBlockListOptions{
		HTTPHeaders:      &blob.HTTPHeaders{BlobContentMD5: sum},
		AccessConditions: accessConditions(opts.IfVersion),
	})
	if err != nil {
		return driver.Attributes{}, classify(err)
	}
	return written(key, size, opts.CRC32C, sum, resp.ETag, resp.LastModified), nil
}

// uploadTag is a random hex tag for the block IDs of one upload.
func uploadTag() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("azblob: block ID tag: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// blockID is the base64 ID of block n; all IDs of a blob have one length,
// as the service requires.
func blockID(tag string, n int) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s-%06d", tag, n))
}
