package uploader

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sealfs/sealfs/remote"
)

// leaseKey is the one object that says which store writes to a prefix.
const leaseKey = "lease"

// ErrLeaseHeld is returned when another store writes to the prefix.
var ErrLeaseHeld = errors.New("the bucket prefix is leased by another sealfs store")

// leaseRecord is the lease object's content: random IDs and a time, no
// host name, PID or anything else about the machine.
type leaseRecord struct {
	Holder   string    `json:"holder"`             // store ID
	Instance string    `json:"instance,omitempty"` // which copy of the store (recovered copies differ)
	Expires  time.Time `json:"expires"`
}

// Holder names a lease holder: the store and the copy of it (a store
// recovered on a new machine keeps the store ID but is another instance,
// so it never takes the old machine's live lease by accident).
type Holder struct {
	Store, Instance string
}

// owns reports whether rec was written by h (a lease from before instances
// were recorded belongs to every instance of its store).
func (h Holder) owns(rec leaseRecord) bool {
	return rec.Holder == h.Store && (rec.Instance == "" || rec.Instance == h.Instance)
}

// Lease is this store's hold on a bucket prefix: one writer per prefix.
type Lease struct {
	bucket  *remote.Bucket
	holder  Holder
	ttl     time.Duration
	version string
}

// AcquireLease takes the prefix for holder. It is refused while another
// holder's lease is unexpired, unless takeover; our own (a restart after a
// crash) and an expired lease are taken over with a version precondition,
// so two contenders cannot both win.
func AcquireLease(ctx context.Context, b *remote.Bucket, holder Holder, ttl time.Duration, takeover bool) (*Lease, error) {
	l := &Lease{bucket: b, holder: holder, ttl: ttl}
	cur, version, err := l.read(ctx)
	switch {
	case errors.Is(err, remote.ErrNotFound):
		version = ""
	case err != nil:
		return nil, err
	case !holder.owns(cur) && time.Now().Before(cur.Expires) && !takeover:
		return nil, fmt.Errorf("%w (store %s, until %s; mount with --takeover to take it over)",
			ErrLeaseHeld, describeHolder(cur), cur.Expires.UTC().Format(time.RFC3339))
	}
	if err := l.write(ctx, version, time.Now().Add(ttl)); err != nil {
		if errors.Is(err, remote.ErrAlreadyExists) {
			return nil, fmt.Errorf("%w (taken at the same moment by another store)", ErrLeaseHeld)
		}
		return nil, err
	}
	return l, nil
}

func describeHolder(rec leaseRecord) string {
	if rec.Instance == "" {
		return rec.Holder
	}
	return rec.Holder + ", instance " + rec.Instance
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

func (l *Lease) write(ctx context.Context, version string, expires time.Time) error {
	b, err := json.Marshal(leaseRecord{Holder: l.holder.Store, Instance: l.holder.Instance, Expires: expires})
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
	err := l.write(ctx, l.version, time.Now().Add(l.ttl))
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

// Release gives the prefix up (at unmount) by writing the lease expired,
// with a version precondition: a lease another store took meanwhile is
// left alone.
func (l *Lease) Release(ctx context.Context) error {
	err := l.write(ctx, l.version, time.Now().Add(-time.Second))
	if errors.Is(err, remote.ErrAlreadyExists) || errors.Is(err, remote.ErrNotFound) {
		return nil // not ours any more
	}
	return err
}
