package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/remote"
)

// Writer uploads the snapshots of one store. It is safe for concurrent
// use; snapshots are taken one at a time.
type Writer struct {
	Bucket  *remote.Bucket
	Key     *crypto.MasterKey
	StoreID [16]byte
	TempDir string // where a snapshot is sealed before upload (in the store)

	mu     sync.Mutex
	listed bool
	seq    uint64    // highest generation in the bucket or written
	prev   *Manifest // our newest manifest, whose entries carry on
}

// SetKey makes k the key of the snapshots written from now on (a key
// rotation of a running store). The next one opens no manifest under the
// old key, so it names itself alone, and every older generation is pruned.
func (w *Writer) SetKey(k *crypto.MasterKey) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.Key, w.listed, w.prev = k, false, nil
}

// start learns the highest generation in the bucket (of any store that
// wrote to the prefix, so numbers keep growing after a takeover) and this
// store's newest manifest.
func (w *Writer) start(ctx context.Context) error {
	l, err := List(ctx, w.Bucket)
	if err != nil {
		return err
	}
	w.seq = l.MaxSeq()
	if m, _, err := Latest(ctx, w.Bucket, w.Key, l); err == nil && m.StoreID == w.StoreID {
		w.prev = m
	} else if err != nil && !errors.Is(err, ErrNoSnapshot) {
		return err
	}
	w.listed = true
	return nil
}

// Write seals what backup writes as snapshot seq+1, uploads it, then the
// manifest that names it and up to Keep-1 earlier ones, and finally prunes
// the generations no manifest kept names any more.
func (w *Writer) Write(ctx context.Context, backup func(io.Writer) error) (Entry, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.listed {
		if err := w.start(ctx); err != nil {
			return Entry{}, err
		}
	}
	seq := w.seq + 1
	e, err := w.upload(ctx, seq, backup)
	if err != nil {
		return Entry{}, err
	}
	// The number is used up even if the manifest fails: never reuse one.
	w.seq = seq
	m := &Manifest{StoreID: w.StoreID, Seq: seq, Snapshots: []Entry{e}}
	if w.prev != nil {
		m.Snapshots = append(m.Snapshots, w.prev.Snapshots[:min(len(w.prev.Snapshots), Keep-1)]...)
	}
	body, err := json.Marshal(manifestBody{Snapshots: m.Snapshots})
	if err != nil {
		return Entry{}, err
	}
	sealed := w.Key.SealManifest(w.StoreID, seq, body)
	if _, err := w.Bucket.Put(ctx, ManifestKey(seq), bytesReaderAt(sealed), int64(len(sealed))); err != nil {
		return Entry{}, fmt.Errorf("upload manifest %d: %w", seq, err)
	}
	w.prev = m
	if err := w.prune(ctx, m); err != nil {
		return e, fmt.Errorf("prune old snapshots: %w", err)
	}
	return e, nil
}

func (w *Writer) upload(ctx context.Context, seq uint64, backup func(io.Writer) error) (Entry, error) {
	tmp, err := os.CreateTemp(w.TempDir, "snapshot-*")
	if err != nil {
		return Entry{}, fmt.Errorf("metadata snapshot: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	info := crypto.SnapshotInfo{StoreID: w.StoreID, Seq: seq, Time: time.Now().UnixNano()}
	content, err := crypto.CreateSnapshot(w.Key, tmp, info)
	if err != nil {
		return Entry{}, err
	}
	aw := &appendWriter{f: content}
	if err := backup(aw); err != nil {
		return Entry{}, fmt.Errorf("metadata snapshot: %w", err)
	}
	if err := content.Flush(); err != nil {
		return Entry{}, fmt.Errorf("metadata snapshot: %w", err)
	}
	h := sha256.New()
	size, err := io.Copy(h, io.NewSectionReader(tmp, 0, 1<<62))
	if err != nil {
		return Entry{}, fmt.Errorf("metadata snapshot: %w", err)
	}
	if _, err := w.Bucket.Put(ctx, SnapshotKey(seq), tmp, size); err != nil {
		return Entry{}, fmt.Errorf("upload snapshot %d: %w", seq, err)
	}
	return Entry{Seq: seq, Time: info.Time, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// prune deletes every snapshot and manifest older than m's oldest entry,
// and the format 1 snapshots (meta/<time>) a format 2 manifest supersedes.
func (w *Writer) prune(ctx context.Context, m *Manifest) error {
	oldest := m.Snapshots[len(m.Snapshots)-1].Seq
	l, err := List(ctx, w.Bucket)
	if err != nil {
		return err
	}
	var errs []error
	del := func(key string) {
		if err := w.Bucket.Delete(ctx, key); err != nil && !errors.Is(err, remote.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	for s, a := range l.Snapshots {
		if s < oldest {
			del(a.Key)
		}
	}
	for s, a := range l.Manifests {
		if s < oldest {
			del(a.Key)
		}
	}
	for _, key := range l.Other {
		del(key)
	}
	return errors.Join(errs...)
}

// appendWriter turns sequential writes into WriteAt calls on sealed content.
type appendWriter struct {
	f   *crypto.File
	off int64
}

func (a *appendWriter) Write(p []byte) (int, error) {
	n, err := a.f.WriteAt(p, a.off)
	a.off += int64(n)
	return n, err
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
