// Package snapshot writes and finds the sealed metadata snapshots in a
// bucket: with the master key and the bucket alone, a new machine rebuilds
// the store from them (docs/FORMAT.md, "Snapshots and manifests").
//
// Each snapshot is PREFIX/meta/snapshot-<seq> and is followed by a manifest,
// PREFIX/meta/manifest-<seq>, that names it and the Keep-1 generations before
// it with their sizes and SHA-256. Sequence numbers only grow, and both the
// snapshot's descriptor and the manifest authenticate theirs, so a restore
// can tell the newest genuine snapshot, and detect one that was deleted,
// replayed under another name or swapped for another object.
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
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/driver"
)

// Dir holds the snapshots and manifests.
const Dir = "meta/"

// Keep is how many generations a manifest names and the bucket keeps.
const Keep = 5

const (
	snapshotName = Dir + "snapshot-"
	manifestName = Dir + "manifest-"
	// maxManifestSize bounds what a reader downloads for one manifest.
	maxManifestSize = 1 << 20
)

// SnapshotKey and ManifestKey are the object names of generation seq.
func SnapshotKey(seq uint64) string { return fmt.Sprintf("%s%016d", snapshotName, seq) }
func ManifestKey(seq uint64) string { return fmt.Sprintf("%s%016d", manifestName, seq) }

// parseSeq returns the generation of a snapshot or manifest object name.
func parseSeq(key, prefix string) (uint64, bool) {
	if !strings.HasPrefix(key, prefix) {
		return 0, false
	}
	n, err := strconv.ParseUint(key[len(prefix):], 10, 64)
	return n, err == nil
}

// Entry is one snapshot as a manifest names it.
type Entry struct {
	Seq    uint64 `json:"seq"`
	Time   int64  `json:"time"` // Unix nanoseconds, as in its descriptor
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// ID is how a user names the snapshot (sealfs recover --snapshot).
func (e Entry) ID() string { return strconv.FormatUint(e.Seq, 10) }

// Taken is when the snapshot was taken.
func (e Entry) Taken() time.Time { return time.Unix(0, e.Time).UTC() }

// Manifest is one opened manifest.
type Manifest struct {
	StoreID   [16]byte
	Seq       uint64
	Snapshots []Entry // newest first
}

type manifestBody struct {
	Snapshots []Entry `json:"snapshots"`
}

// Newest returns the newest entry.
func (m *Manifest) Newest() Entry { return m.Snapshots[0] }

// Find returns the entry with the given ID.
func (m *Manifest) Find(id string) (Entry, bool) {
	for _, e := range m.Snapshots {
		if e.ID() == id {
			return e, true
		}
	}
	return Entry{}, false
}

// Listing is what the bucket's meta/ holds.
type Listing struct {
	Snapshots map[uint64]driver.Attributes
	Manifests map[uint64]driver.Attributes
	Other     []string // legacy (format 1) snapshots and anything else
}

// MaxSeq is the highest generation in the listing, 0 if none.
func (l *Listing) MaxSeq() uint64 {
	var m uint64
	for s := range l.Snapshots {
		m = max(m, s)
	}
	for s := range l.Manifests {
		m = max(m, s)
	}
	return m
}

// List lists meta/.
func List(ctx context.Context, b *remote.Bucket) (*Listing, error) {
	l := &Listing{Snapshots: map[uint64]driver.Attributes{}, Manifests: map[uint64]driver.Attributes{}}
	err := b.List(ctx, Dir, func(a driver.Attributes) error {
		if s, ok := parseSeq(a.Key, snapshotName); ok {
			l.Snapshots[s] = a
		} else if s, ok := parseSeq(a.Key, manifestName); ok {
			l.Manifests[s] = a
		} else {
			l.Other = append(l.Other, a.Key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	return l, nil
}

// ErrNoSnapshot: the bucket has no manifest that opens with the key.
var ErrNoSnapshot = errors.New("no metadata snapshot in the bucket opens with this key")

// Latest returns the newest manifest that opens with k, trying older ones
// when a newer one does not open (each failure is in skipped, newest
// first). Nothing found is ErrNoSnapshot.
func Latest(ctx context.Context, b *remote.Bucket, k *crypto.MasterKey, l *Listing) (m *Manifest, skipped []error, err error) {
	seqs := make([]uint64, 0, len(l.Manifests))
	for s := range l.Manifests {
		seqs = append(seqs, s)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] > seqs[j] })
	for _, s := range seqs {
		m, err := ReadManifest(ctx, b, k, s)
		if err == nil {
			return m, skipped, nil
		}
		if ctx.Err() != nil || !errors.Is(err, crypto.ErrAuth) && !errors.Is(err, crypto.ErrWrongKey) {
			return nil, skipped, err
		}
		skipped = append(skipped, err)
	}
	if len(skipped) > 0 {
		return nil, skipped, fmt.Errorf("%w (%d manifests do not: %w)", ErrNoSnapshot, len(skipped), skipped[0])
	}
	return nil, nil, ErrNoSnapshot
}

// ReadManifest downloads and opens manifest seq.
func ReadManifest(ctx context.Context, b *remote.Bucket, k *crypto.MasterKey, seq uint64) (*Manifest, error) {
	key := ManifestKey(seq)
	r, err := b.NewRangeReader(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	raw, err := io.ReadAll(io.LimitReader(r, maxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if len(raw) > maxManifestSize {
		return nil, fmt.Errorf("%s: larger than %d bytes: %w", key, maxManifestSize, crypto.ErrAuth)
	}
	id, got, body, err := k.OpenManifest(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if got != seq {
		return nil, fmt.Errorf("%s holds manifest %d (replayed under another name): %w", key, got, crypto.ErrAuth)
	}
	var mb manifestBody
	if err := json.Unmarshal(body, &mb); err != nil || len(mb.Snapshots) == 0 {
		return nil, fmt.Errorf("%s: malformed body: %w", key, crypto.ErrAuth)
	}
	if mb.Snapshots[0].Seq != seq {
		return nil, fmt.Errorf("%s: newest entry is %d: %w", key, mb.Snapshots[0].Seq, crypto.ErrAuth)
	}
	return &Manifest{StoreID: id, Seq: seq, Snapshots: mb.Snapshots}, nil
}

// ErrMissing: a snapshot a genuine manifest names is not in the bucket.
var ErrMissing = errors.New("is missing from the bucket")

// Unlisted is the entry of snapshot seq, newer than manifest m, that no
// manifest names (its manifest's upload never happened): its size and
// checksum are unknown, and only its descriptor authenticates it.
func Unlisted(seq uint64, l *Listing) (Entry, bool) {
	a, ok := l.Snapshots[seq]
	return Entry{Seq: seq, Size: a.Size}, ok
}

// Fetch downloads snapshot e of store m.StoreID into a temporary file in
// tmpDir and authenticates it: size and SHA-256 as the manifest says (not
// for an Unlisted entry), then the descriptor (store ID, sequence, time)
// and every block as it is read. It returns e with the descriptor's time.
// The caller reads the returned content and then calls cleanup.
func Fetch(ctx context.Context, b *remote.Bucket, k *crypto.MasterKey, m *Manifest, e Entry, tmpDir string) (got Entry, content *crypto.File, cleanup func(), err error) {
	key := SnapshotKey(e.Seq)
	r, err := b.NewRangeReader(ctx, key, 0, -1)
	if errors.Is(err, remote.ErrNotFound) {
		return e, nil, nil, fmt.Errorf("snapshot %d of %s, named by manifest %d, %w (deleted?)",
			e.Seq, e.Taken().Format(time.RFC3339), m.Seq, ErrMissing)
	}
	if err != nil {
		return e, nil, nil, err
	}
	defer r.Close()
	tmp, err := os.CreateTemp(tmpDir, "snapshot-*")
	if err != nil {
		return e, nil, nil, err
	}
	remove := func() { tmp.Close(); os.Remove(tmp.Name()) }
	defer func() {
		if err != nil {
			remove()
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, e.Size+1))
	if err != nil {
		return e, nil, nil, fmt.Errorf("download %s: %w", key, err)
	}
	if n != e.Size || e.SHA256 != "" && hex.EncodeToString(h.Sum(nil)) != e.SHA256 {
		return e, nil, nil, fmt.Errorf("%s is not the snapshot manifest %d names (%d bytes, want %d; or another checksum): %w",
			key, m.Seq, n, e.Size, crypto.ErrAuth)
	}
	info, content, err := crypto.OpenSnapshot(k, tmp)
	if err != nil {
		return e, nil, nil, fmt.Errorf("%s: %w", key, err)
	}
	if info.StoreID != m.StoreID || info.Seq != e.Seq || e.SHA256 != "" && info.Time != e.Time {
		return e, nil, nil, fmt.Errorf("%s says it is snapshot %d of another time or store: %w", key, info.Seq, crypto.ErrAuth)
	}
	e.Time = info.Time
	return e, content, remove, nil
}
