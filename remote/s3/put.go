package s3

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/aws/smithy-go/middleware"

	"github.com/sealfs/sealfs/remote/driver"
)

// multipartThreshold is the largest object sent in one PutObject; bigger
// ones go up in parts of at least minPartSize.
const (
	multipartThreshold = 16 << 20
	minPartSize        = 16 << 20
	maxParts           = 10000
)

// noRetry turns off the SDK's own retries for a conditional write: when a
// create-only PutObject succeeds but its response is lost, a silent retry
// would report AlreadyExists for our own object. The portable layer, which
// retries whole operations, sees the transient error instead.
func noRetry(o *awss3.Options) { o.Retryer = aws.NopRetryer{} }

// Put writes size bytes from r to key, create-only or conditional on
// opts.IfVersion (an ETag). The server verifies opts.CRC32C and, when given,
// opts.MD5; the returned Version is the ETag.
func (b *bucket) Put(ctx context.Context, key string, r io.Reader, size int64, opts driver.PutOptions) (driver.Attributes, error) {
	if size > multipartThreshold {
		return b.putMultipart(ctx, key, r, size, opts)
	}
	body, err := readExactly(r, size)
	if err != nil {
		return driver.Attributes{}, err
	}
	in := &awss3.PutObjectInput{
		Bucket:            aws.String(b.name),
		Key:               aws.String(key),
		Body:              bytes.NewReader(body),
		ContentLength:     aws.Int64(size),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
		ChecksumCRC32C:    aws.String(crc32cBase64(opts.CRC32C)),
		ContentMD5:        md5Base64(opts.MD5),
	}
	in.IfNoneMatch, in.IfMatch = conditions(opts)
	out, err := b.client.PutObject(ctx, in, noRetry)
	if err != nil {
		return driver.Attributes{}, classify(err)
	}
	// S3 verified both checksums it was sent (Content-MD5 only when given).
	return driver.Attributes{
		Key:       key,
		Size:      size,
		Version:   aws.ToString(out.ETag),
		CRC32C:    opts.CRC32C,
		HasCRC32C: true,
		MD5:       opts.MD5,
		Modified:  serverTime(out.ResultMetadata),
	}, nil
}

// serverTime is the Date of the response that confirmed a write: PutObject
// does not return Last-Modified, and a HeadObject per upload would cost a
// round trip for a value that differs by the upload's duration at most.
func serverTime(md middleware.Metadata) time.Time {
	if t, ok := awsmiddleware.GetServerTime(md); ok {
		return t
	}
	if t, ok := awsmiddleware.GetResponseAt(md); ok {
		return t
	}
	return time.Now()
}

// conditions returns the If-None-Match and If-Match values for a write:
// create-only, or replace only the version the caller read.
func conditions(opts driver.PutOptions) (ifNoneMatch, ifMatch *string) {
	if opts.IfVersion == "" {
		return aws.String("*"), nil
	}
	return nil, aws.String(opts.IfVersion)
}

// readExactly reads size bytes from r; a shorter r is an error.
func readExactly(r io.Reader, size int64) ([]byte, error) {
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("s3: read %d bytes to upload: %w", size, err)
	}
	return buf, nil
}

// crc32cBase64 encodes a CRC32C as S3 wants it: base64 of the big-endian
// four bytes.
func crc32cBase64(crc uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc)
	return base64.StdEncoding.EncodeToString(b[:])
}

// crc32cFromBase64 decodes what crc32cBase64 encodes; ok is false for a
// composite multipart checksum ("...-N") or anything malformed.
func crc32cFromBase64(s string) (crc uint32, ok bool) {
	if strings.Contains(s, "-") {
		return 0, false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(b), true
}

// md5Base64 is the Content-MD5 header value for sum, or nil without one.
func md5Base64(sum []byte) *string {
	if len(sum) == 0 {
		return nil
	}
	return aws.String(base64.StdEncoding.EncodeToString(sum))
}
