package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/keyslot"
	"github.com/sealfs/sealfs/meta"
	"github.com/sealfs/sealfs/remote/uploader"
	"github.com/sealfs/sealfs/store"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func shredCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "shred [flags] PATH...",
		Short: "make files unreadable forever: destroy the DEK of every version, everywhere",
		Long: `Destroy the files or directory trees at PATH (paths as in the mount): the DEK of every
version of each file (current, replaced, kept in the trash by retention, and the versions
of files already deleted under PATH) is deleted from the metadata, the files leave the tree,
and their ciphertext is deleted from the store and the bucket. Then the master key is
rotated (as key rotate does) and a new metadata snapshot replaces every one in the bucket,
so no copy of the destroyed DEKs is left under any current key: a copy of the objects kept
anywhere (bucket versioning, object lock, a copied bucket) opens with no key held today.

A copy of the old master key still opens what was sealed under it: destroy old key files,
and where the bucket keeps old object versions, delete the old versions of keyslots and
meta/ (a passphrase opens an old keyslots version). Plain (unencrypted) files are refused:
their copies were readable all along. The store must be unmounted. A shred cut short is
finished by running shred again (with the same or no paths left).`,
	}
	fl := cmd.Flags()
	var loc location
	loc.register(fl)
	yes := fl.Bool("yes", false, "do not ask for confirmation")
	newKeyFile := fl.String("new-key-file", "", "write the new master key to this file (default: replace the key file it was unlocked with)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := loc.resolve(); err != nil {
			return err
		}
		paths := make([]string, len(args))
		for i, a := range args {
			paths[i] = path.Clean("/" + a)
		}
		return shred(&loc, paths, *yes, *newKeyFile, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
	}
	return cmd
}

func shred(loc *location, paths []string, yes bool, newKeyFile string, stdin io.Reader, stdout, stderr io.Writer) error {
	if daemonClient(loc.store) != nil {
		return badInput("%s is mounted: unmount it to shred (a shred rotates the master key, which a running mount cannot do yet)", loc.store)
	}
	s, err := loc.secret()
	if err != nil {
		return err
	}
	defer clear(s.Passphrase)
	key, err := loc.unlockWith(s)
	if errors.Is(err, store.ErrRotating) {
		return badInput("%s: a key rotation was cut short: run sealfs key rotate to finish it, then shred again", loc.store)
	} else if err != nil {
		return err
	}
	if s.Key == nil && newKeyFile == "" {
		// Checked now, not when the rotation refuses it after the DEKs
		// are gone.
		cfg, err := store.ReadConfig(loc.store)
		if err != nil {
			return err
		}
		if f, err := keyslot.Read(loc.store, cfg.StoreID, cfg.KeyID); err == nil && hasKeyFileSlot(f) {
			return badInput("%s has key-file slots and was unlocked with a passphrase: give --new-key-file FILE for the key the shred's rotation makes; nothing was shredded", loc.store)
		}
	}
	st, err := store.Open(loc.store, key)
	if err != nil {
		return err
	}
	mark, err := shredding(st.Meta)
	if err != nil {
		st.Close()
		return err
	}
	var todo []string
	for _, p := range paths {
		err := meta.CheckShred(st.Meta, p)
		switch {
		case errors.Is(err, meta.ErrNotFound) && mark.At != 0:
			fmt.Fprintf(stderr, "sealfs: %s: not in the tree (shredded by the shred being finished?)\n", quoteName(p))
		case errors.Is(err, meta.ErrNotFound):
			st.Close()
			return badInput("%s: no such file in %s", quoteName(p), loc.store)
		case errors.Is(err, meta.ErrPlainFile):
			st.Close()
			return badInput("%v: shredding cannot make copies of plain content unreadable (delete it with rm); nothing was shredded", err)
		case err != nil:
			st.Close()
			return usageError{err}
		default:
			todo = append(todo, p)
		}
	}
	if len(todo) == 0 && mark.At == 0 {
		st.Close()
		return badInput("usage: sealfs shred [flags] PATH...")
	}
	if len(todo) > 0 && !yes {
		if err := confirmShred(stdin, stderr, todo); err != nil {
			st.Close()
			return err
		}
	}
	files, dirs, versions := 0, 0, 0
	for _, p := range todo {
		rep, err := meta.Shred(st.Meta, p, [16]byte(key.ID()), time.Now())
		files += rep.Files
		dirs += rep.Dirs
		versions += len(rep.Versions)
		if err != nil {
			st.Close()
			return fmt.Errorf("shred %s (run shred again to finish it): %w", quoteName(p), err)
		}
		mark = rep.Mark
	}
	removed, err := st.RemoveShreddedData()
	if err == nil {
		err = st.Meta.Sync()
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if len(todo) > 0 {
		fmt.Fprintf(stdout, "shredded %d files and %d directories: the DEKs of %d versions are destroyed, %d ciphertext files deleted from the store\n", files, dirs, versions, removed)
	}
	// Seal it off: no current key may open an earlier copy of the records
	// (Badger's log, the bucket's snapshots).
	next := key
	if mark.Key == [16]byte(key.ID()) {
		rotated, err := rotateKey(loc, s, newKeyFile, stdout, stderr)
		if err != nil && rotated == nil {
			return fmt.Errorf("the DEKs are destroyed, but the key rotation that seals them off did not finish (run sealfs shred again): %w", err)
		}
		if err != nil {
			return fmt.Errorf("the DEKs are destroyed and the key rotated, but the shred is not finished (run sealfs shred again): %w", err)
		}
		next = rotated
	}
	return finishShred(loc.store, next, mark, stdout)
}

// shredding returns the mark of an unfinished shred.
func shredding(m *meta.Store) (mark meta.Shredding, err error) {
	err = m.View(func(tx *meta.Tx) error {
		mark, err = tx.Shredding()
		return err
	})
	return mark, err
}

// confirmShred asks before destroying anything.
func confirmShred(stdin io.Reader, stderr io.Writer, paths []string) error {
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return badInput("shred destroys for good: give --yes to shred without a prompt; nothing was shredded")
	}
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = quoteName(p)
	}
	fmt.Fprintf(stderr, "Shred %s? No key will ever read them again. [y/N] ", strings.Join(quoted, ", "))
	line, _ := bufio.NewReader(stdin).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
		return badInput("not confirmed; nothing was shredded")
	}
	return nil
}

// finishShred deletes the shredded versions' objects from the bucket and
// clears the mark, once the store is under a key the shred did not begin
// under and, with a remote, a snapshot under it replaced the older ones.
func finishShred(dir string, key *crypto.MasterKey, mark meta.Shredding, stdout io.Writer) error {
	st, err := store.Open(dir, key)
	if err != nil {
		return err
	}
	stale, err := snapshotsStale(st.Meta)
	if err == nil && stale != 0 && st.Config.Remote != "" {
		// The rotation's snapshot did not reach the bucket: the old ones,
		// which hold the destroyed DEKs under the old key, are still there.
		st.Close()
		if err := rotateBucket(dir, key); err != nil {
			return fmt.Errorf("the shred is not finished: the bucket still holds snapshots under the old key (run sealfs shred again): %w", err)
		}
		st, err = store.Open(dir, key)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	if st.Config.Remote != "" {
		n, err := deleteShreddedObjects(st, key)
		if err != nil {
			return fmt.Errorf("the DEKs are destroyed and the key rotated, but the shredded objects are still in the bucket (run sealfs shred again; they open with no key): %w", err)
		}
		fmt.Fprintf(stdout, "deleted %d shredded objects from %s\n", n, st.Config.Remote)
	}
	if mark.At == 0 {
		return nil
	}
	if err := st.Meta.Update(func(tx *meta.Tx) error { return tx.ClearShredding(mark.At) }); err != nil {
		return err
	}
	return st.Meta.Sync()
}

// deleteShreddedObjects deletes, under the bucket lease, every data object
// of a shredded version.
func deleteShreddedObjects(st *store.Store, key *crypto.MasterKey) (int, error) {
	ids, err := st.Shredded()
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	bucket, err := openBucket(st.Dir, key, st.Config.Remote, st.Config.Remote)
	if err != nil {
		return 0, err
	}
	defer bucket.Close()
	ctx, cancel := context.WithTimeout(context.Background(), rotateBucketTimeout)
	defer cancel()
	lease, err := uploader.AcquireLease(ctx, bucket, uploader.Holder{Store: storeID(st), Instance: st.Config.Instance}, leaseTTL, false)
	if err != nil {
		return 0, fmt.Errorf("take the bucket lease: %w", err)
	}
	defer lease.Release(context.Background())
	objects, err := uploader.ListObjects(ctx, bucket)
	if err != nil {
		return 0, err
	}
	n := 0
	for id := range objects {
		if !ids[id] {
			continue
		}
		if err := bucket.Delete(ctx, uploader.ObjectKey(id)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
