package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sealfs/sealfs/backup"
	sealfs "github.com/sealfs/sealfs/fs"
	"github.com/sealfs/sealfs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/store"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// archiveTimeFormat names an archive by its UTC start time, to the
// millisecond, so that two backups of one name do not take one name; it
// sorts as the times do.
const archiveTimeFormat = "20060102T150405.000Z"

// archivePerm: backups hold what the sources held, secrets included.
const archivePerm = 0o600

func backupCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup [flags] SRC...",
		Short: "write a tar.gz of directories into the filesystem (/backups/NAME/NAME-<time>.tar.gz)",
		Long: `Write a tar.gz of the sources SRC... into the filesystem as DIR/NAME/NAME-<UTC time>.tar.gz
(DIR is --to, default /backups; NAME is --name, default the first source's base name),
mounted or not.`,
	}
	fl := cmd.Flags()
	var loc location
	loc.register(fl)
	var job backupJob
	job.register(fl)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
		job.Sources = args
		if err := job.validate(); err != nil {
			return err
		}
		if err := loc.resolve(); err != nil {
			return err
		}
		if !store.Exists(loc.store) {
			return badInput("store %s does not exist", loc.store)
		}
		skip, err := ownPaths(loc.store)
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		prog := newProgress(stderr, "archiving", "archived")
		warn := func(msg string) { fmt.Fprintf(stderr, "sealfs backup: warning: %s\n", quoteName(msg)) }
		var sum backupSummary
		err = daemonOrStore(loc, stderr, false, func(c *http.Client) error {
			sum, err = job.make(ctx, skip, prog, warn, func(req writeRequest, body io.Reader) (writeResult, error) {
				var res writeResult
				return res, postWrite(ctx, c, req, body, &res)
			})
			return err
		}, func(st *store.Store, _ *remote.Bucket) error {
			fsys, err := openUnmounted(st, stderr)
			if err != nil {
				return err
			}
			if sum, err = job.make(ctx, skip, prog, warn, storeSink(ctx, st, fsys)); err != nil {
				return err
			}
			return fsys.SyncAll()
		})
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, sum)
		return nil
	}
	return cmd
}

// backupJob is what one backup archives and where it goes.
type backupJob struct {
	Name    string
	To      string // the directory of the backups, in the filesystem
	Sources []string
	Exclude stringList
	Plain   bool // the archives' directory has encryption off
}

func (j *backupJob) register(fl *pflag.FlagSet) {
	fl.StringVar(&j.Name, "name", "", "the backup's name: its archives are DIR/NAME/NAME-<UTC time>.tar.gz (default: the first source's base name)")
	fl.StringVar(&j.To, "to", "/backups", "directory inside the filesystem that holds the backups")
	fl.BoolVar(&j.Plain, "plain", false, "store the archives unencrypted (DIR/NAME gets encryption off), readable from the bucket by other tools")
	fl.Var(&j.Exclude, "exclude", "leave out files matching PATTERN (a name, or a path such as app/cache; * ? [..] wildcards); repeatable")
}

// validate checks j and fills in its defaults.
func (j *backupJob) validate() error {
	if len(j.Sources) == 0 {
		return badInput("give at least one SRC to back up")
	}
	for i, src := range j.Sources {
		if _, err := os.Lstat(src); err != nil {
			return badInput("source %s: %v", quoteName(src), errors.Unwrap(err))
		}
		j.Sources[i] = mustAbs(src)
	}
	if err := backup.CheckPatterns(j.Exclude); err != nil {
		return usageError{err}
	}
	if j.Name == "" {
		j.Name = defaultBackupName(j.Sources[0])
	}
	j.To = path.Clean("/" + j.To)
	return checkBackupName(j.Name)
}

// dir is where j's archives are.
func (j backupJob) dir() string { return path.Join(j.To, j.Name) }

// backupSummary is how a backup went.
type backupSummary struct {
	Path      string        `json:"path"`
	Size      int64         `json:"size"`  // archive bytes
	Files     int64         `json:"files"` // entries archived
	Read      int64         `json:"read"`  // source bytes
	Took      time.Duration `json:"took"`
	Encrypted bool          `json:"encrypted"`
}

func (s backupSummary) String() string {
	enc := "encrypted"
	if !s.Encrypted {
		enc = "not encrypted"
	}
	return fmt.Sprintf("backup %s: %d bytes, %d files (%d bytes read), %s, %s",
		quoteName(s.Path), s.Size, s.Files, s.Read, s.Took.Round(time.Millisecond), enc)
}

// sink stores an archive's bytes as the file a writeRequest names; what it
// stores is all of body or nothing.
type sink func(req writeRequest, body io.Reader) (writeResult, error)

// storeSink writes archives into fsys in this process.
func storeSink(ctx context.Context, st *store.Store, fsys *sealfs.FS) sink {
	return func(req writeRequest, body io.Reader) (writeResult, error) {
		return writeInto(ctx, st, fsys, req, body)
	}
}

// make archives j's sources into DIR/NAME/NAME-<UTC time>.tar.gz through
// store. skip holds paths never read; prog (nil: none) shows progress and
// warn (nil: none) files that vanished.
func (j backupJob) make(ctx context.Context, skip []string, prog progress, warn func(string), store sink) (backupSummary, error) {
	start := time.Now()
	target := path.Join(j.dir(), j.Name+"-"+start.UTC().Format(archiveTimeFormat)+".tar.gz")
	opts := backup.Options{Exclude: j.Exclude, Skip: skip, Warn: warn}
	if prog != nil {
		total, err := backup.Measure(j.Sources, opts)
		if err != nil {
			return backupSummary{}, fmt.Errorf("read the sources: %w", err)
		}
		prog.Start(int(total.Files), total.Bytes)
		defer prog.Done()
		opts.Progress = prog.Add
	}
	pr, pw := io.Pipe()
	counted := &countingWriter{w: pw}
	archived := make(chan archiveResult, 1)
	go func() {
		st, err := backup.Write(ctx, counted, j.Sources, opts)
		pw.CloseWithError(err) // nil: the reader sees EOF
		archived <- archiveResult{st, err}
	}()
	req := writeRequest{Path: target, Perm: archivePerm, Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid()), PlainDir: j.Plain}
	res, werr := store(req, pr)
	pr.CloseWithError(errNotStored) // stops the archive if the store side failed first
	a := <-archived
	switch {
	case ctx.Err() != nil:
		return backupSummary{}, fmt.Errorf("interrupted: no archive was stored")
	case a.err != nil && !errors.Is(a.err, errNotStored):
		return backupSummary{}, fmt.Errorf("%w; no archive was stored", a.err)
	case werr != nil:
		return backupSummary{}, fmt.Errorf("store %s: %w", quoteName(target), werr)
	}
	return backupSummary{
		Path: target, Size: counted.n, Files: a.st.Files, Read: a.st.Bytes,
		Took: time.Since(start), Encrypted: res.Encrypted,
	}, nil
}

// errNotStored ends an archive whose bytes have nowhere to go.
var errNotStored = errors.New("the archive was not stored")

type archiveResult struct {
	st  backup.Stats
	err error
}

// ownPaths are what a backup must not read, since the archive grows
// there while it is read: the store and, when mounted, its mountpoint.
func ownPaths(storeDir string) ([]string, error) {
	skip := []string{storeDir}
	if real, err := filepath.EvalSymlinks(storeDir); err == nil && real != storeDir {
		skip = append(skip, real)
	}
	if c := daemonClient(storeDir); c != nil {
		var r statusReport
		if err := daemonJSON(c, http.MethodGet, "/status", &r); err != nil {
			return nil, err
		}
		if r.Mountpoint != "" {
			skip = append(skip, r.Mountpoint)
		}
	}
	return skip, nil
}

// defaultBackupName is a source's base name, as a name for its backups.
func defaultBackupName(src string) string {
	base := filepath.Base(mustAbs(src))
	if base == "/" || base == "." {
		return "root"
	}
	return base
}

// checkBackupName refuses a name that is not one path element.
func checkBackupName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return badInput("--name %s: want a plain name (no slash)", quoteName(name))
	}
	return nil
}

func mustAbs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// Type names the value in --help, as pflag names its own string lists.
func (l *stringList) Type() string { return "strings" }

// countingWriter counts the bytes through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeRequest asks for a file to be written into the filesystem from
// outside the mount.
type writeRequest struct {
	Path     string
	Perm     uint32
	Uid, Gid uint32
	// PlainDir makes the file's directory (made if missing) one whose
	// encryption is off, before the file is made in it.
	PlainDir bool
}

func (r writeRequest) query() url.Values {
	return url.Values{
		"path": {r.Path}, "perm": {strconv.FormatUint(uint64(r.Perm), 8)},
		"uid": {strconv.FormatUint(uint64(r.Uid), 10)}, "gid": {strconv.FormatUint(uint64(r.Gid), 10)},
		"plain_dir": {strconv.FormatBool(r.PlainDir)},
	}
}

func parseWriteRequest(q url.Values) (writeRequest, error) {
	r := writeRequest{Path: q.Get("path")}
	r.PlainDir, _ = strconv.ParseBool(q.Get("plain_dir"))
	perm, err1 := strconv.ParseUint(q.Get("perm"), 8, 32)
	uid, err2 := strconv.ParseUint(q.Get("uid"), 10, 32)
	gid, err3 := strconv.ParseUint(q.Get("gid"), 10, 32)
	if err := errors.Join(err1, err2, err3); err != nil || r.Path == "" {
		return r, badInput("want path, perm, uid and gid")
	}
	r.Perm, r.Uid, r.Gid = uint32(perm), uint32(uid), uint32(gid)
	return r, nil
}

// writeResult is what writing a file from outside the mount made.
type writeResult struct {
	Size      uint64 `json:"size"`
	Encrypted bool   `json:"encrypted"`
}

// writeInto writes body as the file req names, parents made as needed.
func writeInto(ctx context.Context, st *store.Store, fsys *sealfs.FS, req writeRequest, body io.Reader) (writeResult, error) {
	attrs := sealfs.FileAttrs{Perm: req.Perm, Uid: req.Uid, Gid: req.Gid}
	if req.PlainDir {
		dir, err := fsys.MakeDir(ctx, path.Dir(req.Path), attrs)
		if err != nil {
			return writeResult{}, err
		}
		if err := st.Meta.Update(func(tx *meta.Tx) error { return sealfs.SetEncryption(tx, dir, false) }); err != nil {
			return writeResult{}, err
		}
	}
	in, err := fsys.WriteFile(ctx, req.Path, sealfs.FileAttrs{Perm: req.Perm, Uid: req.Uid, Gid: req.Gid, MakeParents: true}, body)
	if err != nil {
		return writeResult{}, err
	}
	res := writeResult{Size: in.Size}
	err = st.Meta.View(func(tx *meta.Tx) error {
		c, err := tx.Content(in.Ino)
		res.Encrypted = c.Encrypted
		return err
	})
	return res, err
}

// lengthTrailer ends a body sent to POST /write with the number of bytes
// it holds: a body that stops without it (a client that died, a cut
// connection) is not a whole file, however it ends.
const lengthTrailer = "Sealfs-Length"

// postWrite streams body to the daemon as the file req names.
func postWrite(ctx context.Context, c *http.Client, req writeRequest, body io.Reader, out *writeResult) error {
	sent := &trailedBody{r: body}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://sealfs/write?"+req.query().Encode(), sent)
	if err != nil {
		return err
	}
	hr.Trailer = http.Header{lengthTrailer: nil}
	sent.trailer = hr.Trailer
	resp, err := c.Do(hr)
	if err != nil {
		return fmt.Errorf("send to the mounted daemon: %w", err)
	}
	return daemonReply(resp, out)
}

// serveWrite answers POST /write for the daemon: the body becomes the
// file, or nothing does (a cut body included).
func serveWrite(st *store.Store, fsys *sealfs.FS) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, err := parseWriteRequest(r.URL.Query())
		var res writeResult
		if err == nil {
			res, err = writeInto(r.Context(), st, fsys, req, &checkedBody{r: r})
		}
		replyJSON(w, res, err)
	}
}

// trailedBody sets the length trailer once its reader is at its end.
type trailedBody struct {
	r       io.Reader
	n       int64
	trailer http.Header
}

func (b *trailedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if err == io.EOF {
		b.trailer.Set(lengthTrailer, strconv.FormatInt(b.n, 10))
	}
	return n, err
}

// checkedBody reads a request body and ends it with io.EOF only when the
// length trailer came and matches what was read.
type checkedBody struct {
	r *http.Request
	n int64
}

// errCutBody: a body that ended without saying it was complete.
var errCutBody = errors.New("the sender stopped before the end")

func (b *checkedBody) Read(p []byte) (int, error) {
	n, err := b.r.Body.Read(p)
	b.n += int64(n)
	if err == io.EOF && b.r.Trailer.Get(lengthTrailer) != strconv.FormatInt(b.n, 10) {
		err = errCutBody
	}
	return n, err
}
