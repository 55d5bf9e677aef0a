package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	sealfs "github.com/sealfs/sealfs/fs"
	"github.com/sealfs/sealfs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/store"
	"github.com/spf13/cobra"
)

func versionsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "versions [flags] PATH",
		Short: "list the kept versions of a file: current, replaced and deleted",
		Long: `List every kept version of the file at PATH, newest first: VERSION STATE (current,
replaced, deleted) SIZE MODIFIED RETIRED KEPT UNTIL ENCRYPTED WHERE (local, bucket).`,
	}
	fl := cmd.Flags()
	var loc location
	loc.register(fl)
	asJSON := fl.Bool("json", false, "print JSON instead of a table")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
		if len(args) != 1 {
			return wrongArgs(cmd)
		}
		if err := loc.resolve(); err != nil {
			return err
		}
		p := path.Clean("/" + args[0])
		var rows []versionRow
		err := daemonOrStore(loc, stderr, true, func(c *http.Client) error {
			return daemonJSON(c, http.MethodGet, "/versions?"+url.Values{"path": {p}}.Encode(), &rows)
		}, func(st *store.Store, b *remote.Bucket) (err error) {
			rows, err = fileHistory(context.Background(), st, b, p)
			return err
		})
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(rows)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tSTATE\tSIZE\tMODIFIED\tRETIRED\tKEPT UNTIL\tENCRYPTED\tWHERE")
		when := func(t *time.Time) string {
			if t == nil {
				return "-"
			}
			return t.Local().Format(time.DateTime)
		}
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", r.ID[:8], r.State, r.Size,
				r.Modified.Local().Format(time.DateTime), when(r.Retired), when(r.KeptUntil), strconv.FormatBool(r.Encrypted), r.Where)
		}
		return tw.Flush()
	}
	return cmd
}

func undeleteCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "undelete [flags] PATH",
		Short: "bring back a deleted file or an earlier version of one",
		Long: `Write a kept version of the file at PATH (default: the newest one that is not current)
back to PATH, or to --to NEWPATH, with its mode, owner and time, mounted or not.`,
	}
	fl := cmd.Flags()
	var loc location
	loc.register(fl)
	id := fl.String("version", "", "the version to bring back, by ID or a unique prefix (default: the newest one that is not current; see sealfs versions)")
	to := fl.String("to", "", "write it to this path instead of PATH (parent directories are made)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
		if len(args) != 1 {
			return wrongArgs(cmd)
		}
		if err := loc.resolve(); err != nil {
			return err
		}
		req := undeleteRequest{Path: path.Clean("/" + args[0]), Version: *id, To: *to}
		if req.To != "" {
			req.To = path.Clean("/" + req.To)
		}
		var res undeleteResult
		err := daemonOrStore(loc, stderr, true, func(c *http.Client) error {
			return daemonJSON(c, http.MethodPost, "/undelete?"+req.query().Encode(), &res)
		}, func(st *store.Store, b *remote.Bucket) error {
			fsys, err := openUnmounted(st, stderr)
			if err != nil {
				return err
			}
			if res, err = undelete(context.Background(), st, fsys, b, req); err != nil {
				return err
			}
			return fsys.SyncAll()
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "restored %s from %s\n", quoteName(res.Path), res.From)
		if res.Replaced {
			fmt.Fprintf(stdout, "the file it replaced is kept as a version: sealfs versions %s\n", quoteName(res.Path))
		}
		return nil
	}
	return cmd
}

// undeleteRequest names what to bring back and where.
type undeleteRequest struct {
	Path, Version, To string
}

func (r undeleteRequest) query() url.Values {
	return url.Values{"path": {r.Path}, "version": {r.Version}, "to": {r.To}}
}

// undeleteResult says what undelete did.
type undeleteResult struct {
	Path     string `json:"path"`     // where the file is now
	From     string `json:"from"`     // the version it came from, described
	Replaced bool   `json:"replaced"` // a file was at Path and is now a retired version
}

// undelete writes a kept version of req.Path back, as a new version of
// req.To (default req.Path), through fsys so that a mount sees it at once.
// The old version is read and authenticated as it is written; nothing at
// the target changes unless all of it was.
func undelete(ctx context.Context, st *store.Store, fsys *sealfs.FS, b *remote.Bucket, req undeleteRequest) (undeleteResult, error) {
	rows, err := fileHistory(ctx, st, b, req.Path)
	if err != nil {
		return undeleteResult{}, err
	}
	v, err := pickVersion(rows, req.Version)
	if err != nil {
		return undeleteResult{}, err
	}
	target := req.To
	if target == "" {
		target = req.Path
	}
	res := undeleteResult{Path: target, From: describeVersion(v)}
	if v.Where == whereGone {
		return res, fmt.Errorf("%s: %w", describeVersion(v), errVersionGone)
	}
	err = st.Meta.View(func(tx *meta.Tx) error {
		ino, err := resolvePath(tx, target)
		if err != nil {
			return nil // nothing there yet
		}
		in, err := tx.Inode(ino)
		if err != nil {
			return err
		}
		if in.Mode&syscall.S_IFMT != syscall.S_IFREG {
			return badInput("%s exists and is not a regular file", quoteName(target))
		}
		res.Replaced = true
		return nil
	})
	if err != nil {
		return res, err
	}
	plain, done, err := openPlain(st, b, v.content, v.Size)
	if err != nil {
		return res, fmt.Errorf("%s: %w", describeVersion(v), err)
	}
	defer done()
	attrs := sealfs.FileAttrs{
		Perm: v.attrs.Mode &^ syscall.S_IFMT, Uid: v.attrs.Uid, Gid: v.attrs.Gid,
		Mtime: v.Modified, MakeParents: true,
	}
	if _, err := fsys.WriteFile(ctx, target, attrs, plain); err != nil {
		return res, fmt.Errorf("write %s: %w", quoteName(target), err)
	}
	return res, nil
}

// daemonOrStore runs viaDaemon when the store is mounted, else direct on
// the store opened for writing; withBucket adds its bucket when it has one
// and it answers (a bucket that does not is reported on stderr, and only
// local content can be read).
func daemonOrStore(loc location, stderr io.Writer, withBucket bool, viaDaemon func(*http.Client) error, direct func(*store.Store, *remote.Bucket) error) error {
	if !store.Exists(loc.store) {
		return badInput("store %s does not exist", loc.store)
	}
	if c := daemonClient(loc.store); c != nil {
		return viaDaemon(c)
	}
	st, key, err := openAt(loc, false)
	if err != nil {
		return err
	}
	defer st.Close()
	var b *remote.Bucket
	if withBucket && st.Config.Remote != "" {
		if b, err = openBucket(st.Dir, key, st.Config.Remote, st.Config.Remote); err != nil {
			fmt.Fprintf(stderr, "sealfs: bucket not available (%v); only local content can be read\n", err)
			b = nil
		} else {
			defer b.Close()
		}
	}
	return direct(st, b)
}

// openUnmounted opens the filesystem of st without mounting it, for a
// change from outside the mount: a new version it writes is queued for
// upload at the next mount, and one it replaces is kept for the default
// retention period.
func openUnmounted(st *store.Store, stderr io.Writer) (*sealfs.FS, error) {
	cfg := sealfs.Config{
		Meta: st.Meta, Data: st, Wrapper: st.Wrapper, BlockSize: st.Config.BlockSize,
		Log:     slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		RootUID: uint32(os.Getuid()), RootGID: uint32(os.Getgid()),
	}
	if st.Config.Remote != "" {
		cfg.Upload = &sealfs.UploadConfig{Quiet: defaultSealAfter, Retention: defaultRetention}
	}
	return sealfs.New(cfg)
}

// serveVersions answers GET /versions for the daemon.
func serveVersions(st *store.Store, sy *syncer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rows, err := fileHistory(r.Context(), st, sy.bucketOrNil(), r.URL.Query().Get("path"))
		replyJSON(w, rows, err)
	}
}

// serveUndelete answers POST /undelete for the daemon.
func serveUndelete(st *store.Store, fsys *sealfs.FS, sy *syncer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		req := undeleteRequest{Path: q.Get("path"), Version: q.Get("version"), To: q.Get("to")}
		res, err := undelete(r.Context(), st, fsys, sy.bucketOrNil(), req)
		replyJSON(w, res, err)
	}
}

// replyJSON writes v, or err with 400 for the caller's mistakes and 500
// for the rest.
func replyJSON(w http.ResponseWriter, v any, err error) {
	if err != nil {
		status := http.StatusInternalServerError
		if errors.As(err, new(usageError)) {
			status = http.StatusBadRequest
		}
		http.Error(w, err.Error(), status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
