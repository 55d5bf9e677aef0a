package schedule_test

import (
	"context"
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
	var mu sync.Mutex
	var triggers []string
	r := schedule.NewRunner(m, func(ctx context.Context, s schedule.Schedule) schedule.Outcome {
		return schedule.Outcome{OK: true, Summary: "ran " + s.Name}
	}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	r.Start(ctx)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		s, err := schedule.Get(m, "s")
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		if n := len(triggers); n == 0 || triggers[n-1] != s.Last.Trigger {
			if s.Last.Trigger != "" {
				triggers = append(triggers, s.Last.Trigger)
			}
		}
		done := len(triggers) >= 2
		mu.Unlock()
		if done {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	r.Wait()
	if len(triggers) < 2 || triggers[0] != "missed" || triggers[1] != "cron" {
		t.Fatalf("triggers %q, want missed then cron", triggers)
	}
	s, _ := schedule.Get(m, "s")
	if !s.Last.OK || s.Last.Summary != "ran s" || s.Last.End.Before(s.Last.Start) {
		t.Errorf("last outcome %+v", s.Last)
	}
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
