package meta

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// ErrNotFound is returned when a record does not exist.
var ErrNotFound = errors.New("not found")

// ErrWrongKey is returned by Open when the store was encrypted with another key.
var ErrWrongKey = errors.New("metadata store is encrypted with another key")

// ErrNeedsRecovery is returned by OpenReadOnly for a database that was not
// closed cleanly.
var ErrNeedsRecovery = errors.New("metadata store was not closed cleanly and needs recovery")

// errReadOnly is returned by writes to a store opened with OpenReadOnly.
var errReadOnly = errors.New("metadata store is open read-only")

// maxConflictRetries bounds Update's retries after a Badger write conflict.
const maxConflictRetries = 64

// Store is the metadata database. It is safe for concurrent use.
type Store struct {
	dir    string
	db     *badger.DB
	s      *sealer
	inoSeq *badger.Sequence
	// inoFloor is the highest inode number in use at open: the sequence's
	// own value is Badger's and unsealed, so NextIno never trusts it to be
	// above every number already given out.
	inoFloor Ino

	mu    sync.Mutex
	dirty bool // committed writes not yet synced to disk
}

// Keys are what a store is opened with: Badger's encryption-at-rest key and
// the key that seals every value (32 bytes each, derived from the master key).
type Keys struct {
	AtRest []byte
	Values []byte
	// PrevValues, during a key rotation, is the previous value key:
	// values it sealed still open, until Reseal has resealed them.
	PrevValues []byte
}

// Open opens (creating if needed) the metadata store in dir. Memory use is
// kept small: sealfs runs beside the workloads it backs up.
func Open(dir string, keys Keys) (*Store, error) {
	s, err := newSealer(keys.Values, keys.PrevValues)
	if err != nil {
		return nil, err
	}
	db, err := openDB(dir, keys.AtRest, false)
	if err != nil {
		return nil, err
	}
	st := &Store{db: db, s: s, dir: dir}
	if st.inoFloor, err = st.maxIno(); err != nil {
		db.Close()
		return nil, err
	}
	if st.inoSeq, err = db.GetSequence([]byte(keyInoSeq), 256); err != nil {
		db.Close()
		return nil, fmt.Errorf("open inode sequence: %w", err)
	}
	return st, nil
}

// maxIno returns the highest inode number with an inode record.
func (s *Store) maxIno() (Ino, error) {
	var max Ino
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{tagInode}, Reverse: true})
		defer it.Close()
		it.Seek(inoKey(tagInode, ^Ino(0)))
		if it.Valid() {
			max = inoFromKey(it.Item().Key())
		}
		return nil
	})
	return max, err
}

// OpenReadOnly opens the store for commands that only look (ls, status):
// Badger then writes no table, MANIFEST or log, so looking at a backup
// never changes it. Update and NextIno fail.
//
// A database whose last writer crashed has a log with an unreplayed tail,
// which Badger will not open read-only: that is ErrNeedsRecovery, and one
// Open and Close recovers it (as the next mount would).
func OpenReadOnly(dir string, keys Keys) (*Store, error) {
	s, err := newSealer(keys.Values, keys.PrevValues)
	if err != nil {
		return nil, err
	}
	if empty, err := emptyValueLogs(dir); err != nil {
		return nil, fmt.Errorf("open metadata store %s: %w", dir, err)
	} else if len(empty) > 0 {
		return nil, fmt.Errorf("%s: %w", dir, ErrNeedsRecovery)
	}
	db, err := openDB(dir, keys.AtRest, true)
	// Badger formats the cause into the message (%+v), so only the text
	// tells this case apart.
	if err != nil && strings.Contains(err.Error(), badger.ErrTruncateNeeded.Error()) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNeedsRecovery)
	}
	if err != nil {
		return nil, err
	}
	return &Store{db: db, s: s, dir: dir}, nil
}

// dataKeyLifetime is how long Badger keeps one data key for new tables.
// Badger appends a new data key to its open key registry file when the
// newest expires; a rotation of a running store replaces that file (under
// the new at-rest key) while the database is open, and a key appended to
// the replaced file afterwards would be lost with it. So a data key lives
// longer than any mount (a new one is made at an open past that age). It
// must stay well under the time since 1970: Badger measures a registry
// with no key yet from there, and an unexpired "no key" is no encryption
// (TestNamesAreEncryptedAtRest). Data keys are random AES-256 keys under
// random IVs: their age is not what protects the data.
const dataKeyLifetime = 10 * 365 * 24 * time.Hour

func openDB(dir string, key []byte, readOnly bool) (*badger.DB, error) {
	opts := badger.DefaultOptions(dir).
		WithEncryptionKey(key).
		WithLogger(nil).
		WithReadOnly(readOnly).
		WithSyncWrites(false).
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(4).
		WithNumLevelZeroTablesStall(8).
		WithBaseTableSize(4 << 20).
		WithValueLogFileSize(64 << 20).
		WithBlockCacheSize(16 << 20).
		WithIndexCacheSize(16 << 20).
		WithNumCompactors(2).
		WithEncryptionKeyRotationDuration(dataKeyLifetime)
	if !readOnly {
		if err := removeEmptyValueLogs(dir); err != nil {
			return nil, fmt.Errorf("open metadata store %s: %w", dir, err)
		}
	}
	db, err := badger.Open(opts)
	if err != nil {
		if errors.Is(err, badger.ErrEncryptionKeyMismatch) {
			return nil, ErrWrongKey
		}
		return nil, fmt.Errorf("open metadata store %s: %w", dir, err)
	}
	return db, nil
}

// Close releases the inode sequence and closes the database; it syncs first.
func (s *Store) Close() error {
	var err error
	if s.inoSeq != nil {
		err = s.inoSeq.Release()
	}
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// NextIno allocates a fresh inode number. Numbers lost in a crash are
// skipped, never reused.
func (s *Store) NextIno() (Ino, error) {
	if s.inoSeq == nil {
		return 0, errReadOnly
	}
	for {
		n, err := s.inoSeq.Next()
		if err != nil {
			return 0, fmt.Errorf("allocate inode number: %w", err)
		}
		if Ino(n) > RootIno && Ino(n) > s.inoFloor {
			return Ino(n), nil
		}
	}
}

// Update runs fn in a read-write transaction and commits it, retrying on
// write conflicts with concurrent transactions. fn may run more than once.
func (s *Store) Update(fn func(*Tx) error) error {
	for range maxConflictRetries {
		err := s.db.Update(func(txn *badger.Txn) error { return fn(&Tx{txn: txn, s: s.s}) })
		if errors.Is(err, badger.ErrConflict) {
			continue
		}
		if err == nil {
			s.mu.Lock()
			s.dirty = true
			s.mu.Unlock()
		}
		return err
	}
	return fmt.Errorf("metadata update: too many conflicts")
}

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(*Tx) error) error {
	return s.db.View(func(txn *badger.Txn) error { return fn(&Tx{txn: txn, s: s.s}) })
}

// Sync makes every committed transaction durable on disk.
func (s *Store) Sync() error {
	s.mu.Lock()
	s.dirty = false
	s.mu.Unlock()
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("sync metadata: %w", err)
	}
	return nil
}

// SyncIfDirty syncs only when something was committed since the last sync;
// the daemon calls it about once a second (group commit).
func (s *Store) SyncIfDirty() error {
	s.mu.Lock()
	dirty := s.dirty
	s.mu.Unlock()
	if !dirty {
		return nil
	}
	return s.Sync()
}

// CommitVersion grows with every committed change; equal values mean
// nothing changed in between.
func (s *Store) CommitVersion() uint64 {
	return s.db.MaxVersion()
}

// removeEmptyValueLogs deletes value log files of zero bytes. Badger makes
// a new value log at every open, and a kill between creating the file and
// sizing it leaves it empty; every later open then fails on it ("Create a
// new file"). An empty file holds no entry and no header, so no value
// pointer can lead into it. A read-only open reports such a store as
// needing recovery, which a read-write open does.
func removeEmptyValueLogs(dir string) error {
	empty, err := emptyValueLogs(dir)
	for _, p := range empty {
		if err == nil {
			err = os.Remove(p)
		}
	}
	return err
}

func emptyValueLogs(dir string) ([]string, error) {
	logs, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil {
		return nil, err
	}
	var empty []string
	for _, p := range logs {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if fi.Size() == 0 {
			empty = append(empty, p)
		}
	}
	return empty, nil
}
