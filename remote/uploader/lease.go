package uploader

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sealfs/sealfs/remote"
)

// leaseKey is the one object that says which store writes to a prefix.
const leaseKey = "lease"

// ErrLeaseHeld is returned when another store writes to the prefix.
var ErrLeaseHeld = errors.New("the bucket prefix is leased by another sealfs store")

// leaseRecord is the lease object's content (no secrets, no names).
type leaseRecord struct {
	Holder  string    `json:"holder"` // store ID
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Expires time.Time `json:"expires"`
}

// Lease is this store's hold on a bucket prefix: one writer per prefix.
type Lease struct {
	bucket  *remote.Bucket
	holder  string
	ttl     time.Duration
	version string
}

// AcquireLease takes the prefix for holder. It is refused while another
// store holds an unexpired lease; the same store (a restart after a crash)
// and an expired lease are taken over with a version precondition, so two
// contenders cannot both win.
func AcquireLease(ctx context.Context, b *remote.Bucket, holder string, ttl time.Duration) (*Lease, error) {
	l := &Lease{bucket: b, holder: holder, ttl: ttl}
	cur, version, err := l.read(ctx)
	switch {
	case errors.Is(err, remote.ErrNotFound):
		version = ""
	case err != nil:
		return nil, err
	case cur.Holder != holder && time.Now().Before(cur.Expires):
		return nil, fmt.Errorf("%w (store %s on host %s, pid %d, until %s)",
			ErrLeaseHeld, cur.Holder, cur.Host, cur.PID, cur.Expires.Format(time.RFC3339))
	}
	if err := l.write(ctx, version); err != nil {
		if errors.Is(err, remote.ErrAlreadyExists) {
			return nil, fmt.Errorf("%w (taken at the same moment by another store)", ErrLeaseHeld)
		}
		return nil, err
	}
	return l, nil
}

func (l *Lease) read(ctx context.Context) (leaseRecord, string, error) {
	attrs, err := l.bucket.Stat(ctx, leaseKey)
	if err != nil {
		return leaseRecord{}, "", err
	}
	r, err := l.bucket.NewRangeReader(ctx, leaseKey, 0, -1)
	if err != nil {
		return leaseRecord{}, "", err
	}
	defer r.Close()
	var rec leaseRecord
	if err := json.NewDecoder(io.LimitReader(r, 4096)).Decode(&rec); err != nil {
		return leaseRecord{}, "", fmt.Errorf("read lease: %w", err)
	}
	return rec, attrs.Version, nil
}

func (l *Lease) write(ctx context.Context, version string) error {
	host, _ := os.Hostname()
	b, err := json.Marshal(leaseRecord{Holder: l.holder, Host: host, PID: os.Getpid(), Expires: time.Now().Add(l.ttl)})
	if err != nil {
		return err
	}
	attrs, err := l.bucket.PutIfVersion(ctx, leaseKey, bytes.NewReader(b), int64(len(b)), version)
	if err != nil {
		return err
	}
	l.version = attrs.Version
	return nil
}

// Renew extends the lease; an error wrapping ErrLeaseHeld means it was lost.
func (l *Lease) Renew(ctx context.Context) error {
	err := l.write(ctx, l.version)
	if errors.Is(err, remote.ErrAlreadyExists) || errors.Is(err, remote.ErrNotFound) {
		return fmt.Errorf("%w: lost the lease", ErrLeaseHeld)
	}
	return err
}

// RenewLoop renews every third of the lease's lifetime until ctx ends.
func (l *Lease) RenewLoop(ctx context.Context, onErr func(error)) {
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := l.Renew(ctx); err != nil && ctx.Err() == nil {
				onErr(err)
			}
		}
	}
}

// Release gives the prefix up (at unmount).
func (l *Lease) Release(ctx context.Context) error {
	return l.bucket.Delete(ctx, leaseKey)
}
