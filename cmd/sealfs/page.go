package main

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	sealfs "github.com/sealfs/sealfs/fs"
	"github.com/sealfs/sealfs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/schedule"
	"github.com/sealfs/sealfs/store"
)

// The page is server-rendered HTML with one stylesheet, both embedded:
// no CDN, no script, so it works in any browser and in none that runs
// JavaScript. Actions are plain forms that POST and redirect back.
//
//go:embed webui
var webui embed.FS

var pageTemplate = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"size":  pageSize,
	"when":  formatWhen,
	"since": func(t time.Time) string { return time.Since(t).Round(time.Second).String() },
}).ParseFS(webui, "webui/page.html"))

// pageSize is a byte count as `ls -h` shows it.
func pageSize(n any) string {
	switch n := n.(type) {
	case uint64:
		return humanSize(n)
	case int64:
		return humanSize(uint64(max(n, 0)))
	case int:
		return humanSize(uint64(max(n, 0)))
	}
	return fmt.Sprint(n)
}

func formatWhen(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

// webApp is what the web listener serves for a mount: the page and its
// actions, downloads and /metrics.
type webApp struct {
	st     *store.Store
	sy     *syncer        // nil without a remote, and on a read-only view
	view   *remote.Bucket // the bucket of a read-only view
	fsys   *sealfs.FS
	mnt    string
	runner *schedule.Runner // nil on a read-only view
	jobs   *jobs
	skip   []string // never read into an archive
	log    *slog.Logger
}

func (a *webApp) bucket() *remote.Bucket {
	if a.view != nil {
		return a.view
	}
	return a.sy.bucketOrNil()
}

// routes puts the app's handlers in mux; tok is the listener's token,
// from which the forms' CSRF value is derived.
func (a *webApp) routes(mux *http.ServeMux, tok string) {
	form := formToken(tok)
	mux.Handle("GET /metrics", promhttp.HandlerFor(newRegistry(a.st, a.sy, a.log), promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /download", serveDownload(a.st, a.bucket, a.mnt, a.log))
	static, _ := fs.Sub(webui, "webui/static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", a.servePage(form))
	mux.Handle("POST /ui/run", a.action(form, a.runSchedule))
	mux.Handle("POST /ui/backup", a.action(form, a.startBackup))
	mux.Handle("POST /ui/encryption", a.action(form, a.toggleEncryption))
}

// formToken is the value every form carries, checked on every POST on
// top of the cross-origin check and the SameSite cookie: a page of
// another origin cannot read it, so it cannot forge a form.
func formToken(tok string) string {
	m := hmac.New(sha256.New, []byte(tok))
	m.Write([]byte("sealfs page forms"))
	return hex.EncodeToString(m.Sum(nil))
}

// pageData is everything the page shows.
type pageData struct {
	Status     statusReport
	ReadOnly   bool
	Backups    []backupRow
	Dir        string
	Crumbs     []crumb
	Entries    []listEntry
	DirPlain   bool
	DirError   string
	Schedules  []scheduleRow
	Sources    []string
	Running    []runningJob
	Done       []jobResult
	Message    string
	MessageBad bool
	Form       string
}

// backupRow is one archive in the Backups list.
type backupRow struct {
	listEntry
	Backup string
	Time   time.Time
}

type crumb struct{ Name, Path string }

type scheduleRow struct {
	schedule.Schedule
	Next time.Time
	Keep string
}

func (a *webApp) servePage(form string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		d := pageData{Form: form, ReadOnly: a.runner == nil, Message: q.Get("msg"), MessageBad: q.Get("bad") == "1"}
		d.Dir = path.Clean("/" + q.Get("dir"))
		var err error
		if d.Status, err = daemonStatus(a.st, a.sy, a.mnt); err != nil {
			a.log.Error("page: status", "err", err)
		}
		list, err := schedule.List(a.st.Meta)
		if err != nil {
			a.log.Error("page: schedules", "err", err)
		}
		now := time.Now()
		dirs := []string{defaultBackupDir}
		for _, s := range list {
			d.Schedules = append(d.Schedules, scheduleRow{Schedule: s, Next: s.Next(now), Keep: s.Keep.String()})
			dirs = append(dirs, s.To)
			for _, src := range s.Sources {
				if !slices.Contains(d.Sources, src) {
					d.Sources = append(d.Sources, src)
				}
			}
		}
		synced := a.st.Config.Remote != "" || a.view != nil
		if d.Backups, err = findBackups(a.st.Meta, dirs, synced); err != nil {
			a.log.Error("page: backups", "err", err)
		}
		d.Crumbs = crumbs(d.Dir)
		d.Entries, d.DirPlain, err = browse(a.st.Meta, d.Dir, synced)
		if err != nil {
			d.DirError = err.Error()
		}
		d.Running, d.Done = a.jobs.snapshot()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; form-action 'self'; frame-ancestors 'none'")
		if err := pageTemplate.Execute(w, d); err != nil {
			a.log.Error("page", "err", err)
		}
	}
}

// defaultBackupDir is where backups go without --to.
const defaultBackupDir = "/backups"

// findBackups lists the archives (NAME/NAME-<UTC time>.tar.gz) under each
// of dirs, newest first.
func findBackups(m *meta.Store, dirs []string, synced bool) ([]backupRow, error) {
	var rows []backupRow
	seen := map[string]bool{}
	l := lister{synced: synced}
	err := m.View(func(tx *meta.Tx) error {
		for _, dir := range dirs {
			dir = path.Clean("/" + dir)
			if seen[dir] {
				continue
			}
			seen[dir] = true
			if err := backupsIn(tx, l, dir, &rows); err != nil {
				return err
			}
		}
		return nil
	})
	slices.SortFunc(rows, func(a, b backupRow) int {
		return cmp.Or(b.Time.Compare(a.Time), cmp.Compare(a.Path, b.Path))
	})
	return rows, err
}

func backupsIn(tx *meta.Tx, l lister, dir string, rows *[]backupRow) error {
	ino, err := tx.LookupPath(dir)
	if errors.Is(err, meta.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var names []meta.Entry
	if err := tx.Entries(ino, func(e meta.Entry) bool {
		if e.Mode == syscall.S_IFDIR {
			names = append(names, e)
		}
		return true
	}); err != nil {
		return err
	}
	for _, n := range names {
		var files []meta.Entry
		if err := tx.Entries(n.Ino, func(e meta.Entry) bool {
			if _, ok := archiveTime(n.Name, e.Name); ok && e.Mode == syscall.S_IFREG {
				files = append(files, e)
			}
			return true
		}); err != nil {
			return err
		}
		for _, f := range files {
			in, err := tx.Inode(f.Ino)
			if err != nil {
				return err
			}
			p := path.Join(dir, n.Name, f.Name)
			e, err := l.describe(tx, f.Name, p, in)
			if err != nil {
				return err
			}
			t, _ := archiveTime(n.Name, f.Name)
			*rows = append(*rows, backupRow{listEntry: e, Backup: n.Name, Time: t})
		}
	}
	return nil
}

// browse lists directory dir for the tree, with its own toggle, in one
// read transaction.
func browse(m *meta.Store, dir string, synced bool) (entries []listEntry, plain bool, err error) {
	err = m.View(func(tx *meta.Tx) error {
		entries = nil
		ino, err := resolvePath(tx, dir)
		if err != nil {
			return err
		}
		in, err := tx.Inode(ino)
		if ino == meta.RootIno && errors.Is(err, meta.ErrNotFound) {
			return nil // never mounted: empty
		}
		if err != nil {
			return err
		}
		if in.Mode&syscall.S_IFMT != syscall.S_IFDIR {
			return fmt.Errorf("%s is not a directory", dir)
		}
		plain = in.Plain
		l := lister{synced: synced, seen: map[meta.Ino]bool{}}
		return l.listDir(tx, ino, dir, false, &entries)
	})
	slices.SortFunc(entries, func(a, b listEntry) int {
		// Directories first, then by name, as file managers show them.
		return cmp.Or(cmp.Compare(dirFirst(a), dirFirst(b)), cmp.Compare(a.Name, b.Name))
	})
	return entries, plain, err
}

func dirFirst(e listEntry) int {
	if e.Type == "dir" {
		return 0
	}
	return 1
}

func crumbs(dir string) []crumb {
	out := []crumb{{"/", "/"}}
	if dir == "/" {
		return out
	}
	p := ""
	for _, name := range strings.Split(strings.TrimPrefix(dir, "/"), "/") {
		p += "/" + name
		out = append(out, crumb{name, p})
	}
	return out
}

// action wraps a form handler: it checks the form token, runs do, and
// sends the browser back to the page with do's message. Errors that are
// the user's (a usageError) show as such; others are logged too.
func (a *webApp) action(form string, do func(ctx context.Context, f url.Values) (string, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		if !hmac.Equal([]byte(r.PostForm.Get("form")), []byte(form)) {
			http.Error(w, "the form token is missing or wrong: reload the page", http.StatusForbidden)
			return
		}
		back := url.Values{}
		if dir := r.PostForm.Get("dir"); dir != "" {
			back.Set("dir", path.Clean("/"+dir))
		}
		msg, err := do(r.Context(), r.PostForm)
		if err != nil {
			msg = err.Error()
			back.Set("bad", "1")
			if !errors.As(err, new(usageError)) {
				a.log.Error("page action", "action", r.URL.Path, "err", err)
			}
		}
		back.Set("msg", msg)
		http.Redirect(w, r, "/?"+back.Encode(), http.StatusSeeOther)
	})
}

func (a *webApp) writable() error {
	if a.runner == nil {
		return badInput("this mount is read-only: nothing can be changed from here")
	}
	return nil
}

// runSchedule runs a schedule now, in the background (retention included).
func (a *webApp) runSchedule(_ context.Context, f url.Values) (string, error) {
	if err := a.writable(); err != nil {
		return "", err
	}
	name := f.Get("name")
	if _, err := schedule.Get(a.st.Meta, name); err != nil {
		return "", scheduleErr(err)
	}
	ok := a.jobs.start("schedule "+name, func(ctx context.Context) (bool, string) {
		o, err := a.runner.RunNow(ctx, name, "page")
		if err != nil {
			return false, err.Error()
		}
		return o.OK, fmt.Sprintf("%s; retention: %d archives pruned", o.Summary, o.Pruned)
	})
	if !ok {
		return "", badInput("schedule %s is running already", quoteName(name))
	}
	return fmt.Sprintf("schedule %s started: it shows under Activity when done", quoteName(name)), nil
}

// startBackup makes an on-demand backup of a source some schedule names,
// encrypted unless the box was unticked. Retention is not applied: that
// is the schedule's run.
func (a *webApp) startBackup(_ context.Context, f url.Values) (string, error) {
	if err := a.writable(); err != nil {
		return "", err
	}
	src := f.Get("source")
	list, err := schedule.List(a.st.Meta)
	if err != nil {
		return "", err
	}
	i := slices.IndexFunc(list, func(s schedule.Schedule) bool { return slices.Contains(s.Sources, src) })
	if i < 0 {
		return "", badInput("%s is not a source of any schedule", quoteName(src))
	}
	s := list[i]
	job := backupJob{Name: f.Get("name"), To: s.To, Sources: []string{src}, Exclude: s.Exclude, Plain: f.Get("encrypted") == ""}
	if job.Name == "" {
		job.Name = defaultBackupName(src)
	}
	if err := job.validate(); err != nil {
		return "", err
	}
	ok := a.jobs.start("backup "+job.Name, func(ctx context.Context) (bool, string) {
		warn := func(msg string) { a.log.Warn("backup", "name", job.Name, "warning", msg) }
		sum, err := job.make(ctx, a.skip, nil, warn, storeSink(ctx, a.st, a.fsys))
		if err != nil {
			return false, err.Error()
		}
		a.log.Info("backup", "summary", sum.String())
		return true, sum.String()
	})
	if !ok {
		return "", badInput("a backup called %s is running already", quoteName(job.Name))
	}
	return fmt.Sprintf("backup %s of %s started: it shows under Activity when done", quoteName(job.Name), quoteName(src)), nil
}

// toggleEncryption switches a directory's Encrypted toggle.
func (a *webApp) toggleEncryption(_ context.Context, f url.Values) (string, error) {
	if err := a.writable(); err != nil {
		return "", err
	}
	on, err := strconv.ParseBool(f.Get("on"))
	if err != nil {
		return "", badInput("on=%q: want true or false", f.Get("on"))
	}
	req := encryptionRequest{Path: path.Clean("/" + f.Get("dir")), Set: true, On: on}
	res, err := encryption(a.st.Meta, req)
	if err != nil {
		return "", err
	}
	state := "on"
	if !res.On {
		state = "off"
	}
	msg := fmt.Sprintf("%s: encryption %s for what is made in it from now on", quoteName(req.Path), state)
	if res.Existing > 0 {
		msg += fmt.Sprintf("; the %d entries already in it keep what they were written with until written anew", res.Existing)
	}
	return msg, nil
}
