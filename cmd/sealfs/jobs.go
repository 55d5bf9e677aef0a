package main

import (
	"context"
	"slices"
	"sync"
	"time"
)

// jobs runs the page's actions (a schedule run, an on-demand backup) in
// the background: a backup can take longer than a browser waits, and
// closing the tab must not interrupt it. They run under the daemon's
// context, and the daemon waits for them before it closes the store.
type jobs struct {
	ctx context.Context
	wg  sync.WaitGroup

	mu      sync.Mutex
	running map[string]time.Time // by job name
	done    []jobResult          // newest first, at most keepResults
}

// jobResult is how a finished job went, for the page.
type jobResult struct {
	Name     string
	OK       bool
	Summary  string
	Start    time.Time
	Finished time.Time
}

// keepResults bounds what the page remembers of finished jobs.
const keepResults = 20

func newJobs(ctx context.Context) *jobs {
	return &jobs{ctx: ctx, running: map[string]time.Time{}}
}

// start runs fn in the background under name unless a job of that name
// is running already (then it reports false). fn returns whether it
// succeeded and its summary line.
func (j *jobs) start(name string, fn func(ctx context.Context) (bool, string)) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, busy := j.running[name]; busy || j.ctx.Err() != nil {
		return false
	}
	start := time.Now()
	j.running[name] = start
	j.wg.Go(func() {
		ok, summary := fn(j.ctx)
		j.mu.Lock()
		defer j.mu.Unlock()
		delete(j.running, name)
		r := jobResult{Name: name, OK: ok, Summary: summary, Start: start, Finished: time.Now()}
		j.done = append([]jobResult{r}, j.done...)
		if len(j.done) > keepResults {
			j.done = j.done[:keepResults]
		}
	})
	return true
}

// runningJob is a job in progress, for the page.
type runningJob struct {
	Name  string
	Start time.Time
}

// snapshot is what runs and what ran, newest first.
func (j *jobs) snapshot() ([]runningJob, []jobResult) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var run []runningJob
	for name, start := range j.running {
		run = append(run, runningJob{name, start})
	}
	slices.SortFunc(run, func(a, b runningJob) int { return b.Start.Compare(a.Start) })
	return run, append([]jobResult(nil), j.done...)
}

// wait returns once every job has ended; the daemon's context ending
// interrupts them.
func (j *jobs) wait() { j.wg.Wait() }
