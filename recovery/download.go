package recovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
	"github.com/sealfs/sealfs/remote/uploader"
	"github.com/sealfs/sealfs/store"
)

// Progress is told how a download advances (a progress bar, or lines).
type Progress interface {
	Start(files int, bytes int64)
	Add(files int, bytes int64) // files finished and bytes done since the last call
	Done()
}

// copyBuf is the buffer of one download; with Workers of them the memory of
// a recovery stays bounded whatever the tree's size.
const copyBuf = 1 << 20

type job struct {
	ino  meta.Ino
	path string
	c    meta.Content
	size int64 // plaintext
}

// download fetches every current version that is in the bucket into the
// new store and authenticates all of it. A file whose object fails is
// reported in rep.Damaged and left to read from the bucket (EIO).
func download(ctx context.Context, o Options, rep *Report) error {
	st, err := store.Open(o.Store, o.Key)
	if err != nil {
		return err
	}
	defer st.Close()
	paths, err := meta.Paths(st.Meta)
	if err != nil {
		return err
	}
	var jobs []job
	var total int64
	err = st.Meta.View(func(tx *meta.Tx) error {
		return tx.Contents(func(ino meta.Ino, c meta.Content) bool {
			if c.Sync != meta.SyncSynced {
				return true
			}
			in, err := tx.Inode(ino)
			if err != nil {
				return true
			}
			jobs = append(jobs, job{ino: ino, path: paths[ino], c: c, size: int64(in.Size)})
			total += int64(in.Size)
			return true
		})
	})
	if err != nil {
		return err
	}
	if o.Progress != nil {
		o.Progress.Start(len(jobs), total)
		defer o.Progress.Done()
	}
	workers := o.Workers
	if workers <= 0 {
		workers = 4
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan job)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	w := crypto.NewWrapper(o.Key)
	for range workers {
		wg.Go(func() {
			buf := make([]byte, copyBuf)
			for j := range ch {
				err := fetchOne(ctx, o, st, w, j, buf)
				mu.Lock()
				switch {
				case err == nil:
					rep.Downloaded++
				case errors.Is(err, crypto.ErrAuth) || errors.Is(err, crypto.ErrWrongKey):
					rep.Damaged = append(rep.Damaged, j.path)
				case firstErr == nil:
					firstErr = fmt.Errorf("download %s: %w", j.path, err)
					cancel()
				}
				mu.Unlock()
				if o.Progress != nil {
					o.Progress.Add(1, j.size)
				}
			}
		})
	}
	for _, j := range jobs {
		select {
		case ch <- j:
		case <-ctx.Done():
		}
	}
	close(ch)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := st.SyncAll(); err != nil {
		return err
	}
	return ctx.Err()
}

// fetchOne downloads one version and reads it whole through the decoder;
// what does not authenticate is removed again.
func fetchOne(ctx context.Context, o Options, st *store.Store, w *crypto.Wrapper, j job, buf []byte) (err error) {
	id := crypto.FileID(j.c.FileID)
	f, err := st.CreateData(id)
	if err != nil {
		return err
	}
	defer func() {
		f.Close()
		if err != nil {
			st.RemoveData(id)
		}
	}()
	if j.c.PlainCopy() {
		if err := uploader.FetchPlain(ctx, o.Bucket, w, j.c, j.size, f); err != nil {
			return err
		}
	} else if err := copyObject(ctx, o, j, f, buf); err != nil {
		return err
	}
	content, err := crypto.OpenFile(w, f, crypto.FileKey{KeyID: j.c.KeyID, Wrapped: j.c.WrappedDEK})
	if err != nil {
		return err
	}
	if content.Header().FileID != id || content.Size() != j.size {
		return fmt.Errorf("object of %s is not the version its record names: %w", j.path, crypto.ErrAuth)
	}
	for off := int64(0); off < j.size; {
		n, err := content.ReadAt(buf, off)
		off += int64(n)
		if err != nil && !(errors.Is(err, io.EOF) && off == j.size) {
			return err
		}
	}
	return nil
}

// copyObject copies version j's object into f.
func copyObject(ctx context.Context, o Options, j job, f io.Writer, buf []byte) error {
	r, err := o.Bucket.NewRangeReader(ctx, ObjectKey(j.c.FileID), 0, -1)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.CopyBuffer(f, r, buf)
	return err
}
