package meta

import "encoding/binary"

// Key layout. Every key starts with a one-byte table tag; inode numbers are
// big-endian so a prefix scan over a directory returns its entries in name
// order.
const (
	tagInode     = 'i' // i <ino>          -> Inode
	tagEntry     = 'e' // e <dir> <name>   -> Entry
	tagContent   = 'c' // c <ino>          -> Content
	tagXattr     = 'x' // x <ino> <name>   -> raw value
	tagOrphan    = 'o' // o <ino>          -> last path; unlinked while open
	tagUnsettled = 'w' // w <ino>         -> Unsettled; data maybe not durable yet
	tagUpload    = 'u' // u <due> <file id> -> Upload
	tagRetired   = 'r' // r <after> <file id> -> Retired (kept for the retention period)
	tagRekey     = 'm' // m <dir>          -> Rekey (plain copies to move after a rename)
	tagSchedule  = 'S' // S <name>         -> a backup schedule (the schedule package's JSON)
	tagStale     = 'P' // P                -> the bucket's snapshots are under a retired key
	tagShredded  = 'Z' // Z <file id>      -> Shredded: a version whose DEK was destroyed
	tagShredding = 'Q' // Q                -> unix ns of a shred not yet sealed off by a key rotation
	keyInoSeq    = "s/ino"
)

func inoKey(tag byte, ino Ino) []byte {
	k := make([]byte, 9)
	k[0] = tag
	binary.BigEndian.PutUint64(k[1:], uint64(ino))
	return k
}

func namedKey(tag byte, ino Ino, name string) []byte {
	return append(inoKey(tag, ino), name...)
}

// inoFromKey returns the inode number of a key made by inoKey or namedKey;
// 0 (no inode) for a key too short to hold one.
func inoFromKey(k []byte) Ino {
	if len(k) < 9 {
		return 0
	}
	return Ino(binary.BigEndian.Uint64(k[1:9]))
}
