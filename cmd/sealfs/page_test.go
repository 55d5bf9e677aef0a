package main

import (
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote/uploader"
	"github.com/sealfs/sealfs/schedule"
)

// TestPageTemplate renders every section of the page: a template error
// only shows when a field is reached, so each one is filled here.
func TestPageTemplate(t *testing.T) {
	now := time.Date(2026, 12, 3, 3, 0, 0, 0, time.UTC)
	d := pageData{
		Status: statusReport{Store: "/s", Mounted: true, Mountpoint: "/m", Lease: "held by this store",
			Status: uploader.Status{URL: "gs://b/p", PendingFiles: 2, PendingBytes: 3 << 20, OldestPending: now, Failing: 1, LastError: "boom", LastErrorAt: now}},
		Backups: []backupRow{
			{listEntry: listEntry{Name: "a-x.tar.gz", Path: "/backups/a/a-x.tar.gz", Type: "file", Size: 2048, Encrypted: true, Sync: "synced 1"}, Backup: "a", Time: now},
			{listEntry: listEntry{Name: "b-x.tar.gz", Path: "/backups/b/b <x>.tar.gz", Type: "file", Size: 10}, Backup: "b", Time: now},
		},
		Dir: "/backups/a", Crumbs: crumbs("/backups/a"), DirPlain: true,
		Entries:   []listEntry{{Name: "d", Path: "/backups/a/d", Type: "dir"}, {Name: "f", Path: "/backups/a/f", Type: "file", Size: 5}},
		Schedules: []scheduleRow{{Schedule: schedule.Schedule{Name: "n", Cron: "0 3 * * *", Sources: []string{"/etc", "/srv"}, Last: schedule.Outcome{Start: now, OK: true, Summary: "backup ok", Trigger: "cron"}}, Next: now, Keep: "--keep-last 2"}},
		Sources:   []string{"/etc"},
		Running:   []runningJob{{Name: "backup etc", Start: now}},
		Done:      []jobResult{{Name: "schedule n", OK: false, Summary: "failed here", Finished: now}},
		Message:   "hello <b>", MessageBad: true, Form: "f0rm",
	}
	var b strings.Builder
	if err := pageTemplate.Execute(&b, d); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`data-path="/backups/a/a-x.tar.gz" data-encrypted="true"`,
		`href="/download?path=%2fbackups%2fb%2fb%20%3cx%3e.tar.gz"`,
		`enc-off`, `enc-on`, `2.0K`, `3.0M`, `hello &lt;b&gt;`, `Turn encryption on`,
		`value="f0rm"`, `schedule n: failed: failed here`, `backup etc: running`, `boom`, `--keep-last 2`,
		`<a href="/?dir=%2fbackups#browse">backups</a>`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(out, "<b>") {
		t.Errorf("the message is not escaped")
	}
}
