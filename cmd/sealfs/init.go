package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/store"
	"github.com/spf13/cobra"
)

func initCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "init [flags]",
		Short: "create a new store and master key",
		Long:  "Create a new store and a new master key; refuse to overwrite either.",
	}
	var loc location
	loc.register(cmd.Flags())
	remoteURL := cmd.Flags().String("remote", "", "bucket URL to upload to (see sealfs remote set)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) != 0 {
			return badInput("unexpected argument %q", args[0])
		}
		return initWithRemote(loc, *remoteURL, cmd.ErrOrStderr())
	}
	return cmd
}

// initWithRemote creates the store of loc, checking first that the bucket
// at remoteURL (if any) answers, and sets it as the store's remote.
func initWithRemote(loc location, remoteURL string, stderr io.Writer) error {
	if err := loc.resolve(); err != nil {
		return err
	}
	if store.Exists(loc.store) {
		return badInput("store %s already exists; refusing to overwrite it", loc.store)
	}
	if _, err := os.Lstat(loc.keyFile); err == nil {
		return badInput("key file %s already exists; refusing to overwrite it", loc.keyFile)
	}
	if remoteURL != "" {
		if _, _, err := remote.ParseURL(remoteURL); err != nil {
			return usageError{err}
		}
		// As remote set does: a bucket that does not answer is found
		// now, before anything is created, not at the first mount.
		b, err := openBucketWith(nil, remoteURL, remoteURL, nil)
		if err != nil {
			return fmt.Errorf("%w; nothing was created", err)
		}
		b.Close()
	}
	if err := initStore(loc, stderr); err != nil {
		return err
	}
	if remoteURL == "" {
		return nil
	}
	key, err := crypto.LoadKeyFile(loc.keyFile)
	if err != nil {
		return err
	}
	_, err = store.SetRemote(loc.store, key, remoteURL, nil)
	return err
}

// initStore creates the key file (unless one exists) and the store. The
// warning goes to stderr so it is seen even when stdout is captured.
func initStore(loc location, stderr io.Writer) error {
	key, err := crypto.LoadKeyFile(loc.keyFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if key, err = crypto.CreateKeyFile(loc.keyFile); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "sealfs: created master key %s\n", loc.keyFile)
		fmt.Fprintf(stderr, "sealfs: WARNING: keep a copy of this key somewhere safe; without it the data in %s cannot be read by anyone\n", loc.store)
	case err != nil:
		return usageError{err}
	}
	if err := store.Init(loc.store, key); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "sealfs: created store %s\n", loc.store)
	return nil
}
