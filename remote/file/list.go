package file

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sealfs/sealfs/remote/driver"
)

// List walks the folder that holds every key with prefix, then sorts: a
// walk visits "a/b/3" before "a/b-x", but object stores order whole keys
// by their bytes and '-' < '/'.
func (b *bucket) List(ctx context.Context, prefix string, fn func(driver.Attributes) error) (err error) {
	defer func() { err = b.reachable(err) }()
	var found []driver.Attributes
	start := filepath.Join(b.root, filepath.FromSlash(path.Dir("./"+prefix)))
	err = filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			// Gone or replaced while walking: a concurrent Delete.
			if errors.Is(err, fs.ErrNotExist) || isNotDir(err) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), tmpPrefix) || !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(b.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		found = append(found, attributes(key, fi))
		return nil
	})
	if err != nil {
		return classify(err)
	}
	// A walk of a folder that vanished finds nothing: that is an outage,
	// not an empty bucket.
	if _, err := os.Stat(b.root); err != nil {
		return classify(err)
	}
	slices.SortFunc(found, func(x, y driver.Attributes) int { return strings.Compare(x.Key, y.Key) })
	for _, a := range found {
		if err := fn(a); err != nil {
			return err
		}
	}
	return nil
}
