package backup

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Policy says which archives of a backup to keep, with restic's forget
// rules: each rule keeps some archives, and an archive is kept if any rule
// keeps it. A policy with no rule keeps everything.
type Policy struct {
	Last    int           `json:"last,omitempty"`    // the n newest
	Hourly  int           `json:"hourly,omitempty"`  // the newest of each of the n newest hours that have one
	Daily   int           `json:"daily,omitempty"`   // ... days
	Weekly  int           `json:"weekly,omitempty"`  // ... ISO weeks
	Monthly int           `json:"monthly,omitempty"` // ... months
	Within  time.Duration `json:"within,omitempty"`  // every archive less than this older than the newest
}

// Empty reports whether p has no rule (and so keeps everything).
func (p Policy) Empty() bool { return p == Policy{} }

// String describes p as the flags that make it.
func (p Policy) String() string {
	var parts []string
	for _, r := range []struct {
		name string
		n    int
	}{{"last", p.Last}, {"hourly", p.Hourly}, {"daily", p.Daily}, {"weekly", p.Weekly}, {"monthly", p.Monthly}} {
		if r.n > 0 {
			parts = append(parts, fmt.Sprintf("--keep-%s %d", r.name, r.n))
		}
	}
	if p.Within > 0 {
		parts = append(parts, "--keep-within "+p.Within.String())
	}
	if len(parts) == 0 {
		return "keep all"
	}
	return strings.Join(parts, " ")
}

// Decision is what a policy does with one archive.
type Decision struct {
	Time    time.Time
	Keep    bool
	Reasons []string // the rules that keep it ("last", "daily", "within 72h0m0s", "no policy")
}

// Apply decides for archives made at times (any order), newest first in
// the result. Times are compared in UTC, so hours and days do not shift
// with the machine's zone.
func (p Policy) Apply(times []time.Time) []Decision {
	ds := make([]Decision, len(times))
	for i, t := range times {
		ds[i] = Decision{Time: t.UTC()}
	}
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].Time.After(ds[j].Time) })
	if p.Empty() {
		for i := range ds {
			ds[i].Keep, ds[i].Reasons = true, []string{"no policy"}
		}
		return ds
	}
	buckets := []struct {
		name string
		n    int
		key  func(time.Time) string
	}{
		{"last", p.Last, func(t time.Time) string { return t.Format(time.RFC3339Nano) }},
		{"hourly", p.Hourly, func(t time.Time) string { return t.Format("2006-01-02T15") }},
		{"daily", p.Daily, func(t time.Time) string { return t.Format(time.DateOnly) }},
		{"weekly", p.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) }},
		{"monthly", p.Monthly, func(t time.Time) string { return t.Format("2006-01") }},
	}
	for _, b := range buckets {
		left, last := b.n, ""
		for i := range ds {
			if left == 0 {
				break
			}
			// Newest first: the first archive of each bucket is its newest.
			if k := b.key(ds[i].Time); k != last {
				last = k
				left--
				ds[i].Keep = true
				ds[i].Reasons = append(ds[i].Reasons, b.name)
			}
		}
	}
	if p.Within > 0 && len(ds) > 0 {
		newest := ds[0].Time
		for i := range ds {
			if newest.Sub(ds[i].Time) < p.Within {
				ds[i].Keep = true
				ds[i].Reasons = append(ds[i].Reasons, "within "+p.Within.String())
			}
		}
	}
	return ds
}
