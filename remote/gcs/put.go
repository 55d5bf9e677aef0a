package gcs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"cloud.google.com/go/storage"

	"github.com/sealfs/sealfs/remote/driver"
)

// singleShotMax is the largest object sent in one request (ChunkSize 0: no
// buffer, no SDK retry; the portable layer retries the whole Put). Larger
// objects go as a resumable upload in chunkSize pieces, each retried by the
// SDK up to chunkRetryDeadline, so an outage does not restart a big upload.
const (
	singleShotMax = 16 << 20
	chunkSize     = 16 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Put writes size bytes from r to key, create-only or conditional on
// opts.IfVersion, and returns the stored object's attributes.
func (b *bucket) Put(ctx context.Context, key string, r io.Reader, size int64, opts driver.PutOptions) (driver.Attributes, error) {
	obj, err := b.conditional(key, opts.IfVersion)
	if err != nil {
		return driver.Attributes{}, err
	}
	stall := newStallGuard()
	obj = obj.Retryer(storage.WithErrorFunc(stall.shouldRetry))
	// Cancelling wctx before Close aborts the upload: no object is created.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := obj.NewWriter(wctx)
	w.ContentType = "application/octet-stream"
	w.ChunkSize = 0
	if size > singleShotMax {
		w.ChunkSize = chunkSize
	}
	w.ChunkRetryDeadline = chunkRetryDeadline
	w.ProgressFunc = stall.progress
	w.CRC32C, w.SendCRC32C = opts.CRC32C, true
	w.MD5 = opts.MD5

	if err := copyChecked(w, r, size, opts.CRC32C); err != nil {
		cancel()
		w.Close()
		return driver.Attributes{}, classify(ctx, err)
	}
	if err := w.Close(); err != nil {
		return driver.Attributes{}, classify(ctx, err)
	}
	a := toAttributes(w.Attrs())
	if err := b.verifyStored(ctx, a, opts); err != nil {
		return driver.Attributes{}, err
	}
	return a, nil
}

// stallGuard stops the SDK's retries of an upload once it has made no
// progress for chunkRetryDeadline. ChunkRetryDeadline alone bounds only the
// chunks: the SDK retries the request that opens a resumable session, and any
// request whose body it buffered, until the context ends.
type stallGuard struct {
	last atomic.Int64 // time.Now().UnixNano() of the start or the last chunk
}

func newStallGuard() *stallGuard {
	g := new(stallGuard)
	g.progress(0)
	return g
}

// progress is the Writer's ProgressFunc, called after each chunk.
func (g *stallGuard) progress(int64) { g.last.Store(time.Now().UnixNano()) }

func (g *stallGuard) shouldRetry(err error) bool {
	stalled := time.Since(time.Unix(0, g.last.Load())) >= chunkRetryDeadline
	return !stalled && storage.ShouldRetry(err)
}

// conditional returns the handle for key with the write precondition.
func (b *bucket) conditional(key, ifVersion string) (*storage.ObjectHandle, error) {
	obj := b.h.Object(key)
	if ifVersion == "" {
		return obj.If(storage.Conditions{DoesNotExist: true}), nil
	}
	gen, err := strconv.ParseInt(ifVersion, 10, 64)
	if err != nil || gen <= 0 {
		// No object has this version, so the condition cannot hold.
		return nil, driver.Errorf(driver.AlreadyExists, fmt.Errorf("gcs: version %q is not a generation", ifVersion))
	}
	return obj.If(storage.Conditions{GenerationMatch: gen}), nil
}

// copyChecked copies exactly size bytes of r to w and checks them against
// the caller's CRC32C before the upload is finalized. GCS checks the CRC32C
// too, but fake-gcs-server does not for multi-chunk uploads, and a mismatch
// here means the source changed under us: retrying will not help.
func copyChecked(w io.Writer, r io.Reader, size int64, want uint32) error {
	h := crc32.New(castagnoli)
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(r, size))
	if err != nil {
		return err
	}
	if n != size {
		return driver.Errorf(driver.Permanent, fmt.Errorf("gcs: source gave %d bytes, want %d", n, size))
	}
	if got := h.Sum32(); got != want {
		return driver.Errorf(driver.Permanent, fmt.Errorf("gcs: source CRC32C %08x, want %08x", got, want))
	}
	return nil
}

// verifyStored compares the checksums GCS computed with the caller's. On a
// mismatch (bytes damaged on the way, on a server that did not check) it
// deletes exactly the generation just written, never a later one, and
// reports a Transient error so the upload is tried again.
func (b *bucket) verifyStored(ctx context.Context, a driver.Attributes, opts driver.PutOptions) error {
	var bad error
	switch {
	case a.HasCRC32C && a.CRC32C != opts.CRC32C:
		bad = fmt.Errorf("gcs: stored CRC32C %08x, sent %08x", a.CRC32C, opts.CRC32C)
	case opts.MD5 != nil && a.MD5 != nil && !bytes.Equal(a.MD5, opts.MD5):
		bad = fmt.Errorf("gcs: stored MD5 %x, sent %x", a.MD5, opts.MD5)
	default:
		return nil
	}
	gen, _ := strconv.ParseInt(a.Version, 10, 64)
	err := b.h.Object(a.Key).Generation(gen).Delete(ctx)
	if err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		bad = fmt.Errorf("%w (and removing it failed: %v)", bad, err)
	}
	return driver.Errorf(driver.Transient, bad)
}
