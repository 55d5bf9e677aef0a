package drivertest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/sealfs/sealfs/remote/driver"
)

// listKeys mix '/' with bytes that sort before it ('-') and after it ('c'),
// so a driver that walks directories instead of sorting whole keys fails.
var listKeys = []string{"a/1", "a/2", "a/b/3", "a/b-x", "a/bc", "ab", "b", "c/d/e/f"}

func testList(t *testing.T, b driver.Bucket) {
	versions := map[string]string{}
	for i, key := range listKeys {
		versions[key] = mustPut(t, b, key, content(uint64(i), 10+i)).Version
	}
	cases := []struct {
		prefix string
		want   []string
	}{
		{"", listKeys},
		{"a/", []string{"a/1", "a/2", "a/b-x", "a/b/3", "a/bc"}},
		{"a/b", []string{"a/b-x", "a/b/3", "a/bc"}},
		{"a/b/", []string{"a/b/3"}},
		{"a", []string{"a/1", "a/2", "a/b-x", "a/b/3", "a/bc", "ab"}},
		{"c/d/", []string{"c/d/e/f"}},
		{"b", []string{"b"}},
		{"zz", nil},
		{"a/1/", nil},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("prefix=%q", tc.prefix), func(t *testing.T) {
			var got []string
			err := b.List(testContext(t), tc.prefix, func(a driver.Attributes) error {
				got = append(got, a.Key)
				i := slices.Index(listKeys, a.Key)
				if i < 0 {
					return fmt.Errorf("unexpected key %q", a.Key)
				}
				if a.Size != int64(10+i) {
					t.Errorf("List: %q Size = %d, want %d", a.Key, a.Size, 10+i)
				}
				if a.Version != versions[a.Key] {
					t.Errorf("List: %q Version = %q, Put said %q", a.Key, a.Version, versions[a.Key])
				}
				return nil
			})
			if err != nil {
				t.Fatalf("List(%q): %v", tc.prefix, err)
			}
			if want := sortedCopy(tc.want); !equalStrings(got, want) {
				t.Fatalf("List(%q) = %q, want %q", tc.prefix, got, want)
			}
		})
	}
	t.Run("stop", func(t *testing.T) {
		stop := errors.New("stop here")
		calls := 0
		err := b.List(testContext(t), "", func(driver.Attributes) error {
			calls++
			return stop
		})
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("List whose callback fails: err = %v after %d calls, want the callback's error after 1", err, calls)
		}
	})
}

// testListPaging lists more objects than one page of GCS or S3 (1000).
func testListPaging(t *testing.T, b driver.Bucket) {
	if testing.Short() {
		t.Skip("1,050 objects in -short mode")
	}
	const n = 1050
	ctx := testContext(t)
	want := make([]string, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range n {
		want[i] = fmt.Sprintf("page/%05d", i)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := put(ctx, b, want[i], []byte(want[i]), ""); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Put: %v", err)
	}
	mustPut(t, b, "pagf", []byte("outside the prefix"))
	var got []string
	err := b.List(ctx, "page/", func(a driver.Attributes) error {
		got = append(got, a.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if !equalStrings(got, want) {
		t.Fatalf("List returned %d keys, want %d in order", len(got), len(want))
	}
}

// sortedCopy orders keys as object stores do: by their bytes.
func sortedCopy(keys []string) []string {
	s := slices.Clone(keys)
	slices.Sort(s)
	return s
}

func equalStrings(a, b []string) bool { return slices.Equal(a, b) }
