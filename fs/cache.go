package fs

import (
	"errors"
	"os"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
)

// openVersion opens the ciphertext of version id: the local file, or, when
// the cache evicted it, the bucket object (only ever for a synced version:
// nothing else is evicted).
func (f *FS) openVersion(id crypto.FileID, c meta.Content) (DataFile, error) {
	data, err := f.data.OpenData(id)
	if err == nil {
		if f.cache != nil {
			f.cache.Used(id)
		}
		return data, nil
	}
	if errors.Is(err, os.ErrNotExist) && f.cache != nil && c.Sync == meta.SyncSynced {
		return f.cache.OpenRemote(id)
	}
	return nil, err
}
