package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os/signal"
	"path"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sealfs/sealfs/backup"
	sealfs "github.com/sealfs/sealfs/fs"
	"github.com/sealfs/sealfs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/schedule"
	"github.com/sealfs/sealfs/store"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func scheduleCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule COMMAND",
		Short: "add, list, remove or run scheduled backups (run by the mounted daemon)",
		Long: `Add, list, remove or run scheduled backups. Each subcommand takes --store DIR and
--key-file FILE. A schedule runs while the store is mounted; a run missed while it was not
runs once at the next mount.`,
		DisableFlagsInUseLine: true,
		RunE:                  groupRun,
	}
	cmd.AddCommand(scheduleAddCommand(), scheduleListCommand(), scheduleRemoveCommand(), scheduleRunCommand())
	return cmd
}

// registerPolicy adds the --keep-* flags.
func registerPolicy(fl *pflag.FlagSet, p *backup.Policy) {
	fl.IntVar(&p.Last, "keep-last", 0, "keep the N newest archives")
	fl.IntVar(&p.Hourly, "keep-hourly", 0, "keep the newest archive of each of the N newest hours that have one")
	fl.IntVar(&p.Daily, "keep-daily", 0, "... of each of the N newest days")
	fl.IntVar(&p.Weekly, "keep-weekly", 0, "... of each of the N newest ISO weeks")
	fl.IntVar(&p.Monthly, "keep-monthly", 0, "... of each of the N newest months")
	fl.DurationVar(&p.Within, "keep-within", 0, "keep every archive less than D older than the newest (e.g. 72h)")
}

func checkPolicy(p backup.Policy) error {
	if p.Last < 0 || p.Hourly < 0 || p.Daily < 0 || p.Weekly < 0 || p.Monthly < 0 || p.Within < 0 {
		return badInput("--keep-* values must not be negative")
	}
	return nil
}

func scheduleAddCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "add NAME --cron LINE [flags] SRC...",
		Short: "add a scheduled backup of SRC... named NAME, run at the times of --cron",
		Long: `Add a scheduled backup NAME of the sources SRC..., run by the mounted daemon at the times
of --cron, with its retention rules (--keep-*) applied after each run.`,
	}
	fl := cmd.Flags()
	var loc location
	loc.register(fl)
	var job backupJob
	job.register(fl)
	cronLine := fl.String("cron", "", `when to run: five cron fields ("0 3 * * *": 03:00 every day), six with seconds first, or @daily, @hourly, @every 6h`)
	var keep backup.Policy
	registerPolicy(fl, &keep)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
		if len(args) < 2 {
			return wrongArgs(cmd)
		}
		if job.Name != "" {
			return badInput("the schedule's NAME names its backups: no --name")
		}
		job.Name, job.Sources = args[0], args[1:]
		if err := job.validate(); err != nil {
			return err
		}
		if *cronLine == "" {
			return badInput("give --cron")
		}
		if _, err := schedule.Parse(*cronLine); err != nil {
			return usageError{err}
		}
		if err := checkPolicy(keep); err != nil {
			return err
		}
		if err := loc.resolve(); err != nil {
			return err
		}
		s := schedule.Schedule{
			Name: job.Name, Cron: *cronLine, Sources: job.Sources, Exclude: job.Exclude,
			To: job.To, Plain: job.Plain, Keep: keep, Created: time.Now().UTC(),
		}
		err := daemonOrStore(loc, stderr, false, func(c *http.Client) error {
			return daemonPostJSON(c, "/schedules", s, nil)
		}, func(st *store.Store, _ *remote.Bucket) error {
			return schedule.Put(st.Meta, s)
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "schedule %s: %s, next run %s, backups in %s, %s\n", quoteName(s.Name), s.Cron,
			s.Next(time.Now()).Local().Format(time.DateTime), quoteName(job.dir()), keep)
		return nil
	}
	return cmd
}

func scheduleListCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list [flags]",
		Short: "list the schedules: next and last run, result, encryption, retention",
	}
	fl := cmd.Flags()
	var loc location
	loc.register(fl)
	asJSON := fl.Bool("json", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
		if err := loc.resolve(); err != nil {
			return err
		}
		var list []schedule.Schedule
		err := daemonOrStore(loc, stderr, false, func(c *http.Client) error {
			return daemonJSON(c, http.MethodGet, "/schedules", &list)
		}, func(st *store.Store, _ *remote.Bucket) (err error) {
			list, err = schedule.List(st.Meta)
			return err
		})
		if err != nil {
			return err
		}
		if *asJSON {
			if list == nil {
				list = []schedule.Schedule{}
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(list)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tCRON\tNEXT\tLAST RUN\tRESULT\tENCRYPTED\tKEEP")
		for _, s := range list {
			last, result := "-", "-"
			if !s.Last.Start.IsZero() {
				last = s.Last.Start.Local().Format(time.DateTime)
				result = "failed: " + s.Last.Summary
				if s.Last.OK {
					result = fmt.Sprintf("ok, %d pruned", s.Last.Pruned)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\t%s\n", quoteName(s.Name), s.Cron,
				s.Next(time.Now()).Local().Format(time.DateTime), last, result, !s.Plain, s.Keep)
		}
		return tw.Flush()
	}
	return cmd
}

func scheduleRemoveCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remove [flags] NAME",
		Short: "remove a schedule; its backups stay",
	}
	fl := cmd.Flags()
	var loc location
	loc.register(fl)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
		if len(args) != 1 {
			return wrongArgs(cmd)
		}
		if err := loc.resolve(); err != nil {
			return err
		}
		name := args[0]
		err := daemonOrStore(loc, stderr, false, func(c *http.Client) error {
			return daemonJSON(c, http.MethodPost, "/schedules/remove?"+url.Values{"name": {name}}.Encode(), nil)
		}, func(st *store.Store, _ *remote.Bucket) error {
			return scheduleErr(schedule.Remove(st.Meta, name))
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "schedule %s removed; its backups stay\n", quoteName(name))
		return nil
	}
	return cmd
}

func scheduleRunCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run [flags] NAME",
		Short: "run a schedule now, retention included; wait and print the summary",
	}
	fl := cmd.Flags()
	var loc location
	loc.register(fl)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
		if len(args) != 1 {
			return wrongArgs(cmd)
		}
		if err := loc.resolve(); err != nil {
			return err
		}
		name := args[0]
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		var o schedule.Outcome
		err := daemonOrStore(loc, stderr, false, func(c *http.Client) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://sealfs/schedules/run?"+url.Values{"name": {name}}.Encode(), nil)
			if err != nil {
				return err
			}
			resp, err := c.Do(req)
			if err != nil {
				return fmt.Errorf("ask the mounted daemon: %w", err)
			}
			return daemonReply(resp, &o)
		}, func(st *store.Store, _ *remote.Bucket) error {
			fsys, err := openUnmounted(st, stderr)
			if err != nil {
				return err
			}
			skip, err := ownPaths(st.Dir)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			r := schedule.NewRunner(st.Meta, scheduledRun(st, fsys, skip, log), log)
			if o, err = r.RunNow(ctx, name, "manual"); err != nil {
				return scheduleErr(err)
			}
			return fsys.SyncAll()
		})
		if err != nil {
			return err
		}
		if !o.OK {
			return fmt.Errorf("schedule %s: %s", quoteName(name), o.Summary)
		}
		fmt.Fprintln(stdout, o.Summary)
		fmt.Fprintf(stdout, "retention: %d archives pruned\n", o.Pruned)
		return nil
	}
	return cmd
}

// scheduleErr makes an unknown schedule the caller's mistake.
func scheduleErr(err error) error {
	if errors.Is(err, schedule.ErrNotFound) {
		return usageError{err}
	}
	return err
}

// scheduledRun is what a run of a schedule does: its backup, then its
// retention. skip holds paths never read into an archive.
func scheduledRun(st *store.Store, fsys *sealfs.FS, skip []string, log *slog.Logger) schedule.Run {
	return func(ctx context.Context, s schedule.Schedule) schedule.Outcome {
		job := backupJob{Name: s.Name, To: s.To, Sources: s.Sources, Exclude: s.Exclude, Plain: s.Plain}
		warn := func(msg string) { log.Warn("scheduled backup", "schedule", s.Name, "warning", msg) }
		sum, err := job.make(ctx, skip, nil, warn, storeSink(ctx, st, fsys))
		if err != nil {
			return schedule.Outcome{Summary: err.Error()}
		}
		rows, err := prune(ctx, st, fsys, job.dir(), s.Name, s.Keep, false)
		o := schedule.Outcome{OK: err == nil, Summary: sum.String()}
		if err != nil {
			o.Summary += "; retention failed: " + err.Error()
		}
		for _, r := range rows {
			if !r.Keep {
				o.Pruned++
			}
		}
		return o
	}
}

func pruneCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "prune [flags] NAME",
		Short: "apply a backup's retention rules (--dry-run: say which rule keeps each archive)",
		Long: `Apply the retention rules of the backups NAME: its schedule's, or the --keep-* given.
--dry-run says which rule keeps each archive and changes nothing.`,
	}
	fl := cmd.Flags()
	var loc location
	loc.register(fl)
	dryRun := fl.Bool("dry-run", false, "say what would be kept, by which rule, and what removed; change nothing")
	to := fl.String("to", "", "directory of the backups (default: the schedule's, else /backups)")
	var keep backup.Policy
	registerPolicy(fl, &keep)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
		if len(args) != 1 {
			return wrongArgs(cmd)
		}
		if err := checkPolicy(keep); err != nil {
			return err
		}
		if err := loc.resolve(); err != nil {
			return err
		}
		req := pruneRequest{Name: args[0], To: *to, DryRun: *dryRun, Keep: keep}
		var rows []pruneRow
		err := daemonOrStore(loc, stderr, false, func(c *http.Client) error {
			return daemonPostJSON(c, "/prune", req, &rows)
		}, func(st *store.Store, _ *remote.Bucket) error {
			fsys, err := openUnmounted(st, stderr)
			if err != nil {
				return err
			}
			if rows, err = req.do(context.Background(), st, fsys); err != nil {
				return err
			}
			return fsys.SyncAll()
		})
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		removed := 0
		for _, r := range rows {
			action, why := "keep", strings.Join(r.Reasons, ", ")
			if !r.Keep {
				action, why = "remove", "-"
				removed++
				if *dryRun {
					action = "would remove"
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", action, quoteName(r.Path), why)
		}
		tw.Flush()
		verb := "removed"
		if *dryRun {
			verb = "would be removed"
		}
		fmt.Fprintf(stdout, "%d archives, %d %s\n", len(rows), removed, verb)
		return nil
	}
	return cmd
}

// pruneRequest names a backup and the policy to apply: the schedule's,
// unless Keep has a rule.
type pruneRequest struct {
	Name   string        `json:"name"`
	To     string        `json:"to,omitempty"`
	DryRun bool          `json:"dry_run,omitempty"`
	Keep   backup.Policy `json:"keep"`
}

func (r pruneRequest) do(ctx context.Context, st *store.Store, fsys *sealfs.FS) ([]pruneRow, error) {
	to, keep := r.To, r.Keep
	if s, err := schedule.Get(st.Meta, r.Name); err == nil {
		if to == "" {
			to = s.To
		}
		if keep.Empty() {
			keep = s.Keep
		}
	} else if !errors.Is(err, schedule.ErrNotFound) {
		return nil, err
	} else if keep.Empty() {
		return nil, badInput("%s is no schedule: give the --keep-* rules", quoteName(r.Name))
	}
	if to == "" {
		to = "/backups"
	}
	return prune(ctx, st, fsys, path.Join("/", to, r.Name), r.Name, keep, r.DryRun)
}

// pruneRow is one archive and what the policy does with it.
type pruneRow struct {
	Path    string    `json:"path"`
	Time    time.Time `json:"time"`
	Keep    bool      `json:"keep"`
	Reasons []string  `json:"reasons,omitempty"`
}

// prune applies p to the archives of backup name in dir (NAME-<UTC
// time>.tar.gz; other files there are left alone) and, unless dryRun,
// removes those it does not keep through fsys, as a delete through the
// mount would (they stay in the bucket for the retention period).
func prune(ctx context.Context, st *store.Store, fsys *sealfs.FS, dir, name string, p backup.Policy, dryRun bool) ([]pruneRow, error) {
	var names []string
	var times []time.Time
	err := st.Meta.View(func(tx *meta.Tx) error {
		ino, err := tx.LookupPath(dir)
		if errors.Is(err, meta.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return tx.Entries(ino, func(e meta.Entry) bool {
			if t, ok := archiveTime(name, e.Name); ok && e.Mode == syscall.S_IFREG {
				names, times = append(names, e.Name), append(times, t)
			}
			return true
		})
	})
	if err != nil {
		return nil, err
	}
	byTime := map[time.Time]string{}
	for i, t := range times {
		byTime[t.UTC()] = names[i]
	}
	var rows []pruneRow
	for _, d := range p.Apply(times) {
		rows = append(rows, pruneRow{Path: path.Join(dir, byTime[d.Time]), Time: d.Time, Keep: d.Keep, Reasons: d.Reasons})
	}
	if dryRun {
		return rows, nil
	}
	for _, r := range rows {
		if !r.Keep {
			if err := fsys.RemoveFile(ctx, r.Path); err != nil {
				return rows, err
			}
		}
	}
	return rows, nil
}

// archiveTime parses the time in an archive's file name, NAME-<UTC
// time>.tar.gz.
func archiveTime(name, file string) (time.Time, bool) {
	stamp, ok := strings.CutPrefix(file, name+"-")
	if !ok {
		return time.Time{}, false
	}
	stamp, ok = strings.CutSuffix(stamp, ".tar.gz")
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(archiveTimeFormat, stamp)
	return t, err == nil
}

// daemonPostJSON posts v as JSON to the daemon and decodes its answer.
func daemonPostJSON(c *http.Client, endpoint string, v, out any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	resp, err := c.Post("http://sealfs"+endpoint, "application/json", strings.NewReader(string(body)))
	if err != nil {
		return fmt.Errorf("ask the mounted daemon: %w", err)
	}
	return daemonReply(resp, out)
}

// scheduleHandlers are the daemon's schedule and prune endpoints.
func scheduleHandlers(mux *http.ServeMux, st *store.Store, fsys *sealfs.FS, runner *schedule.Runner) {
	mux.HandleFunc("GET /schedules", func(w http.ResponseWriter, r *http.Request) {
		list, err := schedule.List(st.Meta)
		if list == nil {
			list = []schedule.Schedule{}
		}
		replyJSON(w, list, err)
	})
	mux.HandleFunc("POST /schedules", func(w http.ResponseWriter, r *http.Request) {
		var s schedule.Schedule
		if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
			replyJSON(w, nil, badInput("schedule: %v", err))
			return
		}
		err := schedule.Put(st.Meta, s)
		if err == nil && runner != nil {
			runner.Changed()
		}
		replyJSON(w, struct{}{}, err)
	})
	mux.HandleFunc("POST /schedules/remove", func(w http.ResponseWriter, r *http.Request) {
		err := scheduleErr(schedule.Remove(st.Meta, r.URL.Query().Get("name")))
		if err == nil && runner != nil {
			runner.Changed()
		}
		replyJSON(w, struct{}{}, err)
	})
	mux.HandleFunc("POST /schedules/run", func(w http.ResponseWriter, r *http.Request) {
		if runner == nil {
			replyJSON(w, nil, badInput("this mount runs no schedules (read-only)"))
			return
		}
		o, err := runner.RunNow(r.Context(), r.URL.Query().Get("name"), "manual")
		replyJSON(w, o, scheduleErr(err))
	})
	mux.HandleFunc("POST /prune", func(w http.ResponseWriter, r *http.Request) {
		var req pruneRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			replyJSON(w, nil, badInput("prune: %v", err))
			return
		}
		rows, err := req.do(r.Context(), st, fsys)
		replyJSON(w, rows, err)
	})
}
