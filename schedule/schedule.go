// Package schedule keeps the backup schedules of a store (in its sealed
// metadata) and runs them while the store is mounted: at each time their
// cron line names, and once at mount for a run missed while unmounted.
// What a run does (a backup, then its retention) is the caller's Run.
package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/sealfs/sealfs/backup"
	"github.com/sealfs/sealfs/meta"
)

// Schedule is one scheduled backup.
type Schedule struct {
	Name    string        `json:"name"`
	Cron    string        `json:"cron"` // five fields (minute first), six with seconds, or @daily and the like
	Sources []string      `json:"sources"`
	Exclude []string      `json:"exclude,omitempty"`
	To      string        `json:"to"` // the directory of the backups, in the filesystem
	Plain   bool          `json:"plain,omitempty"`
	Keep    backup.Policy `json:"keep"`
	Created time.Time     `json:"created"`

	Last Outcome `json:"last,omitempty"`
}

// Outcome is how a run went.
type Outcome struct {
	Start   time.Time `json:"start,omitzero"`
	End     time.Time `json:"end,omitzero"`
	Trigger string    `json:"trigger,omitempty"` // "cron", "missed", "manual"
	OK      bool      `json:"ok,omitempty"`
	Summary string    `json:"summary,omitempty"` // the backup's summary line, or the error
	Pruned  int       `json:"pruned,omitempty"`  // archives the retention removed
}

// parser reads cron lines: the standard five fields, an optional leading
// seconds field, and descriptors (@daily, @every 1h).
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse checks a cron line.
func Parse(line string) (cron.Schedule, error) {
	s, err := parser.Parse(line)
	if err != nil {
		return nil, fmt.Errorf("--cron %q: %w", line, err)
	}
	return s, nil
}

// Next is the first time after t the schedule runs.
func (s Schedule) Next(t time.Time) time.Time {
	c, err := Parse(s.Cron)
	if err != nil {
		return time.Time{}
	}
	return c.Next(t)
}

// due is when s should have run last, counted from its last run (or its
// creation): at or before now means a run was missed.
func (s Schedule) due() time.Time {
	from := s.Created
	if !s.Last.Start.IsZero() {
		from = s.Last.Start
	}
	return s.Next(from)
}

// ErrNotFound: no schedule of that name.
var ErrNotFound = errors.New("no such schedule")

// Put stores s, replacing a schedule of its name.
func Put(m *meta.Store, s Schedule) error {
	if _, err := Parse(s.Cron); err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return m.Update(func(tx *meta.Tx) error { return tx.PutSchedule(s.Name, b) })
}

// Get returns the schedule called name.
func Get(m *meta.Store, name string) (Schedule, error) {
	var s Schedule
	err := m.View(func(tx *meta.Tx) error {
		b, err := tx.Schedule(name)
		if errors.Is(err, meta.ErrNotFound) {
			return fmt.Errorf("%q: %w", name, ErrNotFound)
		}
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &s)
	})
	return s, err
}

// Remove deletes the schedule called name.
func Remove(m *meta.Store, name string) error {
	err := m.Update(func(tx *meta.Tx) error { return tx.DeleteSchedule(name) })
	if errors.Is(err, meta.ErrNotFound) {
		return fmt.Errorf("%q: %w", name, ErrNotFound)
	}
	return err
}

// List returns every schedule, by name.
func List(m *meta.Store) ([]Schedule, error) {
	var out []Schedule
	err := m.View(func(tx *meta.Tx) error {
		var derr error
		err := tx.Schedules(func(_ string, b []byte) bool {
			var s Schedule
			if derr = json.Unmarshal(b, &s); derr != nil {
				return false
			}
			out = append(out, s)
			return true
		})
		return errors.Join(err, derr)
	})
	return out, err
}

// Run performs one run of s (a backup and its retention) and says how it
// went; Summary and Pruned are its to fill.
type Run func(ctx context.Context, s Schedule) Outcome

// Runner runs the schedules of a mounted store.
type Runner struct {
	Meta *meta.Store
	Run  Run
	Log  *slog.Logger

	mu      sync.Mutex // one run at a time: backups share the disk
	changed chan struct{}
	running sync.WaitGroup
}

// NewRunner makes a Runner; Start runs it.
func NewRunner(m *meta.Store, run Run, log *slog.Logger) *Runner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{Meta: m, Run: run, Log: log, changed: make(chan struct{}, 1)}
}

// Changed tells the runner that schedules were added or removed.
func (r *Runner) Changed() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// RunNow runs the schedule called name at once, waits for it and records
// its outcome.
func (r *Runner) RunNow(ctx context.Context, name, trigger string) (Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := Get(r.Meta, name)
	if err != nil {
		return Outcome{}, err
	}
	start := time.Now()
	o := r.Run(ctx, s)
	o.Start, o.End, o.Trigger = start, time.Now(), trigger
	// The schedule may have changed meanwhile: record on the newest.
	if cur, err := Get(r.Meta, name); err == nil {
		cur.Last = o
		if err := Put(r.Meta, cur); err != nil {
			return o, err
		}
	}
	level := slog.LevelInfo
	if !o.OK {
		level = slog.LevelError
	}
	r.Log.Log(ctx, level, "scheduled backup", "schedule", name, "trigger", trigger, "ok", o.OK, "summary", o.Summary, "pruned", o.Pruned)
	return o, nil
}

// Start runs the schedules until ctx ends: first, once, every schedule
// whose time came while the store was not mounted; then each at its times.
func (r *Runner) Start(ctx context.Context) {
	r.running.Go(func() { r.loop(ctx) })
}

// Wait returns once the runner stopped (its ctx ended, a run in progress
// interrupted and recorded).
func (r *Runner) Wait() { r.running.Wait() }

func (r *Runner) loop(ctx context.Context) {
	trigger := "missed"
	for ctx.Err() == nil {
		list, err := List(r.Meta)
		if err != nil {
			r.Log.Error("read backup schedules", "err", err)
		}
		now := time.Now()
		next := now.Add(time.Hour)
		for _, s := range list {
			if due := s.due(); !due.IsZero() && !due.After(now) {
				r.RunNow(ctx, s.Name, trigger)
				now = time.Now()
				s, _ = Get(r.Meta, s.Name)
			}
			if n := s.due(); !n.IsZero() && n.Before(next) {
				next = n
			}
		}
		trigger = "cron"
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-r.changed:
		}
		t.Stop()
	}
}
