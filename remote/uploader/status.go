package uploader

import (
	"context"
	"sync"
	"time"

	"github.com/sealfs/sealfs/meta"
)

// Status is what `sealfs status` shows of the queue.
type Status struct {
	URL           string    `json:"remote"`
	PendingFiles  int       `json:"pending_files"`
	PendingBytes  int64     `json:"pending_bytes"`
	Failing       int       `json:"failing_files"` // pending after a failed attempt
	OldestPending time.Time `json:"oldest_pending,omitzero"`
	RateBytesSec  float64   `json:"upload_rate_bytes_per_sec"`
	LastError     string    `json:"last_error,omitempty"`
	LastErrorAt   time.Time `json:"last_error_at,omitzero"`
}

// Status reads the queue and the live figures.
func (u *Uploader) Status() (Status, error) {
	st, err := QueueStatus(u.cfg.Meta)
	st.URL, st.RateBytesSec = u.cfg.Bucket.URL(), u.rate.bytesPerSec()
	u.mu.Lock()
	st.LastError, st.LastErrorAt = u.lastErr, u.lastErrAt
	u.mu.Unlock()
	return st, err
}

// QueueStatus reads the queue of a store, mounted or not.
func QueueStatus(m *meta.Store) (Status, error) {
	var st Status
	err := m.View(func(tx *meta.Tx) error {
		return tx.Uploads(func(j meta.Upload) bool {
			st.PendingFiles++
			st.PendingBytes += j.Size
			if j.Attempts > 0 {
				st.Failing++
			}
			if q := time.Unix(0, j.Queued); st.OldestPending.IsZero() || q.Before(st.OldestPending) {
				st.OldestPending = q
			}
			return true
		})
	})
	return st, err
}

// WaitSynced returns when every job queued before the call has left the
// queue (uploaded, or found superseded), or ctx ends. Quiet periods are
// skipped meanwhile: the caller wants it off-site now.
func (u *Uploader) WaitSynced(ctx context.Context) error {
	// Plain copies under directories renamed before the call are moved
	// first, so that their uploads count as queued before it.
	u.applyRekeys(true)
	before := time.Now().UnixNano()
	u.setDraining(true)
	defer u.setDraining(false)
	for {
		u.mu.Lock()
		changed := u.changed
		u.mu.Unlock()
		left := 0
		err := u.cfg.Meta.View(func(tx *meta.Tx) error {
			return tx.Uploads(func(j meta.Upload) bool {
				if j.Queued <= before {
					left++
				}
				return true
			})
		})
		if err != nil {
			return err
		}
		if left == 0 {
			return nil
		}
		u.Wake()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-time.After(time.Second):
		}
	}
}

func (u *Uploader) setDraining(on bool) {
	u.mu.Lock()
	if on {
		u.drainers++
	} else {
		u.drainers--
	}
	u.draining = u.drainers > 0
	u.mu.Unlock()
	u.Wake()
}

// rateMeter is an exponentially weighted upload rate.
type rateMeter struct {
	mu   sync.Mutex
	rate float64 // bytes per second
}

func (r *rateMeter) add(n int64, d time.Duration) {
	if d <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	sample := float64(n) / d.Seconds()
	if r.rate == 0 {
		r.rate = sample
	} else {
		r.rate = 0.8*r.rate + 0.2*sample
	}
}

func (r *rateMeter) bytesPerSec() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rate
}
