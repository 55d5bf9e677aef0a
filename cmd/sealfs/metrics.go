package main

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/remote/uploader"
	"github.com/sealfs/sealfs/schedule"
	"github.com/sealfs/sealfs/store"
)

// mountMetrics gathers a mount's figures at each scrape: nothing is
// counted twice, the uploader and the cache keep their own totals.
type mountMetrics struct {
	st  *store.Store
	sy  *syncer // nil without a remote
	log *slog.Logger

	// The local ciphertext is walked at most once a minute.
	mu         sync.Mutex
	localBytes int64
	localAt    time.Time
}

var (
	descPendingFiles = prometheus.NewDesc("sealfs_pending_files", "Files waiting to be uploaded.", nil, nil)
	descPendingBytes = prometheus.NewDesc("sealfs_pending_bytes", "Ciphertext bytes waiting to be uploaded.", nil, nil)
	descOldest       = prometheus.NewDesc("sealfs_oldest_pending_seconds", "Age of the oldest pending upload.", nil, nil)
	descUpBytes      = prometheus.NewDesc("sealfs_uploaded_bytes_total", "Bytes uploaded since the mount.", nil, nil)
	descUpObjects    = prometheus.NewDesc("sealfs_uploaded_objects_total", "Objects uploaded since the mount.", nil, nil)
	descUpErrors     = prometheus.NewDesc("sealfs_upload_errors_total", "Failed upload attempts since the mount, by kind.", []string{"kind"}, nil)
	descLease        = prometheus.NewDesc("sealfs_lease_held", "1 while this mount holds the bucket lease.", nil, nil)
	descLastSync     = prometheus.NewDesc("sealfs_last_sync_timestamp_seconds", "When a metadata snapshot last named everything uploaded (recoverable up to then).", nil, nil)
	descBackupLast   = prometheus.NewDesc("sealfs_backup_last_run_timestamp_seconds", "When a schedule's last run started.", []string{"schedule"}, nil)
	descBackupOK     = prometheus.NewDesc("sealfs_backup_last_success", "1 if a schedule's last run succeeded.", []string{"schedule"}, nil)
	descCacheBytes   = prometheus.NewDesc("sealfs_cache_bytes", "Local ciphertext bytes.", nil, nil)
	descEvictions    = prometheus.NewDesc("sealfs_cache_evictions_total", "Versions evicted from the local cache since the mount.", nil, nil)
)

// newRegistry is the registry a mount's /metrics serves.
func newRegistry(st *store.Store, sy *syncer, log *slog.Logger) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&mountMetrics{st: st, sy: sy, log: log})
	return reg
}

func (m *mountMetrics) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(m, ch) }

func (m *mountMetrics) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	qs, err := uploader.QueueStatus(m.st.Meta)
	if err != nil {
		m.log.Error("metrics: upload queue", "err", err)
	}
	gauge(descPendingFiles, float64(qs.PendingFiles))
	gauge(descPendingBytes, float64(qs.PendingBytes))
	oldest := 0.0
	if !qs.OldestPending.IsZero() {
		oldest = time.Since(qs.OldestPending).Seconds()
	}
	gauge(descOldest, oldest)
	held := 0.0
	var c uploader.Counters
	var evictions, cached int64
	if m.sy != nil {
		c = m.sy.up.Counters()
		if !m.sy.lostLease.Load() {
			held = 1
		}
		cached, evictions = m.sy.cache.Stats()
	}
	counter(descUpBytes, float64(c.UploadedBytes))
	counter(descUpObjects, float64(c.UploadedObjects))
	for _, kind := range []string{"transient", "permanent", "not the sealed version", "unknown"} {
		counter(descUpErrors, float64(c.Errors[kind]), kind)
	}
	gauge(descLease, held)
	if !c.LastSnapshot.IsZero() {
		gauge(descLastSync, float64(c.LastSnapshot.Unix()))
	}
	if list, err := schedule.List(m.st.Meta); err == nil {
		for _, s := range list {
			if s.Last.Start.IsZero() {
				continue
			}
			ok := 0.0
			if s.Last.OK {
				ok = 1
			}
			gauge(descBackupLast, float64(s.Last.Start.Unix()), s.Name)
			gauge(descBackupOK, ok, s.Name)
		}
	}
	if cached == 0 {
		cached = m.local()
	}
	gauge(descCacheBytes, float64(cached))
	counter(descEvictions, float64(evictions))
}

// local is the store's ciphertext bytes, walked at most once a minute.
func (m *mountMetrics) local() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if time.Since(m.localAt) > time.Minute {
		var total int64
		if err := m.st.ListData(func(_ crypto.FileID, size int64, _ time.Time) { total += size }); err == nil {
			m.localBytes, m.localAt = total, time.Now()
		}
	}
	return m.localBytes
}
