package remote

import (
	"context"
	"time"
)

// SetSleep replaces the pause between retries, so tests can record the
// delays without waiting them out.
func SetSleep(b *Bucket, sleep func(context.Context, time.Duration) error) { b.sleep = sleep }
