package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sealfs/sealfs/remote/driver"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// abortTimeout bounds the clean-up of a failed multipart upload, which runs
// even when the caller's context is done.
const abortTimeout = 30 * time.Second

// putMultipart uploads a large object in parts. Each part carries its own
// CRC32C and MD5, which the server verifies; the completion carries the
// caller's full-object CRC32C (checksum type FULL_OBJECT, verified by S3),
// the expected size and the write condition, so the object appears
// atomically and only if the condition holds. A failed upload is aborted.
func (b *bucket) putMultipart(ctx context.Context, key string, r io.Reader, size int64, opts driver.PutOptions) (driver.Attributes, error) {
	created, err := b.client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{
		Bucket:            aws.String(b.name),
		Key:               aws.String(key),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
		ChecksumType:      types.ChecksumTypeFullObject,
	})
	if err != nil {
		return driver.Attributes{}, classify(err)
	}
	attrs, err := b.uploadAndComplete(ctx, key, created.UploadId, r, size, opts)
	if err != nil {
		b.abort(ctx, key, created.UploadId)
		return driver.Attributes{}, err
	}
	return attrs, nil
}

// uploadAndComplete sends the parts of one multipart upload and completes it.
func (b *bucket) uploadAndComplete(ctx context.Context, key string, uploadID *string, r io.Reader, size int64, opts driver.PutOptions) (driver.Attributes, error) {
	partSize := partSizeFor(size)
	buf := make([]byte, partSize)
	var parts []types.CompletedPart
	for off, n := int64(0), int32(1); off < size; off, n = off+partSize, n+1 {
		chunk := buf[:min(partSize, size-off)]
		if _, err := io.ReadFull(r, chunk); err != nil {
			return driver.Attributes{}, fmt.Errorf("s3: read part %d to upload: %w", n, err)
		}
		part, err := b.uploadPart(ctx, key, uploadID, n, chunk)
		if err != nil {
			return driver.Attributes{}, err
		}
		parts = append(parts, part)
	}
	in := &awss3.CompleteMultipartUploadInput{
		Bucket:          aws.String(b.name),
		Key:             aws.String(key),
		UploadId:        uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		ChecksumCRC32C:  aws.String(crc32cBase64(opts.CRC32C)),
		ChecksumType:    types.ChecksumTypeFullObject,
		MpuObjectSize:   aws.Int64(size),
	}
	in.IfNoneMatch, in.IfMatch = conditions(opts)
	if _, err := b.client.CompleteMultipartUpload(ctx, in, noRetry); err != nil {
		return driver.Attributes{}, classify(err)
	}
	// The completion's ETag is a digest of the part digests; HeadObject
	// reports the one later Stat and List calls see, and the stored size.
	attrs, err := b.Stat(ctx, key)
	if err != nil {
		return driver.Attributes{}, err
	}
	if attrs.Size != size {
		return driver.Attributes{}, driver.Errorf(driver.Transient,
			fmt.Errorf("s3: %s: stored %d bytes after completing an upload of %d", key, attrs.Size, size))
	}
	// S3 verified the full-object CRC32C; the whole-object MD5 was never
	// sent (parts carry their own), so none is reported.
	attrs.CRC32C, attrs.HasCRC32C = opts.CRC32C, true
	return attrs, nil
}

// uploadPart sends one part with its CRC32C and MD5.
func (b *bucket) uploadPart(ctx context.Context, key string, uploadID *string, n int32, chunk []byte) (types.CompletedPart, error) {
	crc := crc32cBase64(crc32.Checksum(chunk, castagnoli))
	sum := md5.Sum(chunk)
	out, err := b.client.UploadPart(ctx, &awss3.UploadPartInput{
		Bucket:            aws.String(b.name),
		Key:               aws.String(key),
		UploadId:          uploadID,
		PartNumber:        aws.Int32(n),
		Body:              bytes.NewReader(chunk),
		ContentLength:     aws.Int64(int64(len(chunk))),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
		ChecksumCRC32C:    aws.String(crc),
		ContentMD5:        md5Base64(sum[:]),
	})
	if err != nil {
		return types.CompletedPart{}, classify(fmt.Errorf("part %d: %w", n, err))
	}
	return types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n), ChecksumCRC32C: aws.String(crc)}, nil
}

// abort discards the parts of a failed upload so they are not billed; an
// error here is moot (lifecycle rules reap what is left), so it is dropped.
func (b *bucket) abort(ctx context.Context, key string, uploadID *string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	_, _ = b.client.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{
		Bucket:   aws.String(b.name),
		Key:      aws.String(key),
		UploadId: uploadID,
	})
}

// partSizeFor returns the part size for an object of size bytes: at least
// minPartSize, and large enough for maxParts parts, in whole MiB.
func partSizeFor(size int64) int64 {
	const mib = 1 << 20
	p := max(minPartSize, (size+maxParts-1)/maxParts)
	return (p + mib - 1) / mib * mib
}
