package version_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/fs/version"
	"github.com/sealfs/sealfs/meta"
)

// errCrashed is what every operation returns once the simulated machine
// has crashed: from then on nothing changes.
var errCrashed = errors.New("simulated crash")

// crashClock counts the steps that change state (data writes, syncs,
// metadata commits) and crashes at step at (0: never).
type crashClock struct {
	mu    sync.Mutex
	steps int
	at    int
}

func (c *crashClock) step() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at > 0 && c.steps >= c.at {
		return errCrashed
	}
	c.steps++
	return nil
}

// memData is an in-memory DataStore that knows which bytes are durable: a
// write changes a file's current bytes, Sync or SyncAll makes them durable,
// and a crash leaves only the durable ones. Creating and removing a file are
// durable at once (the worst case for a record that points at it).
type memData struct {
	clock *crashClock
	mu    sync.Mutex
	files map[crypto.FileID]*memFile
}

type memFile struct {
	store       *memData
	cur, stable []byte
}

func newMemData(clock *crashClock) *memData {
	return &memData{clock: clock, files: map[crypto.FileID]*memFile{}}
}

func (d *memData) CreateData(id crypto.FileID) (version.DataFile, error) {
	if err := d.clock.step(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.files[id] != nil {
		return nil, os.ErrExist
	}
	f := &memFile{store: d}
	d.files[id] = f
	return &memHandle{f}, nil
}

func (d *memData) OpenData(id crypto.FileID) (version.DataFile, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.files[id]
	if f == nil {
		return nil, os.ErrNotExist
	}
	return &memHandle{f}, nil
}

func (d *memData) RemoveData(id crypto.FileID) error {
	if err := d.clock.step(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.files, id)
	return nil
}

func (d *memData) SyncAll() error {
	if err := d.clock.step(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, f := range d.files {
		f.stable = bytes.Clone(f.cur)
	}
	return nil
}

func (d *memData) ListData(fn func(id crypto.FileID, size int64, mtime time.Time)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, f := range d.files {
		fn(id, int64(len(f.cur)), time.Time{})
	}
	return nil
}

// afterCrash returns the store a restart finds: the durable bytes only, or
// (durable false: the daemon was killed, the machine kept running) the
// current ones.
func (d *memData) afterCrash(clock *crashClock, durable bool) *memData {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := newMemData(clock)
	for id, f := range d.files {
		b := f.cur
		if durable {
			b = f.stable
		}
		out.files[id] = &memFile{store: out, cur: bytes.Clone(b), stable: bytes.Clone(b)}
	}
	return out
}

// memHandle is one open data file.
type memHandle struct{ f *memFile }

func (h *memHandle) ReadAt(p []byte, off int64) (int, error) {
	h.f.store.mu.Lock()
	defer h.f.store.mu.Unlock()
	if off >= int64(len(h.f.cur)) {
		return 0, io.EOF
	}
	n := copy(p, h.f.cur[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *memHandle) WriteAt(p []byte, off int64) (int, error) {
	if err := h.f.store.clock.step(); err != nil {
		return 0, err
	}
	h.f.store.mu.Lock()
	defer h.f.store.mu.Unlock()
	if end := off + int64(len(p)); end > int64(len(h.f.cur)) {
		h.f.cur = append(h.f.cur, make([]byte, end-int64(len(h.f.cur)))...)
	}
	copy(h.f.cur[off:], p)
	return len(p), nil
}

func (h *memHandle) Truncate(size int64) error {
	if err := h.f.store.clock.step(); err != nil {
		return err
	}
	h.f.store.mu.Lock()
	defer h.f.store.mu.Unlock()
	if size <= int64(len(h.f.cur)) {
		h.f.cur = h.f.cur[:size]
	} else {
		h.f.cur = append(h.f.cur, make([]byte, size-int64(len(h.f.cur)))...)
	}
	return nil
}

func (h *memHandle) Stat() (os.FileInfo, error) {
	h.f.store.mu.Lock()
	defer h.f.store.mu.Unlock()
	return sizeInfo(len(h.f.cur)), nil
}

func (h *memHandle) Sync() error {
	if err := h.f.store.clock.step(); err != nil {
		return err
	}
	h.f.store.mu.Lock()
	defer h.f.store.mu.Unlock()
	h.f.stable = bytes.Clone(h.f.cur)
	return nil
}

func (h *memHandle) Close() error { return nil }

type sizeInfo int64

func (s sizeInfo) Name() string       { return "data" }
func (s sizeInfo) Size() int64        { return int64(s) }
func (s sizeInfo) Mode() os.FileMode  { return 0o600 }
func (s sizeInfo) ModTime() time.Time { return time.Time{} }
func (s sizeInfo) IsDir() bool        { return false }
func (s sizeInfo) Sys() any           { return nil }

// crashMeta is a real Badger store whose commits and syncs count as steps.
// It records at which steps it synced, and keeps a backup of what the sync
// at step snapAt made durable (a backup is costly: only the last sync
// before a crash needs one).
type crashMeta struct {
	*meta.Store
	clock     *crashClock
	snapAt    int
	syncSteps []int
	lastSync  []byte
}

func (m *crashMeta) Update(fn func(*meta.Tx) error) error {
	if err := m.clock.step(); err != nil {
		return err
	}
	return m.Store.Update(fn)
}

func (m *crashMeta) Sync() error {
	if err := m.clock.step(); err != nil {
		return err
	}
	if err := m.Store.Sync(); err != nil {
		return err
	}
	m.syncSteps = append(m.syncSteps, m.clock.steps)
	if m.clock.steps != m.snapAt {
		return nil
	}
	var buf bytes.Buffer
	if _, err := m.Store.Backup(&buf); err != nil {
		return err
	}
	m.lastSync = buf.Bytes()
	return nil
}

func (m *crashMeta) SyncIfDirty() error { return m.Sync() }
