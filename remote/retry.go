package remote

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Default retry policy.
const (
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
)

// retry calls fn until it returns nil or a non-transient error, the
// attempts run out, or ctx ends, sleeping with exponential backoff and full
// jitter in between (so many workers hitting one outage spread out). fn
// gets the attempt number, counting from 0.
func (b *Bucket) retry(ctx context.Context, fn func(attempt int) error) error {
	for attempt := 0; ; attempt++ {
		err := fn(attempt)
		if err == nil || !IsTransient(err) {
			return err
		}
		if b.opts.MaxAttempts > 0 && attempt+1 >= b.opts.MaxAttempts {
			return fmt.Errorf("%w (gave up after %d attempts)", err, attempt+1)
		}
		if serr := b.sleep(ctx, b.backoff(attempt)); serr != nil {
			return fmt.Errorf("%w (gave up after %d attempts: %w)", err, attempt+1, serr)
		}
	}
}

// backoff returns the pause after attempt: uniform in [0, cap] where cap
// doubles from MinBackoff per attempt up to MaxBackoff.
func (b *Bucket) backoff(attempt int) time.Duration {
	ceiling := b.opts.MaxBackoff
	if attempt < 62 {
		if c := b.opts.MinBackoff << attempt; c > 0 && c < ceiling && c>>attempt == b.opts.MinBackoff {
			ceiling = c
		}
	}
	return rand.N(ceiling + 1)
}

// sleepContext waits d or until ctx ends.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
