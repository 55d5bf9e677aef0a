package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/sealfs/sealfs/crypto"
	sealfs "github.com/sealfs/sealfs/fs"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/cache"
	"github.com/sealfs/sealfs/schedule"
	"github.com/sealfs/sealfs/store"
	"github.com/spf13/cobra"
)

// groupCommitInterval bounds how long closed files wait to reach the disk.
const groupCommitInterval = time.Second

func mountCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mount [flags] MOUNTPOINT",
		Short: "mount a store (foreground, until unmounted or signalled)",
		Long: `Mount the store at MOUNTPOINT, in the foreground until SIGINT, SIGTERM or umount; a missing
store is created first (unless --no-init). With a remote, closed files are uploaded in the
background and unmount waits up to --drain-timeout for them (exit 3 if some are left).

sealfs mount --read-only --remote URL [--key-file FILE] [--credentials-file F] MOUNTPOINT
browses and reads the bucket's newest snapshot, with no store of its own and no lease.`,
	}
	fl := cmd.Flags()
	var loc location
	loc.register(fl)
	var mo mountOpts
	fl.BoolVar(&mo.allowOther, "allow-other", false, "let other users access the mount (the kernel still enforces modes and owners)")
	noInit := fl.Bool("no-init", false, "fail instead of creating a missing store")
	fl.BoolVar(&mo.debug, "debug", false, "log every FUSE request")
	readOnly := fl.Bool("read-only", false, "with --remote: browse and read the bucket's newest snapshot, with no store of its own and no lease (the writer goes on)")
	credsFile := fl.String("credentials-file", "", "bucket credentials for --read-only --remote")
	var so syncOptions
	so.register(fl)
	fl.BoolVar(&mo.noNotice, "quiet", false, "do not print the web URL on stderr (it is still in the log)")
	fl.StringVar(&mo.logFormat, "log-format", "text", "the daemon's log lines on stderr: text (key=value) or json (one object per line)")
	mo.web.register(fl)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		req := mountRequest{loc: loc, mo: mo, so: so, noInit: *noInit, readOnly: *readOnly, credsFile: *credsFile}
		return req.mount(args, cmd.ErrOrStderr())
	}
	return cmd
}

// mountRequest is what the mount flags asked for.
type mountRequest struct {
	loc              location
	mo               mountOpts
	so               syncOptions
	noInit, readOnly bool
	credsFile        string
}

// mount checks the request and the MOUNTPOINT in args, then serves the
// store (or, read-only, the bucket) until it is unmounted.
func (r mountRequest) mount(args []string, stderr io.Writer) error {
	loc, mo, so := r.loc, r.mo, r.so
	if err := mo.web.validate(); err != nil {
		return err
	}
	if mo.logFormat != "text" && mo.logFormat != "json" {
		return badInput("--log-format %q: want text or json", mo.logFormat)
	}
	if len(args) != 1 {
		return badInput("want exactly one MOUNTPOINT, got %d arguments", len(args))
	}
	if err := loc.resolve(); err != nil {
		return err
	}
	mnt, err := checkMountpoint(args[0])
	if err != nil {
		return err
	}
	if entries, err := os.ReadDir(mnt); err == nil && len(entries) > 0 {
		// As mount(8) does it: allowed, but the files there vanish from
		// view until the unmount, which a user should hear about.
		fmt.Fprintf(stderr, "sealfs: warning: %s is not empty: its %d entries are hidden while sealfs is mounted there\n", mnt, len(entries))
	}
	if err := so.validate(); err != nil {
		return err
	}
	if r.readOnly {
		if so.remote == "" {
			return badInput("--read-only mounts a bucket: give --remote URL")
		}
		return serveBucketView(loc, so, r.credsFile, mnt, mo, stderr)
	}
	if r.credsFile != "" {
		return badInput("--credentials-file is for --read-only; a store keeps its credentials (sealfs remote set)")
	}
	if err := checkApart(mnt, loc.store); err != nil {
		return err
	}
	if !store.Exists(loc.store) {
		if r.noInit {
			return badInput("store %s does not exist (run sealfs init, or mount without --no-init)", loc.store)
		}
		if err := initStore(loc, stderr); err != nil {
			return err
		}
	}
	st, key, err := openAt(loc, false)
	if err != nil {
		return err
	}
	return serve(st, key, mnt, mo, so, stderr)
}

// mountOpts shape a mount.
type mountOpts struct {
	allowOther, debug bool
	// view, when set, makes a read-only mount whose content is read from
	// this bucket: no uploads, no lease.
	view *remote.Bucket
	web  webOptions
	// noNotice keeps the web URL off stderr.
	noNotice bool
	// logFormat is text or json.
	logFormat string
}

// serve mounts the open store at mnt and blocks until it is unmounted; with
// a remote, it uploads in the background and drains the queue at the end.
func serve(st *store.Store, key *crypto.MasterKey, mnt string, mo mountOpts, so syncOptions, stderr io.Writer) (err error) {
	defer func() {
		if cerr := st.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
	}()
	var handler slog.Handler = slog.NewTextHandler(stderr, nil)
	if mo.logFormat == "json" {
		handler = slog.NewJSONHandler(stderr, nil)
	}
	log := slog.New(handler)
	cfg := sealfs.Config{
		Meta: st.Meta, Data: st, Wrapper: st.Wrapper, BlockSize: st.Config.BlockSize, Log: log,
		RootUID: uint32(os.Getuid()), RootGID: uint32(os.Getgid()),
	}
	var sy *syncer
	if mo.view != nil {
		cfg.Cache = cacheAdapter{cache.New(cache.Config{Meta: st.Meta, Local: st, Bucket: mo.view, Log: log, ReadTimeout: so.readTimeout, Wrapper: st.Wrapper})}
	} else {
		if sy, err = startSync(st, key, so, log); err != nil {
			return err
		}
	}
	if sy != nil {
		cfg.Upload, cfg.Cache = sy.fsUpload(), sy.fsCache()
		defer func() {
			if serr := sy.stop(stderr); err == nil {
				err = serr
			}
		}()
	}
	fsys, err := sealfs.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	// Backups run by schedule read neither the store nor this mount.
	var runner *schedule.Runner
	if mo.view == nil {
		runner = schedule.NewRunner(st.Meta, scheduledRun(st, fsys, []string{st.Dir, mnt}, log), log)
	}
	app := &webApp{st: st, sy: sy, view: mo.view, fsys: fsys, mnt: mnt, runner: runner, jobs: newJobs(ctx), skip: []string{st.Dir, mnt}, log: log}
	// Page actions run under ctx and end before the store closes: on an
	// early return, stop (deferred again, so it runs first) interrupts them.
	defer app.jobs.wait()
	defer stop()
	web := newWebHost(app, log)
	defer web.Close()
	// The control socket is up before the mount appears, so a script that
	// waits for the mountpoint can run `sealfs sync` or `status` at once.
	ctl, err := startControl(st, key, fsys, sy, mnt, runner, web)
	if err != nil {
		return err
	}
	defer ctl.Close()
	if mo.web.addr != "" {
		srv, _, err := web.start(mo.web)
		if err != nil {
			return err
		}
		if !mo.noNotice {
			fmt.Fprintf(stderr, "sealfs: web page and metrics at %s\n", srv.url)
		}
	}
	server, err := gofs.Mount(mnt, fsys.Root(), sealfs.MountOptions(mo.allowOther, mo.debug, mo.view != nil))
	if err != nil {
		return usageError{fmt.Errorf("mount %s: %w", mnt, err)}
	}
	// The group commit must be over before the store closes.
	loopDone := make(chan struct{})
	go func() { fsys.SyncLoop(ctx, groupCommitInterval); close(loopDone) }()
	go unmountOnSignal(ctx, server, mnt, log)
	if runner != nil {
		runner.Start(ctx) // after the mount: a missed run may start at once
	}
	if mo.view != nil {
		log.Info("mounted read-only", "mountpoint", mnt, "remote", mo.view.URL())
	} else {
		log.Info("mounted", "store", st.Dir, "mountpoint", mnt, "remote", sy.url())
	}
	server.Wait()
	stop()
	if runner != nil {
		runner.Wait() // its records go into the store before it closes
	}
	app.jobs.wait()
	<-loopDone
	if err := fsys.SyncAll(); err != nil {
		return fmt.Errorf("final sync: %w", err)
	}
	log.Info("unmounted", "mountpoint", mnt)
	return nil
}

// unmountOnSignal unmounts on SIGINT or SIGTERM; a busy mount is retried,
// because a lazy unmount would hide files still being written.
func unmountOnSignal(ctx context.Context, server interface{ Unmount() error }, mnt string, log *slog.Logger) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	for {
		select {
		case <-ctx.Done():
			return
		case sig := <-sigs:
			log.Info("unmounting", "signal", sig.String())
			if err := server.Unmount(); err != nil {
				log.Error("unmount failed; close files on the mount and signal again", "mountpoint", mnt, "err", err)
			}
		}
	}
}

// checkApart refuses a mountpoint that is the store or inside it, and a
// store inside the mountpoint: the daemon would then read its own mount.
func checkApart(mnt, storeDir string) error {
	s := storeDir
	if real, err := filepath.EvalSymlinks(storeDir); err == nil {
		s = real
	}
	within := func(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+string(filepath.Separator)) }
	switch {
	case within(mnt, s):
		return badInput("mountpoint %s is inside the store %s; mount somewhere else", mnt, s)
	case within(s, mnt):
		return badInput("the store %s is inside the mountpoint %s; keep the store outside it (--store)", s, mnt)
	}
	return nil
}

// checkMountpoint resolves mnt and refuses what cannot be mounted on: a
// missing path, a non-directory, or a directory that is already a mount.
func checkMountpoint(mnt string) (string, error) {
	abs, err := filepath.Abs(mnt)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if errors.Is(err, syscall.ENOTCONN) {
		return "", badInput("mountpoint %s is a stale FUSE mount; run: umount %s", abs, abs)
	}
	if err != nil {
		return "", badInput("mountpoint: %v", err)
	}
	if !fi.IsDir() {
		return "", badInput("mountpoint %s is not a directory", abs)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	mounted, err := isMountpoint(abs)
	if err != nil {
		return "", err
	}
	if mounted {
		return "", badInput("mountpoint %s is busy: something is already mounted there", abs)
	}
	return abs, nil
}

// isMountpoint reports whether dir is the mount point of a mounted filesystem.
func isMountpoint(dir string) (bool, error) {
	mounts, err := readMounts()
	for _, m := range mounts {
		if m.point == dir {
			return true, nil
		}
	}
	return false, err
}

// mountEntry is one line of the mount table.
type mountEntry struct {
	point, fsType string
}

// readMounts returns the mount table of this process's namespace.
func readMounts() ([]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID parent major:minor root point options [optional...] - type source super
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		m := mountEntry{point: unescapeMountPath(fields[4])}
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) {
				m.fsType = fields[i+1]
				break
			}
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// unescapeMountPath undoes the octal escapes (\040 for space, ...) of mountinfo.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
