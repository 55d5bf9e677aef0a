package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Bucket credentials are kept sealed (crypto.MasterKey.SealCredentials):
// never in plaintext on disk.
func credentialsPath(dir string) string { return filepath.Join(dir, "remote.credentials.sealed") }

// WriteSealedCredentials stores sealed bucket credentials, replacing any.
func WriteSealedCredentials(dir string, sealed []byte) error {
	tmp := credentialsPath(dir) + ".tmp"
	if err := writeFileSync(tmp, sealed); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	if err := os.Rename(tmp, credentialsPath(dir)); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	return syncDir(dir)
}

// ReadSealedCredentials returns the sealed credentials, or nil if none were set.
func ReadSealedCredentials(dir string) ([]byte, error) {
	b, err := os.ReadFile(credentialsPath(dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	return b, nil
}
