package schedule_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/meta"
	"github.com/sealfs/sealfs/schedule"
)

func openMeta(t *testing.T) *meta.Store {
	t.Helper()
	key, err := crypto.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	m, err := meta.Open(filepath.Join(t.TempDir(), "meta"), meta.Keys{AtRest: key.BadgerKey(), Values: key.MetaValueKey()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestRunnerRunsMissedThenOnTime: a schedule whose time passed before the
// runner started runs once at once ("missed"), then at its times ("cron"),
// and each outcome is recorded on the schedule.
func TestRunnerRunsMissedThenOnTime(t *testing.T) {
	m := openMeta(t)
	created := time.Now().Add(-time.Hour)
	if err := schedule.Put(m, schedule.Schedule{Name: "s", Cron: "@every 1s", Created: created}); err != nil {
		t.Fatal(err)
	}
	// The runner logs each run with its trigger: every run is seen, however
	// slowly a busy machine lets this test look.
	runs := &triggerLog{}
	r := schedule.NewRunner(m, func(ctx context.Context, s schedule.Schedule) schedule.Outcome {
		return schedule.Outcome{OK: true, Summary: "ran " + s.Name}
	}, slog.New(runs))
	ctx, cancel := context.WithCancel(context.Background())
	r.Start(ctx)
	deadline := time.Now().Add(30 * time.Second)
	for len(runs.get()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	r.Wait()
	if triggers := runs.get(); len(triggers) < 2 || triggers[0] != "missed" || triggers[1] != "cron" {
		t.Fatalf("triggers %q, want missed then cron", triggers)
	}
	s, _ := schedule.Get(m, "s")
	if !s.Last.OK || s.Last.Summary != "ran s" || s.Last.End.Before(s.Last.Start) {
		t.Errorf("last outcome %+v", s.Last)
	}
}

// triggerLog is a slog handler that keeps the trigger of each logged run.
type triggerLog struct {
	mu       sync.Mutex
	triggers []string
}

func (l *triggerLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *triggerLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *triggerLog) WithGroup(string) slog.Handler            { return l }

func (l *triggerLog) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "trigger" {
			l.mu.Lock()
			l.triggers = append(l.triggers, a.Value.String())
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

func (l *triggerLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.triggers...)
}

// TestParse accepts the standard five fields, six with seconds, and
// descriptors, and refuses the rest; Put refuses a bad line too.
func TestParse(t *testing.T) {
	for _, ok := range []string{"0 3 * * *", "*/5 * * * * *", "@daily", "@every 90m"} {
		if _, err := schedule.Parse(ok); err != nil {
			t.Errorf("Parse(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "61 * * * *", "* * *", "@sometimes"} {
		if _, err := schedule.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if err := schedule.Put(openMeta(t), schedule.Schedule{Name: "x", Cron: "nope"}); err == nil {
		t.Error("Put took a bad cron line")
	}
}
