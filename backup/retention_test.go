package backup_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/backup"
)

func at(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestPolicy checks restic's forget rules: each keeps the newest archive
// of its newest buckets, rules are OR'd, and every kept archive names the
// rules that keep it.
func TestPolicy(t *testing.T) {
	times := []time.Time{
		at("2026-11-30 03:00"), // Monday, ISO week 49
		at("2026-12-01 03:00"),
		at("2026-12-01 15:00"),
		at("2026-12-02 03:00"),
		at("2026-12-02 03:30"),
		at("2026-11-03 03:00"), // an older month
		at("2026-12-03 03:00"), // newest
	}
	tests := []struct {
		name string
		p    backup.Policy
		want map[string]string // kept archive -> its reasons; the rest go
	}{
		{"no rule keeps all", backup.Policy{}, map[string]string{
			"2026-12-03 03:00": "no policy", "2026-12-02 03:30": "no policy", "2026-12-02 03:00": "no policy",
			"2026-12-01 15:00": "no policy", "2026-12-01 03:00": "no policy", "2026-11-30 03:00": "no policy", "2026-11-03 03:00": "no policy",
		}},
		{"last 2", backup.Policy{Last: 2}, map[string]string{
			"2026-12-03 03:00": "last", "2026-12-02 03:30": "last",
		}},
		{"daily 3", backup.Policy{Daily: 3}, map[string]string{
			"2026-12-03 03:00": "daily", "2026-12-02 03:30": "daily", "2026-12-01 15:00": "daily",
		}},
		{"last 1 or monthly 2", backup.Policy{Last: 1, Monthly: 2}, map[string]string{
			"2026-12-03 03:00": "last,monthly", "2026-11-30 03:00": "monthly",
		}},
		{"weekly 2", backup.Policy{Weekly: 2}, map[string]string{
			"2026-12-03 03:00": "weekly", "2026-11-03 03:00": "weekly",
		}},
		{"within 25h", backup.Policy{Within: 25 * time.Hour}, map[string]string{
			"2026-12-03 03:00": "within 25h0m0s", "2026-12-02 03:30": "within 25h0m0s", "2026-12-02 03:00": "within 25h0m0s",
		}},
		{"hourly 2 more than there are", backup.Policy{Hourly: 20}, map[string]string{
			"2026-12-03 03:00": "hourly", "2026-12-02 03:30": "hourly", "2026-12-01 15:00": "hourly",
			"2026-12-01 03:00": "hourly", "2026-11-30 03:00": "hourly", "2026-11-03 03:00": "hourly",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := tt.p.Apply(times)
			if len(ds) != len(times) {
				t.Fatalf("%d decisions for %d archives", len(ds), len(times))
			}
			for i, d := range ds {
				if i > 0 && d.Time.After(ds[i-1].Time) {
					t.Errorf("decisions not newest first at %d", i)
				}
				key := d.Time.Format("2006-01-02 15:04")
				want, kept := tt.want[key]
				if d.Keep != kept || strings.Join(d.Reasons, ",") != want {
					t.Errorf("%s: keep %v reasons %q; want keep %v reasons %q", key, d.Keep, d.Reasons, kept, want)
				}
			}
		})
	}
}
