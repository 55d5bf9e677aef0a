package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"syscall"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/cache"
	"github.com/sealfs/sealfs/store"
	"github.com/spf13/cobra"
)

// catErrorTrailer carries a failure that happened after the daemon started
// streaming: the client must not take a cut stream for the whole file.
const catErrorTrailer = "Sealfs-Error"

func catCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cat [flags] PATH",
		Short: "write one file's plaintext to stdout (from the mount, the store or a bucket alone)",
		Long: `Write the plaintext of the file at PATH (as in the mount, /app/db.sql.gz) to stdout: from
the mounted daemon, from the store, or with --remote from the bucket alone. Every byte
written is authenticated; a damaged file is an error, not wrong bytes.`,
	}
	var loc location
	loc.register(cmd.Flags())
	url := cmd.Flags().String("remote", "", "read from this bucket alone (no store needed): its newest snapshot")
	credsFile := cmd.Flags().String("credentials-file", "", "bucket credentials for --remote")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return wrongArgs(cmd)
		}
		p := path.Clean("/" + args[0])
		if err := loc.resolve(); err != nil {
			return err
		}
		if *url != "" {
			return catFromBucket(loc, *url, *credsFile, p, cmd.OutOrStdout(), cmd.ErrOrStderr())
		}
		return catFromStore(loc, p, cmd.OutOrStdout())
	}
	return cmd
}

// catFromStore writes the plaintext of the file at p to stdout, asking the
// daemon when the store of loc is mounted.
func catFromStore(loc location, p string, stdout io.Writer) error {
	if !store.Exists(loc.store) {
		return badInput("store %s does not exist (give --remote URL to read from a bucket alone)", loc.store)
	}
	if c := daemonClient(loc.store); c != nil {
		return catFromDaemon(c, p, stdout)
	}
	st, key, err := openAt(loc, true)
	if err != nil {
		return err
	}
	defer st.Close()
	var b *remote.Bucket
	if st.Config.Remote != "" {
		// Only needed for content that is not local; a bucket that is
		// down is then the error to report.
		if b, err = openBucket(st.Dir, key, st.Config.Remote, st.Config.Remote); err == nil {
			defer b.Close()
		}
	}
	return catTo(stdout, st, b, p)
}

// catTo writes the plaintext of the file at p to w, from the local
// ciphertext or, when it is not local, from bucket b. Every byte written
// was authenticated; an error means w holds a cut copy.
func catTo(w io.Writer, st *store.Store, b *remote.Bucket, p string) error {
	var in meta.Inode
	var c meta.Content
	err := st.Meta.View(func(tx *meta.Tx) error {
		ino, err := resolvePath(tx, p)
		if err != nil {
			return usageError{err}
		}
		if in, err = tx.Inode(ino); err != nil {
			return err
		}
		if in.Mode&syscall.S_IFMT != syscall.S_IFREG {
			return badInput("%s is not a regular file", quoteName(p))
		}
		c, err = tx.Content(ino)
		return err
	})
	if err != nil {
		return err
	}
	plain, done, err := openPlain(st, b, c, in.Size)
	if err != nil {
		return fmt.Errorf("%s: %w", quoteName(p), err)
	}
	defer done()
	if _, err := io.Copy(w, plain); err != nil {
		return fmt.Errorf("%s: %w", quoteName(p), err)
	}
	return nil
}

// openPlain opens the plaintext of version c (size bytes) from the local
// ciphertext or, when it is not local, from bucket b (nil: none). Every
// byte it yields is authenticated; done releases the ciphertext.
func openPlain(st *store.Store, b *remote.Bucket, rec meta.Content, size uint64) (plain *io.SectionReader, done func(), err error) {
	id := crypto.FileID(rec.FileID)
	var backing crypto.Backing
	done = func() {}
	data, err := st.OpenData(id)
	switch {
	case err == nil:
		backing, done = data, func() { data.Close() }
	case errors.Is(err, os.ErrNotExist) && b != nil && rec.PlainCopy():
		// The readable copy is checked whole before a byte of it is used:
		// it is rebuilt in a file that has no name and goes when closed.
		tmp, err := os.CreateTemp(st.TempDir(), "plain-")
		if err != nil {
			return nil, nil, err
		}
		os.Remove(tmp.Name())
		c := cache.New(cache.Config{Meta: st.Meta, Local: st, Bucket: b, Wrapper: st.Wrapper})
		if err := c.FetchPlain(context.Background(), rec, int64(size), tmp); err != nil {
			tmp.Close()
			return nil, nil, err
		}
		backing, done = tmp, func() { tmp.Close() }
	case errors.Is(err, os.ErrNotExist) && b != nil:
		if backing, err = cache.New(cache.Config{Meta: st.Meta, Local: st, Bucket: b}).OpenRemote(context.Background(), id); err != nil {
			return nil, nil, err
		}
	case errors.Is(err, os.ErrNotExist):
		return nil, nil, errors.New("content is missing (not local, and no bucket to read it from)")
	default:
		return nil, nil, err
	}
	f, err := crypto.OpenFile(st.Wrapper, backing, crypto.FileKey{KeyID: rec.KeyID, Wrapped: rec.WrappedDEK})
	if err == nil && (f.Header().FileID != id || uint64(f.Size()) != size) {
		err = crypto.ErrAuth
	}
	if err != nil {
		done()
		return nil, nil, err
	}
	return io.NewSectionReader(f, 0, f.Size()), done, nil
}

func catFromDaemon(c *http.Client, p string, w io.Writer) error {
	resp, err := c.Get("http://sealfs/cat?" + url.Values{"path": {p}}.Encode())
	if err != nil {
		return fmt.Errorf("ask the mounted daemon: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		err := fmt.Errorf("%s", trimNewline(string(msg)))
		if resp.StatusCode == http.StatusBadRequest {
			return usageError{err}
		}
		return err
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return err
	}
	if msg := resp.Trailer.Get(catErrorTrailer); msg != "" {
		return errors.New(msg)
	}
	return nil
}

// serveCat answers GET /cat for the daemon: the last saved version.
func serveCat(st *store.Store, sy *syncer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", catErrorTrailer)
		pw := &probeWriter{w: w}
		err := catTo(pw, st, sy.bucketOrNil(), path.Clean("/"+r.URL.Query().Get("path")))
		switch {
		case err == nil:
		case !pw.wrote && errors.As(err, new(usageError)):
			http.Error(w, err.Error(), http.StatusBadRequest)
		case !pw.wrote:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			w.Header().Set(catErrorTrailer, err.Error())
		}
	}
}

// probeWriter notes whether anything was written, so an error can still
// become a status code.
type probeWriter struct {
	w     io.Writer
	wrote bool
}

func (p *probeWriter) Write(b []byte) (int, error) {
	p.wrote = true
	return p.w.Write(b)
}

// catFromBucket reads one file with the bucket and the key alone.
func catFromBucket(loc location, url, credsFile, p string, stdout, stderr io.Writer) error {
	v, err := openBucketView(loc, url, credsFile)
	if err != nil {
		return err
	}
	defer v.Close()
	st, err := store.Open(v.dir, v.key)
	if err != nil {
		return err
	}
	defer st.Close()
	return catTo(stdout, st, v.bucket, p)
}
