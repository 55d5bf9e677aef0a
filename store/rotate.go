package store

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/keyslot"
	"github.com/sealfs/sealfs/meta"
	"golang.org/x/sys/unix"
)

// Master key rotation (sealfs key rotate). STORE/rotation.json is written
// first and removed last; while it exists the store is between two keys
// and opens only for Rotation.Run, with either key: the file holds each sealed
// under the other. Every step is idempotent and finds out by itself
// whether it was done, so a rotation cut short at any point is finished
// by running it again. The steps: Badger's key registry, every
// metadata value (and every wrapped DEK in them), the sealed credentials,
// the key slots, the config (which then names the new key). No content
// file is read or written.

// ErrRotating: a rotation was cut short; only Rotate opens the store.
var ErrRotating = errors.New("a master key rotation of this store was cut short: run sealfs key rotate again (with the old key or the new one) to finish it")

func rotationPath(dir string) string { return filepath.Join(dir, "rotation.json") }

// rotationState is rotation.json.
type rotationState struct {
	Version int    `json:"version"`
	From    string `json:"from"` // key IDs
	To      string `json:"to"`
	Next    string `json:"next"` // hex: To sealed under From (crypto.SealKey)
	Prev    string `json:"prev"` // hex: From sealed under To
}

// Rotating reports whether a rotation of the store in dir is under way.
func Rotating(dir string) bool {
	_, err := os.Lstat(rotationPath(dir))
	return err == nil
}

// RotationKeys returns the keys of the rotation under way in dir, given
// either of them; ok is false when there is none.
func RotationKeys(dir string, k *crypto.MasterKey) (old, next *crypto.MasterKey, ok bool, err error) {
	b, err := os.ReadFile(rotationPath(dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("read rotation state: %w", err)
	}
	var st rotationState
	if err := json.Unmarshal(b, &st); err != nil || st.Version != 1 {
		return nil, nil, false, fmt.Errorf("rotation state %s is damaged", rotationPath(dir))
	}
	from, to, err := keyIDs(st.From, st.To)
	if err != nil {
		return nil, nil, false, err
	}
	switch k.ID() {
	case from:
		sealed, err := hex.DecodeString(st.Next)
		if err != nil {
			return nil, nil, false, fmt.Errorf("rotation state %s is damaged", rotationPath(dir))
		}
		next, err := k.OpenKey(sealed, to)
		return k, next, err == nil, err
	case to:
		sealed, err := hex.DecodeString(st.Prev)
		if err != nil {
			return nil, nil, false, fmt.Errorf("rotation state %s is damaged", rotationPath(dir))
		}
		old, err := k.OpenKey(sealed, from)
		return old, k, err == nil, err
	}
	return nil, nil, false, fmt.Errorf("%s: %w (a rotation from key %s to %s is under way)", dir, ErrWrongKey, st.From, st.To)
}

func keyIDs(a, b string) (x, y crypto.KeyID, err error) {
	for i, s := range []string{a, b} {
		id, err := hex.DecodeString(s)
		if err != nil || len(id) != len(x) {
			return x, y, fmt.Errorf("rotation state names a damaged key ID %q", s)
		}
		if i == 0 {
			x = crypto.KeyID(id)
		} else {
			y = crypto.KeyID(id)
		}
	}
	return x, y, nil
}

// Rotation holds a store's exclusive lock (so it is not mounted) for a
// rotation: Begin, then whatever must follow the durable record of the new
// key (replacing a key file), then Run.
type Rotation struct {
	dir  string
	lock *os.File
}

// StartRotation locks the store in dir for a rotation (ErrBusy while it is
// mounted or open).
func StartRotation(dir string) (*Rotation, error) {
	lock, err := lockStore(dir, unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	return &Rotation{dir: dir, lock: lock}, nil
}

// Close releases the lock.
func (r *Rotation) Close() error { return r.lock.Close() }

// Begin records the rotation from old to next (durably, before anything
// is sealed under next). A rotation already under way between the same
// keys is left as it is; another is refused.
func (r *Rotation) Begin(old, next *crypto.MasterKey) error { return beginRotation(r.dir, old, next) }

// BeginRotation is Rotation.Begin for the open store (RotateOpen).
func (s *Store) BeginRotation(old, next *crypto.MasterKey) error {
	return beginRotation(s.Dir, old, next)
}

func beginRotation(dir string, old, next *crypto.MasterKey) error {
	if Rotating(dir) {
		o, n, _, err := RotationKeys(dir, old)
		if err != nil {
			return err
		}
		if o.ID() != old.ID() || n.ID() != next.ID() {
			return ErrRotating
		}
		return nil
	}
	if _, err := CheckKey(dir, old); err != nil {
		return err
	}
	st := rotationState{
		Version: 1, From: old.ID().String(), To: next.ID().String(),
		Next: hex.EncodeToString(old.SealKey(next)),
		Prev: hex.EncodeToString(next.SealKey(old)),
	}
	if err := replaceJSON(rotationPath(dir), st); err != nil {
		return fmt.Errorf("write rotation state: %w", err)
	}
	return nil
}

// RotateReport says what a rotation did.
type RotateReport struct {
	Records, Resealed int
	// Damaged are records that opened under neither key (left as they
	// were; they read as damage).
	Damaged []string
}

// Run moves the store from old to next, after Begin; progress is told how
// many of total records were done. On success the store opens with next
// only, and, if it has a remote, is marked to replace the bucket's
// snapshots (meta.Tx.MarkSnapshotsStale).
func (r *Rotation) Run(old, next *crypto.MasterKey, progress func(done, total int)) (RotateReport, error) {
	var rep RotateReport
	dir := r.dir
	if !Rotating(dir) {
		return rep, fmt.Errorf("%s: no rotation under way", dir)
	}
	cfg, err := ReadConfig(dir)
	if err != nil {
		return rep, err
	}
	cfgKey := old
	if cfg.KeyID == next.ID().String() {
		cfgKey = next
	}
	if cfg, err = CheckKey(dir, cfgKey); err != nil {
		return rep, err
	}

	metaDir := filepath.Join(dir, "meta")
	if err := meta.RotateAtRest(metaDir, old.BadgerKey(), next.BadgerKey()); err != nil {
		return rep, err
	}
	m, err := meta.Open(metaDir, meta.Keys{AtRest: next.BadgerKey(), Values: next.MetaValueKey(), PrevValues: old.MetaValueKey()})
	if err != nil {
		return rep, err
	}
	total, err := m.Count()
	if err != nil {
		m.Close()
		return rep, err
	}
	w := crypto.NewWrapper(old)
	w.Advance(next)
	res, err := m.Reseal(rewrapDEKs(w), func(seen int) {
		if progress != nil {
			progress(min(seen, total), total)
		}
	})
	if err == nil && cfg.Remote != "" {
		err = markSnapshotsStale(m)
	}
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return rep, err
	}
	rep.Records, rep.Resealed, rep.Damaged = res.Seen, res.Written, res.Damaged

	return rep, finishRotation(dir, old, next, cfg)
}

// finishRotation does the steps after the metadata: credentials, key
// slots, config, and the state file's removal.
func finishRotation(dir string, old, next *crypto.MasterKey, cfg Config) error {
	if err := rotateCredentials(dir, old, next, cfg.Remote); err != nil {
		return err
	}
	if err := keyslot.Rotate(dir, cfg.StoreID, old, next); err != nil {
		return fmt.Errorf("rotate key slots: %w", err)
	}
	cfg.KeyID = next.ID().String()
	if err := writeConfig(dir, next, cfg); err != nil {
		return err
	}
	if err := os.Remove(rotationPath(dir)); err != nil {
		return fmt.Errorf("finish rotation: %w", err)
	}
	return syncDir(dir)
}

// rotateCredentials reseals the bucket credentials under next, unless
// that was done.
func rotateCredentials(dir string, old, next *crypto.MasterKey, url string) error {
	sealed, err := ReadSealedCredentials(dir)
	if err != nil || sealed == nil {
		return err
	}
	if _, err := next.OpenCredentials(url, sealed); err == nil {
		return nil
	}
	plain, err := old.OpenCredentials(url, sealed)
	if err != nil {
		return fmt.Errorf("sealed credentials: %w", err)
	}
	defer clear(plain)
	resealed, err := next.SealCredentials(url, plain)
	if err != nil {
		return err
	}
	return WriteSealedCredentials(dir, resealed)
}

// rewrapDEKs rewraps every DEK wrapped under the key w advanced from.
func rewrapDEKs(w *crypto.Wrapper) meta.Rewrite {
	return meta.RewrapContent(func(c *meta.Content) (bool, error) {
		fk := crypto.FileKey{KeyID: crypto.KeyID(c.KeyID), Wrapped: c.WrappedDEK}
		if !w.Stale(fk) {
			return false, nil
		}
		fk, err := crypto.Rewrap(w, w, crypto.FileID(c.FileID), fk)
		if err != nil {
			return false, err
		}
		c.KeyID, c.WrappedDEK = fk.KeyID, fk.Wrapped
		return true, nil
	})
}

// markSnapshotsStale notes that the bucket's snapshots are sealed under
// the old key: the next one starts over (it opens no older manifest) and
// prunes them; until then the mark tells the mount that they are this
// store's.
func markSnapshotsStale(m *meta.Store) error {
	return m.Update(func(tx *meta.Tx) error {
		if since, err := tx.SnapshotsStale(); err != nil || since != 0 {
			return err
		}
		return tx.MarkSnapshotsStale(time.Now())
	})
}

// RotateOpen moves the open (mounted) store from old to next, after
// BeginRotation, while it is in use: from its first step new DEKs are
// wrapped and new values sealed under next, and values read before and
// written back after are moved too (meta.Store.Advance); values under old
// still open, for the life of this Store. A store rotates once per open.
// s.Config keeps naming old (it is read without a lock); the file names
// next, and the next open reads it.
func (s *Store) RotateOpen(old, next *crypto.MasterKey, progress func(done, total int)) (RotateReport, error) {
	var rep RotateReport
	if !Rotating(s.Dir) {
		return rep, fmt.Errorf("%s: no rotation under way", s.Dir)
	}
	if s.Wrapper.KeyID() != old.ID() {
		return rep, fmt.Errorf("%s: the store is open under key %s, not %s", s.Dir, s.Wrapper.KeyID(), old.ID())
	}
	total, err := s.Meta.Count()
	if err != nil {
		return rep, err
	}
	// The metadata first: it refuses a second rotation in one open. A DEK
	// wrapped under old in between is rewrapped by Reseal.
	rewrap := rewrapDEKs(s.Wrapper)
	if err := s.Meta.Advance(next.MetaValueKey(), rewrap); err != nil {
		return rep, fmt.Errorf("%s: %w; unmount and mount it before rotating again", s.Dir, err)
	}
	s.Wrapper.Advance(next)
	res, err := s.Meta.Reseal(rewrap, func(seen int) {
		if progress != nil {
			progress(min(seen, total), total)
		}
	})
	if err != nil {
		return rep, err
	}
	rep.Records, rep.Resealed, rep.Damaged = res.Seen, res.Written, res.Damaged
	if err := s.Meta.RotateAtRestOpen(old.BadgerKey(), next.BadgerKey()); err != nil {
		return rep, err
	}
	if s.Config.Remote != "" {
		if err := markSnapshotsStale(s.Meta); err != nil {
			return rep, err
		}
	}
	return rep, finishRotation(s.Dir, old, next, s.Config)
}
