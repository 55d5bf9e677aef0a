package main

import (
	"context"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/sealfs/sealfs/backup"
	"github.com/sealfs/sealfs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/store"
)

// serveDownload answers GET /download?path=P on the web listener: a file's
// plaintext, streamed as it is authenticated, with Range support; a
// directory as a streamed .tar.gz, read through the mount at mnt. No
// plaintext is written anywhere on the way. A failure after the first
// byte aborts the response, so a cut download never looks complete.
func serveDownload(st *store.Store, bucket func() *remote.Bucket, mnt string, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := path.Clean("/" + r.URL.Query().Get("path"))
		var in meta.Inode
		var c meta.Content
		err := st.Meta.View(func(tx *meta.Tx) error {
			ino, err := tx.LookupPath(p)
			if err != nil {
				return err
			}
			if in, err = tx.Inode(ino); err != nil {
				return err
			}
			if in.Mode&syscall.S_IFMT == syscall.S_IFREG {
				c, err = tx.Content(ino)
			}
			return err
		})
		switch {
		case errors.Is(err, meta.ErrNotFound):
			http.Error(w, "no such file or directory", http.StatusNotFound)
			return
		case err != nil:
			http.Error(w, "cannot read the file's record", http.StatusInternalServerError)
			log.Error("download", "path", p, "err", err)
			return
		}
		switch in.Mode & syscall.S_IFMT {
		case syscall.S_IFREG:
			downloadFile(w, r, st, bucket(), p, in, c, log)
		case syscall.S_IFDIR:
			downloadDir(w, r, mnt, p, log)
		default:
			http.Error(w, "only files and directories download", http.StatusBadRequest)
		}
	}
}

// attachment is a Content-Disposition that names the download name.
func attachment(name string) string {
	return mime.FormatMediaType("attachment", map[string]string{"filename": name})
}

func downloadFile(w http.ResponseWriter, r *http.Request, st *store.Store, b *remote.Bucket, p string, in meta.Inode, c meta.Content, log *slog.Logger) {
	plain, done, err := openPlain(st, b, c, in.Size)
	if err != nil {
		log.Error("download", "path", p, "err", err)
		http.Error(w, "the file cannot be read: "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer done()
	name := path.Base(p)
	ctype := mime.TypeByExtension(path.Ext(name))
	if strings.HasSuffix(name, ".tar.gz") || strings.HasSuffix(name, ".tgz") {
		ctype = "application/gzip"
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", attachment(name))
	// ServeContent answers Range and If-Range and sets Content-Length;
	// a read that fails authentication stops the copy short of it.
	cw := &cutWatch{ResponseWriter: w}
	http.ServeContent(cw, r, name, in.ModTime(), plain)
	if cw.short(r) {
		log.Error("download cut: the file failed to read", "path", p)
		panic(http.ErrAbortHandler)
	}
}

// cutWatch counts what an answer wrote, to tell a cut one.
type cutWatch struct {
	http.ResponseWriter
	n int64
}

func (c *cutWatch) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}

// short reports whether a GET's answer wrote less than the Content-Length
// it announced (the whole file or the ranges asked): ServeContent then
// stopped on a read error.
func (c *cutWatch) short(r *http.Request) bool {
	want, err := strconv.ParseInt(c.Header().Get("Content-Length"), 10, 64)
	return r.Method == http.MethodGet && err == nil && c.n < want
}

func downloadDir(w http.ResponseWriter, r *http.Request, mnt, p string, log *slog.Logger) {
	name := path.Base(p)
	if p == "/" {
		name = "sealfs"
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", attachment(name+".tar.gz"))
	src := filepath.Join(mnt, filepath.FromSlash(strings.TrimPrefix(p, "/")))
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	_, err := backup.Write(ctx, w, []string{src}, backup.Options{As: name})
	if err != nil {
		log.Error("download cut", "path", p, "err", err)
		panic(http.ErrAbortHandler) // no closing chunk: the client sees a cut download
	}
}
