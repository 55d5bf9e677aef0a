package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// scheduleJSON is one row of `sealfs schedule list --json`.
type scheduleJSON struct {
	Name string `json:"name"`
	Last struct {
		Start   time.Time `json:"start"`
		Trigger string    `json:"trigger"`
		OK      bool      `json:"ok"`
		Summary string    `json:"summary"`
	} `json:"last"`
}

func listSchedules(t *testing.T, store, key string) map[string]scheduleJSON {
	t.Helper()
	r := runSealfsOK(t, "schedule", "list", "--json", "--store", store, "--key-file", key)
	var list []scheduleJSON
	if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil {
		t.Fatalf("schedule list --json: %v\n%s", err, r.Stdout)
	}
	out := map[string]scheduleJSON{}
	for _, s := range list {
		out[s.Name] = s
	}
	return out
}

// archives lists the archive names in dir of the mount.
func archives(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tar.gz") {
			names = append(names, e.Name())
		}
	}
	return names
}

// TestSchedules: a schedule run four times with --keep-last 2 leaves the
// two newest archives, and prune --dry-run names the rule that keeps each;
// a schedule fires on its own at its cron time; one whose time came while
// the store was unmounted runs at the next mount; bad input is refused.
func TestSchedules(t *testing.T) {
	src := filepath.Join(t.TempDir(), "app")
	generateSourceTree(t, src)
	m := mountSealfs(t)
	sealfs := func(args ...string) cmdResult {
		return runSealfsOK(t, append(args, "--store", m.Store, "--key-file", m.Key)...)
	}
	sealfs("schedule", "add", "app", "--cron", "0 3 * * *", "--keep-last", "2", src)
	var made []string
	for range 4 {
		out := sealfs("schedule", "run", "app").Stdout
		m := backupLine.FindStringSubmatch(strings.SplitN(out, "\n", 2)[0] + "\n")
		if m == nil || !strings.Contains(out, "retention:") {
			t.Fatalf("schedule run says %q", out)
		}
		made = append(made, filepath.Base(m[1]))
	}
	got := archives(t, filepath.Join(m.Dir, "backups", "app"))
	if len(got) != 2 || got[0] != made[2] || got[1] != made[3] {
		t.Fatalf("after four runs with --keep-last 2: %q, want the last two of %q", got, made)
	}
	out := sealfs("prune", "--dry-run", "app").Stdout
	if strings.Count(out, "keep") != 2 || !strings.Contains(out, "last") || !strings.Contains(out, "2 archives, 0 would be removed") {
		t.Errorf("prune --dry-run says:\n%s", out)
	}
	out = sealfs("prune", "--dry-run", "--keep-last", "1", "app").Stdout
	if !strings.Contains(out, "would remove") || !strings.Contains(out, made[2]) {
		t.Errorf("prune --dry-run --keep-last 1 says:\n%s", out)
	}
	if got := archives(t, filepath.Join(m.Dir, "backups", "app")); len(got) != 2 {
		t.Errorf("a dry run removed archives: %q", got)
	}
	if s := listSchedules(t, m.Store, m.Key)["app"]; !s.Last.OK || s.Last.Trigger != "manual" {
		t.Errorf("schedule list after runs: %+v", s.Last)
	}

	// On its own, every two seconds.
	sealfs("schedule", "add", "fast", "--cron", "*/2 * * * * *", "--keep-last", "1", "--to", "/auto", src)
	if !waitFor(90*time.Second, func() bool { return len(archives(t, filepath.Join(m.Dir, "auto", "fast"))) > 0 }) {
		t.Fatalf("the schedule did not fire: %+v", listSchedules(t, m.Store, m.Key)["fast"])
	}
	sealfs("schedule", "remove", "fast")

	// Missed while unmounted: runs once at the next mount.
	m.Unmount(t)
	sealfs("schedule", "add", "missed", "--cron", "@every 1s", "--to", "/late", src)
	due := time.Now().Add(1100 * time.Millisecond)
	for time.Now().Before(due) { // the run must be missed: wait for its time to pass
		time.Sleep(100 * time.Millisecond)
	}
	m2 := mountSealfs(t, withStore(m.Store, m.Key))
	if !waitFor(90*time.Second, func() bool { return listSchedules(t, m.Store, m.Key)["missed"].Last.Trigger != "" }) {
		t.Fatal("the missed run did not run at mount")
	}
	if s := listSchedules(t, m.Store, m.Key)["missed"]; s.Last.Trigger != "missed" || !s.Last.OK {
		t.Errorf("first run after the mount: %+v", s.Last)
	}
	if len(archives(t, filepath.Join(m2.Dir, "late", "missed"))) == 0 {
		t.Error("the missed run made no archive")
	}
	sealfs("schedule", "remove", "missed")

	for _, bad := range [][]string{
		{"schedule", "add", "x", "--cron", "61 * * * *", src},
		{"schedule", "add", "x", src},
		{"schedule", "add", "x", "--cron", "@daily", filepath.Join(src, "missing")},
		{"schedule", "run", "nosuch"},
		{"schedule", "remove", "nosuch"},
		{"prune", "nosuch"},
	} {
		r := runSealfs(t, nil, append(bad, "--store", m.Store, "--key-file", m.Key)...)
		if r.Code != 2 || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 0 {
			t.Errorf("%q: exit %d, stderr %q; want 2 and one line", bad, r.Code, r.Stderr)
		}
	}
}
