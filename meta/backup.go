package meta

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/ristretto/v2/z"
	"google.golang.org/protobuf/proto"
)

// Backup writes the latest version of every live record to w, in Badger's
// backup format (keys in the clear, values sealed; the caller seals the
// whole), and returns the highest version written.
//
// Badger's own DB.Backup streams every version not yet compacted away, and
// deletion markers with them. A snapshot must hold only what is current:
// after a key rotation an earlier version is a value sealed under the
// retired key (with DEKs wrapped under it), and after a shred it is the
// destroyed DEK itself.
func (s *Store) Backup(w io.Writer) (uint64, error) {
	stream := s.db.NewStream()
	stream.LogPrefix = "meta.Backup"
	stream.KeyToList = latestOnly
	var last uint64
	stream.Send = func(buf *z.Buffer) error {
		list, err := badger.BufferToKVList(buf)
		if err != nil {
			return err
		}
		out := list.Kv[:0]
		for _, kv := range list.Kv {
			if kv.StreamDone {
				continue
			}
			last = max(last, kv.Version)
			out = append(out, kv)
		}
		list.Kv = out
		return writeKVList(w, list)
	}
	if err := stream.Orchestrate(context.Background()); err != nil {
		return 0, fmt.Errorf("back up metadata: %w", err)
	}
	return last, nil
}

// latestOnly is a stream's KeyToList: the iterator stands on the newest
// version of key; a deleted or expired key yields nothing.
func latestOnly(key []byte, itr *badger.Iterator) (*pb.KVList, error) {
	list := &pb.KVList{}
	if !itr.Valid() {
		return list, nil
	}
	item := itr.Item()
	if !bytes.Equal(item.Key(), key) || item.IsDeletedOrExpired() {
		return list, nil
	}
	a := itr.Alloc
	kv := &pb.KV{Key: a.Copy(key), Version: item.Version(), ExpiresAt: item.ExpiresAt(), UserMeta: a.Copy([]byte{item.UserMeta()})}
	if err := item.Value(func(v []byte) error { kv.Value = a.Copy(v); return nil }); err != nil {
		return nil, err
	}
	list.Kv = append(list.Kv, kv)
	return list, nil
}

// writeKVList writes one list as DB.Load reads it: its size as a
// little-endian uint64, then the protobuf.
func writeKVList(w io.Writer, list *pb.KVList) error {
	b, err := proto.Marshal(list)
	if err != nil {
		return err
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
