package main

import (
	"fmt"
	"io"
	"os"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/store"
)

func runRemote(args []string, stdout, stderr io.Writer) error {
	fl := newFlags("remote", "set URL [--credentials-file FILE] [--store DIR] [--key-file FILE]", stdout)
	var loc location
	loc.register(fl)
	credsFile := fl.String("credentials-file", "", "bucket credentials (GCS service account JSON, AWS shared credentials, Azure connection string); stored sealed")
	if len(args) == 0 || args[0] != "set" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return parseFlags(fl, args)
		}
		return badInput("usage: sealfs remote set URL [--credentials-file FILE]")
	}
	if err := parseFlags(fl, args[1:]); err != nil {
		return err
	}
	if fl.NArg() != 1 {
		return badInput("usage: sealfs remote set URL [--credentials-file FILE]")
	}
	if err := loc.resolve(); err != nil {
		return err
	}
	return setRemote(loc, fl.Arg(0), *credsFile, stderr)
}

// setRemote checks everything (URL, key, credentials, that the bucket
// answers) before it changes the store.
func setRemote(loc location, url, credsFile string, stderr io.Writer) error {
	if _, _, err := remote.ParseURL(url); err != nil {
		return usageError{err}
	}
	key, err := crypto.LoadKeyFile(loc.keyFile)
	if err != nil {
		return usageError{err}
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
