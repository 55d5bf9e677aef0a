package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/keyslot"
	"github.com/sealfs/sealfs/meta"
	"github.com/sealfs/sealfs/remote/snapshot"
	"github.com/sealfs/sealfs/remote/uploader"
	"github.com/sealfs/sealfs/store"
	"github.com/spf13/cobra"
)

// mountedRotation turns on rotation through the daemon. It is off: a
// transaction that sets a new key before meta.Store.Advance and commits
// after Reseal passed it leaves a value under the old key (review of
// efe07c1); Advance must first wait out the transactions in flight.
const mountedRotation = false

// rotateBucketTimeout bounds the bucket step of a rotation (one snapshot).
const rotateBucketTimeout = 10 * time.Minute

func keyRotateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate [flags]",
		Short: "replace the master key, rewrapping every DEK; no file content is rewritten or uploaded",
		Long: `Replace the store's master key with a new random one. Every DEK is rewrapped and every
metadata value, the bucket credentials, the key slots and Badger's own encryption are
resealed under the new key; with a remote, a new metadata snapshot is uploaded and the
ones sealed under the old key are deleted. No file content is read, rewritten or uploaded
again: the cost grows with the number of files, not their size.

Passphrase and recovery-code slots keep their secrets. The key file it is unlocked with
is replaced by one holding the new key (mode 0600, in one rename); a store unlocked by
passphrase that has key-file slots needs --new-key-file. Other copies of the old key file
open nothing current afterwards.

The store must be unmounted (rotation through a running mount is turned off). A rotation
cut short (kill -9, power loss) leaves the store refusing to open until key rotate is run
again, with the old key or the new one: it finishes the same rotation.`,
	}
	fl := cmd.Flags()
	var loc location
	loc.register(fl)
	newKeyFile := fl.String("new-key-file", "", "write the new master key to this file (default: replace the key file it was unlocked with)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) != 0 {
			return wrongArgs(cmd)
		}
		if err := loc.resolve(); err != nil {
			return err
		}
		s, err := loc.secret()
		if err != nil {
			return err
		}
		defer clear(s.Passphrase)
		_, err = rotateKey(&loc, s, *newKeyFile, cmd.OutOrStdout(), cmd.ErrOrStderr())
		return err
	}
	return cmd
}

// rotateKey rotates the master key of the store loc names, unlocked with
// s, and returns the new key.
func rotateKey(loc *location, s keyslot.Secret, newKeyFile string, stdout, stderr io.Writer) (*crypto.MasterKey, error) {
	cfg, err := store.ReadConfig(loc.store)
	if errors.Is(err, store.ErrNotExist) {
		return nil, usageError{err}
	} else if err != nil {
		return nil, err
	}
	if cfg.Format < 2 || cfg.StoreID == "" {
		return nil, badInput("%s: store has format %d; mount it once to upgrade it first", loc.store, cfg.Format)
	}
	daemon := daemonClient(loc.store)
	if daemon != nil && !mountedRotation {
		return nil, badInput("%s is mounted: unmount it to rotate its key (rotation through a running mount is turned off until a race it has is fixed)", loc.store)
	}
	var r *store.Rotation
	if daemon == nil {
		if r, err = store.StartRotation(loc.store); err != nil {
			return nil, usageError{err}
		}
		defer r.Close()
	}
	old, next, resumed, err := rotationKeys(loc, cfg, s)
	if err != nil {
		return nil, err
	}
	target, err := newKeyTarget(loc, cfg, s, newKeyFile, old, next)
	if err != nil {
		return nil, err
	}
	replaceKey := func() error {
		if target == "" {
			return nil
		}
		return crypto.ReplaceKeyFile(target, next)
	}
	if resumed {
		fmt.Fprintf(stderr, "sealfs: finishing the rotation from key %s to key %s that was cut short\n", old.ID(), next.ID())
	}
	bar := newCountProgress(stderr, "resealing", "resealed", "records")
	var rep store.RotateReport
	var bucketErr error
	if daemon != nil {
		var msg string
		if rep, msg, err = rotateMounted(daemon, old, next, replaceKey, bar); err != nil {
			return nil, err
		}
		if msg != "" {
			bucketErr = errors.New(msg)
		}
	} else {
		if rep, err = rotateUnmounted(r, old, next, replaceKey, bar); err != nil {
			return nil, err
		}
		if err := r.Close(); err != nil {
			return nil, err
		}
		if cfg.Remote != "" {
			bucketErr = rotateBucket(loc.store, next)
		}
	}
	fmt.Fprintf(stdout, "rotated the master key of %s from %s to %s: %d records looked at, %d resealed; no file content read or written\n",
		loc.store, old.ID(), next.ID(), rep.Records, rep.Resealed)
	if target != "" {
		fmt.Fprintf(stdout, "the new key is in %s; other copies of the old key file open nothing current\n", target)
	}
	if len(rep.Damaged) > 0 {
		fmt.Fprintf(stderr, "sealfs: %d records opened under neither key and were left as they were (run sealfs check): first %s\n", len(rep.Damaged), rep.Damaged[0])
	}
	if cfg.Remote == "" {
		return next, nil
	}
	if bucketErr != nil {
		return next, fmt.Errorf("the store is rotated, but the bucket still holds the snapshots sealed under the old key (the next snapshot replaces them): %w", bucketErr)
	}
	fmt.Fprintf(stdout, "uploaded a metadata snapshot under the new key to %s and deleted the ones under the old key\n", cfg.Remote)
	return next, nil
}

// rotateUnmounted runs a rotation of the store r locks.
func rotateUnmounted(r *store.Rotation, old, next *crypto.MasterKey, replaceKey func() error, bar progress) (store.RotateReport, error) {
	if err := r.Begin(old, next); err != nil {
		return store.RotateReport{}, err
	}
	if err := replaceKey(); err != nil {
		return store.RotateReport{}, err
	}
	started, last := false, 0
	rep, err := r.Run(old, next, func(done, total int) {
		if !started {
			bar.Start(total, 0)
			started = true
		}
		bar.Add(done-last, 0)
		last = done
	})
	if started {
		bar.Done()
	}
	return rep, err
}

// rotationKeys returns the old and the new master key: the rotation's
// that was cut short (resumed), given either key, or the key s unlocks
// and a new random one.
func rotationKeys(loc *location, cfg store.Config, s keyslot.Secret) (old, next *crypto.MasterKey, resumed bool, err error) {
	if !store.Rotating(loc.store) {
		if old, err = loc.unlockWith(s); err != nil {
			return nil, nil, false, err
		}
		next, err = crypto.GenerateMasterKey()
		return old, next, false, err
	}
	k := s.Key
	if k == nil {
		// The slot file is sealed under either key by now; Unlock checks it
		// under the key it opens.
		f, err := keyslot.Read(loc.store, cfg.StoreID, cfg.KeyID)
		if err != nil {
			return nil, nil, false, usageError{err}
		}
		if k, _, err = f.Unlock(s); err != nil {
			return nil, nil, false, unlockError(loc.store, s, err)
		}
	}
	old, next, _, err = store.RotationKeys(loc.store, k)
	if errors.Is(err, crypto.ErrWrongKey) || errors.Is(err, store.ErrWrongKey) {
		return nil, nil, false, usageError{err}
	}
	return old, next, true, err
}

// newKeyTarget is the key file the new key goes to: --new-key-file, or
// the key file the store was unlocked with, or none (a store unlocked by
// passphrase without key-file slots). A file there must hold one of the
// two keys: another key is not overwritten.
func newKeyTarget(loc *location, cfg store.Config, s keyslot.Secret, flag string, old, next *crypto.MasterKey) (string, error) {
	f, err := keyslot.Read(loc.store, cfg.StoreID, cfg.KeyID)
	if err != nil {
		return "", usageError{err}
	}
	hasKeyFile := hasKeyFileSlot(f)
	target := flag
	switch {
	case target == "" && s.Key != nil:
		target = loc.keyFile
	case target == "" && hasKeyFile:
		return "", badInput("%s has key-file slots and was unlocked with a passphrase: give --new-key-file FILE to write the new key to (the old key file stops working)", loc.store)
	case target != "" && !hasKeyFile:
		return "", badInput("%s has no key-file slot, so a key file would not unlock it: drop --new-key-file, or add a key-file slot first (key add --key-file)", loc.store)
	}
	if target == "" {
		return "", nil
	}
	cur, err := crypto.LoadKeyFile(target)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return target, nil
	case err != nil:
		return "", usageError{err}
	case cur.ID() != old.ID() && cur.ID() != next.ID():
		return "", badInput("%s holds another key (%s), not this store's: it is not overwritten", target, cur.ID())
	}
	return target, nil
}

func hasKeyFileSlot(f *keyslot.File) bool {
	for _, sl := range f.Slots {
		if sl.Kind == keyslot.KeyFile {
			return true
		}
	}
	return false
}

// rotateBucket uploads a snapshot of the rotated store, sealed under next,
// with its key slots; the snapshot writer then deletes every older
// generation (sealed under the old key, it opens no manifest of theirs).
func rotateBucket(dir string, next *crypto.MasterKey) error {
	st, err := store.Open(dir, next)
	if err != nil {
		return err
	}
	defer st.Close()
	bucket, err := openBucket(st.Dir, next, st.Config.Remote, st.Config.Remote)
	if err != nil {
		return err
	}
	defer bucket.Close()
	ctx, cancel := context.WithTimeout(context.Background(), rotateBucketTimeout)
	defer cancel()
	lease, err := uploader.AcquireLease(ctx, bucket, uploader.Holder{Store: storeID(st), Instance: st.Config.Instance}, leaseTTL, false)
	if err != nil {
		return fmt.Errorf("take the bucket lease: %w", err)
	}
	defer lease.Release(context.Background())
	up := uploader.New(uploader.Config{
		Meta: st.Meta, Data: st, Bucket: bucket, Wrapper: st.Wrapper,
		Snapshots: &snapshot.Writer{Bucket: bucket, Key: next, StoreID: st.ID(), TempDir: st.TempDir()},
		KeySlots:  func() ([]byte, error) { return readSlotFile(st.Dir) },
	})
	if err := up.Snapshot(ctx); err != nil {
		return err
	}
	return clearSnapshotsStale(st.Meta)
}

// snapshotsStale returns the mark a rotation left (zero: none).
func snapshotsStale(m *meta.Store) (since int64, err error) {
	err = m.View(func(tx *meta.Tx) error {
		since, err = tx.SnapshotsStale()
		return err
	})
	return since, err
}

// clearSnapshotsStale removes the mark once a snapshot under the current
// key is in the bucket.
func clearSnapshotsStale(m *meta.Store) error {
	since, err := snapshotsStale(m)
	if err != nil || since == 0 {
		return err
	}
	return m.Update(func(tx *meta.Tx) error { return tx.ClearSnapshotsStale(since) })
}
