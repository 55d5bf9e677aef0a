package remote_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/driver"
)

func TestRetryTransient(t *testing.T) {
	b, fb, sleeps := openFault(t, remote.Options{})
	ctx := context.Background()
	fb.inject("put", fault{err: errTransient}, fault{err: errTransient}, fault{err: errTransient})
	data := []byte("payload")
	if _, err := putBytes(ctx, b, "data/1", data); err != nil {
		t.Fatalf("Put after 3 transient failures: %v", err)
	}
	if n := fb.count("put"); n != 4 {
		t.Fatalf("driver Put called %d times, want 4", n)
	}
	if len(*sleeps) != 3 {
		t.Fatalf("slept %d times, want 3", len(*sleeps))
	}
	// Every call re-read the source from the start.
	if got := readAll(t, b, "data/1"); !bytes.Equal(got, data) {
		t.Fatalf("stored %q", got)
	}
	fb.inject("stat", fault{err: errTransient})
	fb.inject("delete", fault{err: errTransient})
	if _, err := b.Stat(ctx, "data/1"); err != nil {
		t.Fatalf("Stat after a transient failure: %v", err)
	}
	if err := b.Delete(ctx, "data/1"); err != nil {
		t.Fatalf("Delete after a transient failure: %v", err)
	}
}

// TestBackoffGrows: the pause before retry i is full jitter in
// [0, min(MaxBackoff, MinBackoff<<i)], so the pauses grow with the attempts.
func TestBackoffGrows(t *testing.T) {
	const attempts = 20
	opts := remote.Options{MinBackoff: time.Millisecond, MaxBackoff: time.Minute, MaxAttempts: attempts}
	b, fb, sleeps := openFault(t, opts)
	fb.always("stat", errTransient)
	_, err := b.Stat(context.Background(), "k")
	if !remote.IsTransient(err) || !strings.Contains(err.Error(), "gave up after 20 attempts") {
		t.Fatalf("Stat = %v, want the transient error after 20 attempts", err)
	}
	if n := fb.count("stat"); n != attempts {
		t.Fatalf("driver Stat called %d times, want %d", n, attempts)
	}
	if len(*sleeps) != attempts-1 {
		t.Fatalf("slept %d times, want %d", len(*sleeps), attempts-1)
	}
	for i, d := range *sleeps {
		if ceiling := min(opts.MinBackoff<<i, opts.MaxBackoff); d < 0 || d > ceiling {
			t.Errorf("pause %d = %v, want within [0, %v]", i, d, ceiling)
		}
	}
	// With ceilings of 1-16 ms against 16 s-1 min, this fails with
	// negligible probability unless the pauses do not grow.
	first, last := sum((*sleeps)[:5]), sum((*sleeps)[len(*sleeps)-5:])
	if last <= first {
		t.Fatalf("pauses do not grow: first five %v, last five %v", first, last)
	}
}

func sum(ds []time.Duration) (s time.Duration) {
	for _, d := range ds {
		s += d
	}
	return s
}

func TestPermanentNotRetried(t *testing.T) {
	b, fb, sleeps := openFault(t, remote.Options{})
	fb.inject("put", fault{err: errPermanent})
	_, err := putBytes(context.Background(), b, "data/1", []byte("x"))
	if driver.CodeOf(err) != driver.Permanent || !strings.Contains(err.Error(), "put data/1 on faulty://") || !strings.Contains(err.Error(), "403 forbidden") {
		t.Fatalf("Put = %v, want the named permanent error", err)
	}
	if fb.count("put") != 1 || len(*sleeps) != 0 {
		t.Fatalf("permanent error retried: %d calls, %d pauses", fb.count("put"), len(*sleeps))
	}
	// Unclassified errors are not retried either: only drivers know what
	// is worth retrying.
	fb.inject("stat", fault{err: errors.New("mystery")})
	if _, err := b.Stat(context.Background(), "k"); err == nil || fb.count("stat") != 1 {
		t.Fatalf("unclassified error: %v after %d calls", err, fb.count("stat"))
	}
}

func TestContextStopsRetries(t *testing.T) {
	fb, u := newFaultBucket(t)
	b, err := remote.Open(context.Background(), u, remote.Options{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fb.always("put", errTransient)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = putBytes(ctx, b, "data/1", []byte("x"))
	if !errors.Is(err, context.DeadlineExceeded) || !remote.IsTransient(err) {
		t.Fatalf("Put = %v, want the transient error and the deadline", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("retries went on for %v after the deadline", elapsed)
	}
	if n := fb.count("put"); n < 2 {
		t.Fatalf("only %d attempts before the deadline", n)
	}
}

// TestIdempotentPut: the first attempt stores the object but its answer is
// lost; the retry finds the key taken by the same bytes and succeeds.
func TestIdempotentPut(t *testing.T) {
	b, fb, _ := openFault(t, remote.Options{})
	ctx := context.Background()
	fb.inject("put", fault{err: errTransient, after: true})
	data := []byte("the bytes")
	a, err := putBytes(ctx, b, "data/1", data)
	if err != nil {
		t.Fatalf("Put whose first answer was lost: %v", err)
	}
	if fb.count("put") != 2 || a.Key != "data/1" || a.Size != int64(len(data)) || a.Version == "" {
		t.Fatalf("Put = %+v after %d calls", a, fb.count("put"))
	}

	// The same for the lease's versioned write.
	v1 := a.Version
	fb.inject("put", fault{err: errTransient, after: true})
	a2, err := b.PutIfVersion(ctx, "data/1", bytes.NewReader([]byte("new bytes")), 9, v1)
	if err != nil || a2.Version == v1 {
		t.Fatalf("PutIfVersion whose first answer was lost = %+v, %v", a2, err)
	}
	// A stale version with other bytes is a conflict, not a success.
	_, err = b.PutIfVersion(ctx, "data/1", bytes.NewReader([]byte("newer bytes")), 11, v1)
	if !errors.Is(err, remote.ErrAlreadyExists) {
		t.Fatalf("PutIfVersion with a stale version: %v", err)
	}
	if got := readAll(t, b, "data/1"); string(got) != "new bytes" {
		t.Fatalf("object holds %q", got)
	}
}

func TestChecksumMismatchReported(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(*driver.Attributes)
	}{
		{"crc32c", func(a *driver.Attributes) { a.CRC32C ^= 1 }},
		{"size", func(a *driver.Attributes) { a.Size++ }},
		{"md5", func(a *driver.Attributes) { a.MD5 = bytes.Repeat([]byte{1}, 16) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, fb, _ := openFault(t, remote.Options{})
			fb.tamper = tc.tamper
			_, err := putBytes(context.Background(), b, "data/1", []byte("secret bytes"))
			if !errors.Is(err, remote.ErrChecksum) || remote.IsTransient(err) {
				t.Fatalf("Put = %v, want ErrChecksum, not transient", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error shows content: %v", err)
			}
			if fb.count("put") != 1 {
				t.Fatalf("checksum mismatch retried: %d calls", fb.count("put"))
			}
		})
	}
}

// TestListResumes: a listing that breaks off is retried, and the callback
// sees every key once, in order.
func TestListResumes(t *testing.T) {
	b, fb, _ := openFault(t, remote.Options{})
	ctx := context.Background()
	want := []string{"data/1", "data/2", "data/3", "data/4", "data/5"}
	for _, k := range want {
		if _, err := putBytes(ctx, b, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	fb.inject("list", fault{err: errTransient, items: 2}, fault{err: errTransient, items: 3})
	var got []string
	err := b.List(ctx, "data/", func(a driver.Attributes) error {
		got = append(got, a.Key)
		return nil
	})
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("List = %q, %v; want %q", got, err, want)
	}
	// The callback's own error, even a transient one, ends the listing.
	calls := 0
	err = b.List(ctx, "", func(driver.Attributes) error {
		calls++
		return errTransient
	})
	if !errors.Is(err, errTransient) || calls != 1 {
		t.Fatalf("List with a failing callback: %v after %d calls", err, calls)
	}
}

// TestReadAtRetriesBody: a body that breaks off midway (an unclassified
// error from the SDK's reader) is fetched again.
func TestReadAtRetriesBody(t *testing.T) {
	b, fb, sleeps := openFault(t, remote.Options{})
	ctx := context.Background()
	data := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	if _, err := putBytes(ctx, b, "data/1", data); err != nil {
		t.Fatal(err)
	}
	fb.inject("get", fault{err: errors.New("connection reset by peer"), body: true, items: 5}, fault{err: errTransient})
	p := make([]byte, 20)
	n, err := b.ReadAt(ctx, "data/1", p, 10)
	if err != nil || n != 20 || !bytes.Equal(p, data[10:30]) {
		t.Fatalf("ReadAt = %d, %v, %q", n, err, p)
	}
	if fb.count("get") != 3 || len(*sleeps) != 2 {
		t.Fatalf("%d GetRange calls, %d pauses; want 3, 2", fb.count("get"), len(*sleeps))
	}
	// NewRangeReader retries the open, and names the key in body errors.
	fb.inject("get", fault{err: errTransient}, fault{err: errors.New("connection reset by peer"), body: true, items: 5})
	rc, err := b.NewRangeReader(ctx, "data/1", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, err = io.ReadAll(rc)
	if err == nil || !strings.Contains(err.Error(), "read data/1 on faulty://") {
		t.Fatalf("body error = %v, want it named", err)
	}
}

func TestMissingNotRetried(t *testing.T) {
	b, fb, sleeps := openFault(t, remote.Options{})
	_, err := b.Stat(context.Background(), "data/none")
	if !errors.Is(err, remote.ErrNotFound) || errors.Is(err, remote.ErrAlreadyExists) {
		t.Fatalf("Stat of a missing key: %v", err)
	}
	if fb.count("stat") != 1 || len(*sleeps) != 0 {
		t.Fatalf("NotFound retried")
	}
}
