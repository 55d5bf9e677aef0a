package snapshot_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/remote"
	_ "github.com/sealfs/sealfs/remote/file"
	"github.com/sealfs/sealfs/remote/snapshot"
)

type rig struct {
	dir string
	b   *remote.Bucket
	k   *crypto.MasterKey
	w   *snapshot.Writer
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	b, err := remote.Open(context.Background(), "file://"+dir, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	k, err := crypto.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	return &rig{dir: dir, b: b, k: k, w: &snapshot.Writer{Bucket: b, Key: k, StoreID: [16]byte{5}, TempDir: t.TempDir()}}
}

func (r *rig) write(t *testing.T, body string) snapshot.Entry {
	t.Helper()
	e, err := r.w.Write(context.Background(), func(w io.Writer) error {
		_, err := io.WriteString(w, body)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (r *rig) latest(t *testing.T) *snapshot.Manifest {
	t.Helper()
	l, err := snapshot.List(context.Background(), r.b)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := snapshot.Latest(context.Background(), r.b, r.k, l)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (r *rig) fetch(t *testing.T, m *snapshot.Manifest, e snapshot.Entry) (string, error) {
	t.Helper()
	_, c, cleanup, err := snapshot.Fetch(context.Background(), r.b, r.k, m, e, t.TempDir())
	if err != nil {
		return "", err
	}
	defer cleanup()
	b, err := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
	return string(b), err
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(dir, "meta"))
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// TestGenerationsAndPruning: numbers grow, the manifest names the last
// Keep, older ones are pruned, and each named snapshot reads back.
func TestGenerationsAndPruning(t *testing.T) {
	r := newRig(t)
	for i := 1; i <= 7; i++ {
		if e := r.write(t, fmt.Sprintf("generation %d", i)); e.Seq != uint64(i) {
			t.Fatalf("snapshot %d got sequence %d", i, e.Seq)
		}
	}
	m := r.latest(t)
	if m.Seq != 7 || len(m.Snapshots) != snapshot.Keep || m.Newest().Seq != 7 || m.Snapshots[4].Seq != 3 {
		t.Fatalf("manifest %d names %+v", m.Seq, m.Snapshots)
	}
	for _, e := range m.Snapshots {
		got, err := r.fetch(t, m, e)
		if want := fmt.Sprintf("generation %d", e.Seq); err != nil || got != want {
			t.Fatalf("snapshot %d: %q, %v; want %q", e.Seq, got, err, want)
		}
	}
	got := names(t, r.dir)
	if len(got) != 2*snapshot.Keep || got[0] != "manifest-0000000000000003" {
		t.Fatalf("meta/ holds %v after pruning", got)
	}
	// A new writer (the next mount) continues the numbers.
	r.w = &snapshot.Writer{Bucket: r.b, Key: r.k, StoreID: [16]byte{5}, TempDir: t.TempDir()}
	if e := r.write(t, "after restart"); e.Seq != 8 {
		t.Fatalf("after a restart: sequence %d, want 8", e.Seq)
	}
	if m := r.latest(t); len(m.Snapshots) != snapshot.Keep || m.Snapshots[1].Seq != 7 {
		t.Fatalf("after a restart the manifest names %+v", m.Snapshots)
	}
}

// TestReplayAndSwapAreRefused: an older snapshot put under the newest
// name, or a manifest put under another number, does not pass.
func TestReplayAndSwapAreRefused(t *testing.T) {
	r := newRig(t)
	r.write(t, "one")
	r.write(t, "two")
	m := r.latest(t)
	old, _ := os.ReadFile(filepath.Join(r.dir, "meta", "snapshot-0000000000000001"))
	os.WriteFile(filepath.Join(r.dir, "meta", "snapshot-0000000000000002"), old, 0o600)
	if _, err := r.fetch(t, m, m.Newest()); !errors.Is(err, crypto.ErrAuth) {
		t.Fatalf("replayed snapshot: %v, want ErrAuth", err)
	}
	// The manifest of generation 1 under the name of generation 3.
	man1, _ := os.ReadFile(filepath.Join(r.dir, "meta", "manifest-0000000000000001"))
	os.WriteFile(filepath.Join(r.dir, "meta", "manifest-0000000000000003"), man1, 0o600)
	if _, err := snapshot.ReadManifest(context.Background(), r.b, r.k, 3); !errors.Is(err, crypto.ErrAuth) {
		t.Fatalf("manifest under another number: %v, want ErrAuth", err)
	}
	// Latest skips it and takes manifest 2.
	l, _ := snapshot.List(context.Background(), r.b)
	m2, skipped, err := snapshot.Latest(context.Background(), r.b, r.k, l)
	if err != nil || m2.Seq != 2 || len(skipped) != 1 {
		t.Fatalf("Latest = %v, skipped %v, %v", m2, skipped, err)
	}
}

// TestDeletedNewestIsNamed: a deleted newest snapshot is ErrMissing with
// its number, not a silent fallback.
func TestDeletedNewestIsNamed(t *testing.T) {
	r := newRig(t)
	r.write(t, "one")
	r.write(t, "two")
	os.Remove(filepath.Join(r.dir, "meta", "snapshot-0000000000000002"))
	m := r.latest(t)
	_, err := r.fetch(t, m, m.Newest())
	if !errors.Is(err, snapshot.ErrMissing) || !bytes.Contains([]byte(err.Error()), []byte("snapshot 2")) {
		t.Fatalf("deleted newest: %v", err)
	}
	if got, err := r.fetch(t, m, m.Snapshots[1]); err != nil || got != "one" {
		t.Fatalf("older generation: %q, %v", got, err)
	}
}

// TestOtherKeyFindsNothing: with another master key no manifest opens.
func TestOtherKeyFindsNothing(t *testing.T) {
	r := newRig(t)
	r.write(t, "one")
	other, _ := crypto.GenerateMasterKey()
	l, _ := snapshot.List(context.Background(), r.b)
	if _, _, err := snapshot.Latest(context.Background(), r.b, other, l); !errors.Is(err, snapshot.ErrNoSnapshot) {
		t.Fatalf("other key: %v, want ErrNoSnapshot", err)
	}
}
