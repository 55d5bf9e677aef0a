package crypto

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// Metadata snapshots and their manifests have keys of their own, so no
// object sealed as file content (whose DEK is wrapped under the DEK-wrap
// key) can pass for either.
const (
	labelSnapshot = "sealfs snapshot-wrap v2"
	labelManifest = "sealfs manifest v2"
)

// snapshotMagic starts every snapshot object ("SEALFS SNapshot").
const snapshotMagic = "SEALFSSN"

// manifestMagic starts every manifest object ("SEALFS ManiFest").
const manifestMagic = "SEALFSMF"

// snapshotVersion is the format of both objects.
const snapshotVersion = 2

// Snapshot descriptor layout: magic(8) version(2) store ID(16) sequence(8)
// time(8) key ID(16), then the snapshot's DEK wrapped under the snapshot
// key with those 58 bytes as AAD. A version 2 content file follows.
const (
	snapshotFieldsSize = len(snapshotMagic) + 2 + 16 + 8 + 8 + 16
	// SnapshotDescriptorSize is where the snapshot's content file starts.
	SnapshotDescriptorSize = snapshotFieldsSize + WrappedDEKSize
)

// Manifest layout: magic(8) version(2) store ID(16) sequence(8), then
// nonce || AES-256-GCM(manifest key, body) || tag with those 34 bytes as AAD.
const manifestFieldsSize = len(manifestMagic) + 2 + 16 + 8

// SnapshotInfo is what a snapshot says of itself; all of it is
// authenticated by the snapshot's wrapped DEK.
type SnapshotInfo struct {
	StoreID [16]byte
	Seq     uint64
	Time    int64 // Unix nanoseconds
}

func (s SnapshotInfo) fields(keyID KeyID) []byte {
	b := make([]byte, snapshotFieldsSize)
	copy(b, snapshotMagic)
	binary.BigEndian.PutUint16(b[8:], snapshotVersion)
	copy(b[10:], s.StoreID[:])
	binary.BigEndian.PutUint64(b[26:], s.Seq)
	binary.BigEndian.PutUint64(b[34:], uint64(s.Time))
	copy(b[42:], keyID[:])
	return b
}

// CreateSnapshot writes a snapshot descriptor for info at the start of b
// and returns the (empty, version 2) content file that follows it, for the
// caller to write the snapshot's plaintext into and Flush.
func CreateSnapshot(k *MasterKey, b Backing, info SnapshotInfo) (*File, error) {
	w := NewWrapper(k)
	id, err := NewFileID()
	if err != nil {
		return nil, err
	}
	if err := b.Truncate(0); err != nil {
		return nil, fmt.Errorf("create snapshot: %w", err)
	}
	f, err := createFile(w, offsetBacking{b, int64(SnapshotDescriptorSize)}, id, 0, Version)
	if err != nil {
		return nil, fmt.Errorf("create snapshot: %w", err)
	}
	dek, err := w.unwrap(id, f.key.KeyID, f.key.Wrapped)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	desc := info.fields(k.ID())
	sk := k.derive(labelSnapshot, KeySize)
	desc = newAEAD(sk).Seal(desc, nil, dek, desc)
	clear(sk)
	if _, err := b.WriteAt(desc, 0); err != nil {
		return nil, fmt.Errorf("create snapshot: %w", err)
	}
	return f, nil
}

// OpenSnapshot checks the descriptor at the start of b, unwraps the
// snapshot's DEK with the snapshot key (which authenticates the descriptor)
// and opens the content file after it. Anything but a genuine snapshot
// under k is ErrAuth (ErrWrongKey when it names another master key).
func OpenSnapshot(k *MasterKey, b Backing) (SnapshotInfo, *File, error) {
	var info SnapshotInfo
	desc := make([]byte, SnapshotDescriptorSize)
	if n, err := b.ReadAt(desc, 0); n < len(desc) {
		if err == nil || err == io.EOF {
			err = fmt.Errorf("short descriptor: %w", ErrAuth)
		}
		return info, nil, fmt.Errorf("open snapshot: %w", err)
	}
	if string(desc[:8]) != snapshotMagic || binary.BigEndian.Uint16(desc[8:]) != snapshotVersion {
		return info, nil, fmt.Errorf("open snapshot: not a sealfs metadata snapshot: %w", ErrAuth)
	}
	copy(info.StoreID[:], desc[10:])
	info.Seq = binary.BigEndian.Uint64(desc[26:])
	info.Time = int64(binary.BigEndian.Uint64(desc[34:]))
	var keyID KeyID
	copy(keyID[:], desc[42:])
	if keyID != k.ID() {
		return info, nil, fmt.Errorf("open snapshot: sealed under key %s, have key %s: %w", keyID, k.ID(), ErrWrongKey)
	}
	sk := k.derive(labelSnapshot, KeySize)
	dek, err := newAEAD(sk).Open(nil, nil, desc[snapshotFieldsSize:], desc[:snapshotFieldsSize])
	clear(sk)
	if err != nil {
		return info, nil, fmt.Errorf("open snapshot: descriptor: %w", ErrAuth)
	}
	defer clear(dek)
	content := offsetBacking{b, int64(SnapshotDescriptorSize)}
	hdr, err := readHeader(context.Background(), content)
	if err != nil {
		return info, nil, fmt.Errorf("open snapshot: %w", err)
	}
	if hdr.Version < 2 {
		return info, nil, fmt.Errorf("open snapshot: content version %d: %w", hdr.Version, ErrAuth)
	}
	w := NewWrapper(k)
	f, err := OpenFile(w, content, FileKey{KeyID: w.KeyID(), Wrapped: w.wrap(hdr.FileID, dek)})
	if err != nil {
		return info, nil, fmt.Errorf("open snapshot: %w", err)
	}
	return info, f, nil
}

// SealManifest seals a manifest body for the store's manifest number seq.
func (k *MasterKey) SealManifest(storeID [16]byte, seq uint64, body []byte) []byte {
	fields := manifestFields(storeID, seq)
	mk := k.derive(labelManifest, KeySize)
	defer clear(mk)
	return newAEAD(mk).Seal(fields, nil, body, fields)
}

// OpenManifest opens a manifest object: its store ID, number and body, or
// ErrAuth for anything SealManifest under k did not make.
func (k *MasterKey) OpenManifest(b []byte) (storeID [16]byte, seq uint64, body []byte, err error) {
	if len(b) < manifestFieldsSize || string(b[:8]) != manifestMagic || binary.BigEndian.Uint16(b[8:]) != snapshotVersion {
		return storeID, 0, nil, fmt.Errorf("open manifest: not a sealfs manifest: %w", ErrAuth)
	}
	mk := k.derive(labelManifest, KeySize)
	defer clear(mk)
	body, err = newAEAD(mk).Open(nil, nil, b[manifestFieldsSize:], b[:manifestFieldsSize])
	if err != nil {
		return storeID, 0, nil, fmt.Errorf("open manifest: %w", ErrAuth)
	}
	copy(storeID[:], b[10:])
	return storeID, binary.BigEndian.Uint64(b[26:]), body, nil
}

func manifestFields(storeID [16]byte, seq uint64) []byte {
	b := make([]byte, manifestFieldsSize, manifestFieldsSize+1024)
	copy(b, manifestMagic)
	binary.BigEndian.PutUint16(b[8:], snapshotVersion)
	copy(b[10:], storeID[:])
	binary.BigEndian.PutUint64(b[26:], seq)
	return b
}

// offsetBacking is the part of a Backing from base on.
type offsetBacking struct {
	b    Backing
	base int64
}

func (o offsetBacking) ReadAt(p []byte, off int64) (int, error) { return o.b.ReadAt(p, off+o.base) }
func (o offsetBacking) WriteAt(p []byte, off int64) (int, error) {
	return o.b.WriteAt(p, off+o.base)
}
func (o offsetBacking) Truncate(size int64) error { return o.b.Truncate(size + o.base) }
func (o offsetBacking) Stat() (os.FileInfo, error) {
	fi, err := o.b.Stat()
	if err != nil {
		return nil, err
	}
	return offsetInfo{fi, max(0, fi.Size()-o.base)}, nil
}

type offsetInfo struct {
	os.FileInfo
	size int64
}

func (i offsetInfo) Size() int64 { return i.size }
