package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sealfs/sealfs/crypto"
	sealfs "github.com/sealfs/sealfs/fs"
	"github.com/sealfs/sealfs/meta"
	"github.com/sealfs/sealfs/schedule"
	"github.com/sealfs/sealfs/store"
)

// The daemon owns the store's Badger database while mounted, so other
// commands ask it over a unix socket in the store directory. The socket is
// 0600 inside a 0700 store: only the store's owner can talk to it.
func socketPath(storeDir string) string { return filepath.Join(storeDir, "sealfs.sock") }

type control struct {
	srv  *http.Server
	path string
}

func startControl(st *store.Store, key *crypto.MasterKey, fsys *sealfs.FS, sy *syncer, mnt string, runner *schedule.Runner, web *webHost) (*control, error) {
	p := socketPath(st.Dir)
	// We hold the store lock, so a socket left here is stale.
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	// The socket is created 0600 from the start, not chmodded afterwards.
	old := syscall.Umask(0o077)
	ln, err := net.Listen("unix", p)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ls", func(w http.ResponseWriter, r *http.Request) {
		if err := fsys.SyncAll(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		rows, err := listPath(st.Meta, r.URL.Query().Get("path"), r.URL.Query().Get("recursive") == "1", sy != nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(rows)
	})
	mux.HandleFunc("GET /cat", serveCat(st, sy))
	mux.HandleFunc("POST /check", serveCheck(st, sy))
	mux.HandleFunc("GET /versions", serveVersions(st, sy))
	mux.HandleFunc("POST /undelete", serveUndelete(st, fsys, sy))
	mux.HandleFunc("POST /write", serveWrite(st, fsys))
	mux.HandleFunc("POST /encryption", serveEncryption(st))
	scheduleHandlers(mux, st, fsys, runner)
	mux.HandleFunc("POST /web", serveWebStart(web))
	rotateHandlers(mux, st, key, sy)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		status, err := daemonStatus(st, sy, mnt)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(status)
	})
	mux.HandleFunc("POST /sync", func(w http.ResponseWriter, r *http.Request) {
		if sy == nil {
			http.Error(w, "this mount has no remote", http.StatusConflict)
			return
		}
		timeout, err := time.ParseDuration(r.URL.Query().Get("timeout"))
		if err != nil || timeout <= 0 {
			timeout = 24 * time.Hour
		}
		if sy.lostLease.Load() {
			http.Error(w, "this mount lost the bucket lease to another writer; nothing is uploaded", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		// Files closed just before the call are queued at their RELEASE.
		stillOpen := fsys.WaitReleased(ctx, releaseGrace)
		if err := fsys.SyncAll(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := sy.up.WaitSynced(ctx); err != nil {
			http.Error(w, pendingDetail(st, sy), http.StatusRequestTimeout)
			return
		}
		// Recoverable means: in the bucket and named by a snapshot there.
		if err := sy.up.Snapshot(ctx); err != nil {
			http.Error(w, "metadata snapshot: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(syncResult{StillOpen: stillOpen})
	})
	c := &control{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, path: p}
	go c.srv.Serve(ln)
	return c, nil
}

// releaseGrace is how long a sync waits for the kernel to deliver the
// RELEASE of files closed just before it.
const releaseGrace = 5 * time.Second

// syncResult is the answer to POST /sync.
type syncResult struct {
	// StillOpen counts files written and still open for writing: what
	// they hold is not in the bucket yet.
	StillOpen int `json:"still_open"`
}

func (c *control) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.srv.Shutdown(ctx)
	os.Remove(c.path)
	return err
}

// daemonClient returns an HTTP client that talks to the daemon of storeDir,
// or nil when no daemon answers there.
func daemonClient(storeDir string) *http.Client {
	p := socketPath(storeDir)
	conn, err := net.DialTimeout("unix", p, time.Second)
	if err != nil {
		return nil
	}
	conn.Close()
	return &http.Client{
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", p)
		}},
	}
}

// pendingDetail says what a timed-out sync is still waiting for: how many
// files, the first few by path, and the uploader's last error.
func pendingDetail(st *store.Store, sy *syncer) string {
	const shown = 5
	status, err := sy.up.Status()
	if err != nil {
		return "uploads pending"
	}
	var inos []meta.Ino
	st.Meta.View(func(tx *meta.Tx) error {
		return tx.Uploads(func(j meta.Upload) bool {
			inos = append(inos, j.Ino)
			return len(inos) < shown
		})
	})
	var names []string
	if paths, err := meta.Paths(st.Meta); err == nil {
		for _, ino := range inos {
			if p, ok := paths[ino]; ok {
				names = append(names, quoteName(p))
			}
		}
	}
	msg := fmt.Sprintf("%d files pending", status.PendingFiles)
	if len(names) > 0 {
		msg += " (" + strings.Join(names, ", ")
		if status.PendingFiles > len(names) {
			msg += ", ..."
		}
		msg += ")"
	}
	if status.LastError != "" {
		msg += "; last error: " + status.LastError
	}
	return msg
}
