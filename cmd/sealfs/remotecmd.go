package main

import (
	"fmt"
	"io"
	"os"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/store"
	"github.com/spf13/cobra"
)

func remoteCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:                   "remote COMMAND",
		Short:                 "set the bucket URL and credentials (remote set URL)",
		DisableFlagsInUseLine: true,
		RunE:                  groupRun,
	}
	cmd.AddCommand(remoteSetCommand())
	return cmd
}

func remoteSetCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "set [flags] URL",
		Short: "set the bucket URL and credentials, used from the next mount",
		Long: `Set the store's bucket, gs://B/P, s3://B/P?endpoint=&region=, azblob://C/P or file:///DIR,
used from the next mount. The bucket must answer before anything is saved; credentials are
stored sealed.`,
	}
	var loc location
	loc.register(cmd.Flags())
	credsFile := cmd.Flags().String("credentials-file", "", "bucket credentials (GCS service account JSON, AWS shared credentials, Azure connection string); stored sealed")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return wrongArgs(cmd)
		}
		if err := loc.resolve(); err != nil {
			return err
		}
		return setRemote(loc, args[0], *credsFile, cmd.ErrOrStderr())
	}
	return cmd
}

// setRemote checks everything (URL, key, credentials, that the bucket
// answers) before it changes the store.
func setRemote(loc location, url, credsFile string, stderr io.Writer) error {
	if _, _, err := remote.ParseURL(url); err != nil {
		return usageError{err}
	}
	key, err := loc.unlock()
	if err != nil {
		return err
	}
	if _, err := store.CheckKey(loc.store, key); err != nil {
		return usageError{err}
	}
	sealed, err := sealCredentialsFile(key, url, credsFile)
	if err != nil {
		return err
	}
	b, err := openBucketWith(key, url, url, sealed)
	if err != nil {
		return err
	}
	b.Close()
	dropped, err := store.SetRemote(loc.store, key, url, sealed)
	if err != nil {
		return err
	}
	if dropped {
		fmt.Fprintf(stderr, "sealfs: the stored credentials were for the old remote and are removed; give --credentials-file for the new one if it needs any\n")
	}
	fmt.Fprintf(stderr, "sealfs: remote set to %s (used from the next mount)\n", b.URL())
	return nil
}

// sealCredentialsFile reads a bucket credentials file and seals it for the
// bucket at url; nil when path is "". The plaintext is cleared at once.
func sealCredentialsFile(key *crypto.MasterKey, url, path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	creds, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError{fmt.Errorf("credentials file: %w", err)}
	}
	defer clear(creds)
	return key.SealCredentials(url, creds)
}
