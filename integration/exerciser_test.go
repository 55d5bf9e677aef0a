package integration

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The exerciser drives random file operations through a mount and checks
// every answer against an in-memory model. CI runs a bounded part; by hand:
//
//	go test ./integration -run TestExerciser -seeds 10 -ops 10000
//	go test ./integration -run 'TestExerciser/mmap/seed=7$' -seed 7 -ops 10000
var (
	exSeeds = flag.Int("seeds", 3, "exerciser: seeds per mode (1..N)")
	exOps   = flag.Int("ops", 2000, "exerciser: operations per seed")
	exSeed  = flag.Int("seed", 0, "exerciser: run only this seed (0: seeds 1..-seeds)")
)

const (
	exNames      = 4       // file names f0..f3 in one directory
	exMaxFDs     = 6       // open descriptors at once
	exMaxSize    = 3 << 20 // files stay below this
	exHistoryLen = 40      // operations printed on a failure
	exBlock      = 64 << 10
	exPage       = 4096
)

// exInode is the model of one file: its bytes and its link count.
type exInode struct {
	id    int
	data  []byte
	nlink int
}

// exFD is an open descriptor and the file it refers to, which stays the
// same when names move or go away.
type exFD struct {
	fd     int
	ino    *exInode
	append bool
}

type exerciser struct {
	t       *testing.T
	rng     *rand.Rand
	dir     string
	mmap    bool
	names   map[string]*exInode
	fds     []*exFD
	nextID  int
	history []string
	seed    int
	ops     int
	opIndex int
	mode    string
}

func TestExerciser(t *testing.T) {
	seeds := []int{}
	if *exSeed != 0 {
		seeds = append(seeds, *exSeed)
	} else {
		for s := 1; s <= *exSeeds; s++ {
			seeds = append(seeds, s)
		}
	}
	for _, mode := range []string{"nommap", "mmap"} {
		t.Run(mode, func(t *testing.T) {
			for _, seed := range seeds {
				t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
					runExerciser(t, mode, seed, *exOps)
				})
			}
		})
	}
}

func runExerciser(t *testing.T, mode string, seed, ops int) {
	m := mountSealfs(t)
	dir := filepath.Join(m.Dir, "ex")
	mustMkdir(t, dir, 0o755)
	e := &exerciser{
		t: t, rng: rand.New(rand.NewPCG(uint64(seed), 0x5ea1f5)), dir: dir, mmap: mode == "mmap",
		names: map[string]*exInode{}, seed: seed, ops: ops, mode: mode,
	}
	t.Cleanup(e.closeAll)
	for e.opIndex = 0; e.opIndex < ops; e.opIndex++ {
		e.step()
	}
	e.closeAll()
	m = m.Remount(t)
	e.dir = filepath.Join(m.Dir, "ex")
	e.log("remount")
	e.checkAll()
}

// step runs one random operation.
func (e *exerciser) step() {
	type op struct {
		weight int
		run    func()
	}
	ops := []op{
		{8, e.open}, {4, e.close}, {20, e.pwrite}, {6, e.appendWrite}, {16, e.pread},
		{8, e.ftruncate}, {3, e.fsync}, {8, e.stat}, {6, e.fstat}, {3, e.readFresh},
		{3, e.rename}, {2, e.link}, {2, e.unlink}, {3, e.fallocate},
	}
	if e.mmap {
		ops = append(ops, op{10, e.mmapOp})
	}
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	n := e.rng.IntN(total)
	for _, o := range ops {
		if n < o.weight {
			o.run()
			return
		}
		n -= o.weight
	}
}

// log records an operation for the failure report.
func (e *exerciser) log(format string, args ...any) {
	e.history = append(e.history, fmt.Sprintf("#%d "+format, append([]any{e.opIndex}, args...)...))
	if len(e.history) > exHistoryLen {
		e.history = e.history[1:]
	}
}

// fail stops the test with the seed, the mismatch and the recent history.
func (e *exerciser) fail(format string, args ...any) {
	e.t.Helper()
	e.t.Fatalf("exerciser %s seed %d, operation %d: %s\nlast %d operations:\n  %s\nrerun: go test ./integration -run 'TestExerciser/%s/seed=%d$' -seed %d -ops %d",
		e.mode, e.seed, e.opIndex, fmt.Sprintf(format, args...), len(e.history),
		strings.Join(e.history, "\n  "), e.mode, e.seed, e.seed, e.ops)
}

// offset picks an offset below limit, biased to block and page boundaries
// and one byte either side of them, where off-by-one bugs live.
func (e *exerciser) offset(limit int) int {
	if limit <= 0 {
		return 0
	}
	var off int
	switch e.rng.IntN(3) {
	case 0:
		off = e.rng.IntN(limit/exBlock+1)*exBlock + e.rng.IntN(3) - 1
	case 1:
		off = e.rng.IntN(limit/exPage+1)*exPage + e.rng.IntN(3) - 1
	default:
		off = e.rng.IntN(limit)
	}
	return max(0, min(off, limit-1))
}

// length picks a write or read length: mostly small, sometimes several
// blocks, biased like offset.
func (e *exerciser) length() int {
	switch e.rng.IntN(6) {
	case 0:
		return e.rng.IntN(16)
	case 1:
		return e.offset(300<<10) + 1
	case 2:
		return e.rng.IntN(4)*exBlock + e.rng.IntN(3) - 1 + 1
	default:
		return e.rng.IntN(20000) + 1
	}
}

func (e *exerciser) randomData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(e.rng.Uint32())
	}
	return b
}

func (e *exerciser) name() string { return fmt.Sprintf("f%d", e.rng.IntN(exNames)) }

func (e *exerciser) path(name string) string { return filepath.Join(e.dir, name) }

// pickFD returns a random open descriptor, or nil when none is open.
func (e *exerciser) pickFD(wantAppend bool) *exFD {
	var c []*exFD
	for _, f := range e.fds {
		if f.append == wantAppend {
			c = append(c, f)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c[e.rng.IntN(len(c))]
}

// anyFD returns an open descriptor, now and then an O_APPEND one, or nil.
func (e *exerciser) anyFD() *exFD {
	if f := e.pickFD(e.rng.IntN(4) == 0); f != nil {
		return f
	}
	return e.pickFD(false)
}

func (e *exerciser) open() {
	if len(e.fds) >= exMaxFDs {
		e.close()
		return
	}
	name := e.name()
	flags := os.O_RDWR | os.O_CREATE
	ino := e.names[name]
	trunc := e.rng.IntN(8) == 0
	app := e.rng.IntN(5) == 0
	if trunc {
		flags |= os.O_TRUNC
	}
	if app {
		flags |= os.O_APPEND
	}
	fd, err := syscall.Open(e.path(name), flags, 0o644)
	e.log("open %s trunc=%v append=%v -> fd %d %v", name, trunc, app, fd, err)
	if err != nil {
		e.fail("open %s: %v", name, err)
	}
	if ino == nil {
		e.nextID++
		ino = &exInode{id: e.nextID, nlink: 1}
		e.names[name] = ino
	}
	if trunc {
		ino.data = ino.data[:0]
	}
	e.fds = append(e.fds, &exFD{fd: fd, ino: ino, append: app})
}

func (e *exerciser) close() {
	if len(e.fds) == 0 {
		return
	}
	i := e.rng.IntN(len(e.fds))
	f := e.fds[i]
	err := syscall.Close(f.fd)
	e.log("close fd %d (inode %d) -> %v", f.fd, f.ino.id, err)
	if err != nil {
		e.fail("close: %v", err)
	}
	e.fds = slices.Delete(e.fds, i, i+1)
}

func (e *exerciser) closeAll() {
	for _, f := range e.fds {
		syscall.Close(f.fd)
	}
	e.fds = nil
}

// writeModel applies a write of data at off to the model.
func writeModel(ino *exInode, off int, data []byte) {
	if len(data) == 0 {
		return // a write of nothing extends nothing, even past the end
	}
	if end := off + len(data); end > len(ino.data) {
		ino.data = append(ino.data, make([]byte, end-len(ino.data))...)
	}
	copy(ino.data[off:], data)
}

func (e *exerciser) pwrite() {
	f := e.pickFD(false)
	if f == nil {
		e.open()
		return
	}
	off := e.offset(exMaxSize - 400<<10)
	data := e.randomData(e.length())
	n, err := syscall.Pwrite(f.fd, data, int64(off))
	e.log("pwrite fd %d (inode %d) off=%d len=%d -> %d %v", f.fd, f.ino.id, off, len(data), n, err)
	if err != nil || n != len(data) {
		e.fail("pwrite off=%d len=%d: wrote %d, %v", off, len(data), n, err)
	}
	writeModel(f.ino, off, data)
}

func (e *exerciser) appendWrite() {
	f := e.pickFD(true)
	if f == nil || len(f.ino.data) > exMaxSize-400<<10 {
		e.ftruncate()
		return
	}
	data := e.randomData(e.length())
	n, err := syscall.Write(f.fd, data)
	e.log("append fd %d (inode %d) len=%d at size %d -> %d %v", f.fd, f.ino.id, len(data), len(f.ino.data), n, err)
	if err != nil || n != len(data) {
		e.fail("append len=%d: wrote %d, %v", len(data), n, err)
	}
	writeModel(f.ino, len(f.ino.data), data)
}

// readFull reads len(buf) bytes at off, as many preads as it takes; it
// stops early only at end of file (a read of 0 bytes).
func readFull(fd int, buf []byte, off int) (int, error) {
	got := 0
	for got < len(buf) {
		n, err := syscall.Pread(fd, buf[got:], int64(off+got))
		if err != nil {
			return got, err
		}
		if n == 0 {
			break
		}
		got += n
	}
	return got, nil
}

func (e *exerciser) pread() {
	f := e.anyFD()
	if f == nil {
		e.open()
		return
	}
	size := len(f.ino.data)
	off := e.offset(size + exBlock)
	buf := make([]byte, e.length())
	// A second descriptor sees what the first wrote.
	fd, second := f.fd, e.rng.IntN(3) == 0 && f.ino.nlink > 0
	var name string
	if second {
		name = e.nameOf(f.ino)
		var err error
		if fd, err = syscall.Open(e.path(name), os.O_RDONLY, 0); err != nil {
			e.fail("open %s for a second descriptor: %v", name, err)
		}
		defer syscall.Close(fd)
	}
	n, err := readFull(fd, buf, off)
	e.log("pread fd %d (inode %d, second=%v) off=%d len=%d -> %d %v (size %d)", f.fd, f.ino.id, second, off, len(buf), n, err, size)
	if err != nil {
		e.fail("pread off=%d len=%d: %v", off, len(buf), err)
	}
	want := f.ino.data[min(off, size):min(off+len(buf), size)]
	if n != len(want) || !bytes.Equal(buf[:n], want) {
		e.fail("pread off=%d len=%d: read %d bytes, want %d (size %d): %s", off, len(buf), n, len(want), size, describeDiff(buf[:n], want))
	}
}

// nameOf returns a name of ino (which must have one).
func (e *exerciser) nameOf(ino *exInode) string {
	var names []string
	for n, i := range e.names {
		if i == ino {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names[e.rng.IntN(len(names))]
}

func (e *exerciser) ftruncate() {
	f := e.anyFD()
	if f == nil {
		e.open()
		return
	}
	size := e.offset(exMaxSize)
	if e.rng.IntN(3) == 0 {
		size = e.offset(len(f.ino.data) + 1) // shrink more often than grow
	}
	err := syscall.Ftruncate(f.fd, int64(size))
	e.log("ftruncate fd %d (inode %d) %d -> %d %v", f.fd, f.ino.id, len(f.ino.data), size, err)
	if err != nil {
		e.fail("ftruncate %d: %v", size, err)
	}
	if size < len(f.ino.data) {
		f.ino.data = f.ino.data[:size]
	} else {
		f.ino.data = append(f.ino.data, make([]byte, size-len(f.ino.data))...)
	}
}

func (e *exerciser) fsync() {
	f := e.pickFD(e.rng.IntN(2) == 0)
	if f == nil {
		return
	}
	err := syscall.Fsync(f.fd)
	e.log("fsync fd %d -> %v", f.fd, err)
	if err != nil {
		e.fail("fsync: %v", err)
	}
}

// checkStat compares a stat result with the model.
func (e *exerciser) checkStat(what string, st *syscall.Stat_t, ino *exInode) {
	if st.Size != int64(len(ino.data)) {
		e.fail("%s: size %d, want %d", what, st.Size, len(ino.data))
	}
	if int(st.Nlink) != ino.nlink {
		e.fail("%s: nlink %d, want %d", what, st.Nlink, ino.nlink)
	}
}

func (e *exerciser) stat() {
	name := e.name()
	var st syscall.Stat_t
	err := syscall.Stat(e.path(name), &st)
	ino := e.names[name]
	e.log("stat %s -> size %d %v", name, st.Size, err)
	switch {
	case ino == nil && errors.Is(err, syscall.ENOENT):
	case ino == nil:
		e.fail("stat %s: %v, want ENOENT", name, err)
	case err != nil:
		e.fail("stat %s: %v", name, err)
	default:
		e.checkStat("stat "+name, &st, ino)
	}
}

func (e *exerciser) fstat() {
	f := e.pickFD(e.rng.IntN(3) == 0)
	if f == nil {
		return
	}
	var st syscall.Stat_t
	err := syscall.Fstat(f.fd, &st)
	e.log("fstat fd %d (inode %d) -> size %d %v", f.fd, f.ino.id, st.Size, err)
	if err != nil {
		e.fail("fstat: %v", err)
	}
	e.checkStat(fmt.Sprintf("fstat fd %d", f.fd), &st, f.ino)
}

func (e *exerciser) readFresh() {
	name := e.name()
	got, err := os.ReadFile(e.path(name))
	ino := e.names[name]
	e.log("read %s whole -> %d bytes %v", name, len(got), err)
	switch {
	case ino == nil && errors.Is(err, os.ErrNotExist):
	case ino == nil:
		e.fail("read %s: %v, want ENOENT", name, err)
	case err != nil:
		e.fail("read %s: %v", name, err)
	case !bytes.Equal(got, ino.data):
		e.fail("read %s: %s", name, describeDiff(got, ino.data))
	}
}

// rename moves one name over another, open or not: descriptors of the file
// that loses its name keep reading and writing it.
func (e *exerciser) rename() {
	src, dst := e.name(), e.name()
	ino := e.names[src]
	if ino == nil || src == dst {
		return
	}
	err := os.Rename(e.path(src), e.path(dst))
	e.log("rename %s (inode %d) over %s -> %v", src, ino.id, dst, err)
	if err != nil {
		e.fail("rename %s %s: %v", src, dst, err)
	}
	if old := e.names[dst]; old != nil && old != ino {
		old.nlink--
	} else if old == ino {
		// Both names are links of one file: POSIX says do nothing.
		return
	}
	e.names[dst] = ino
	delete(e.names, src)
}

func (e *exerciser) link() {
	src, dst := e.name(), e.name()
	ino := e.names[src]
	if ino == nil || e.names[dst] != nil {
		return
	}
	err := os.Link(e.path(src), e.path(dst))
	e.log("link %s (inode %d) %s -> %v", src, ino.id, dst, err)
	if err != nil {
		e.fail("link %s %s: %v", src, dst, err)
	}
	e.names[dst] = ino
	ino.nlink++
}

func (e *exerciser) unlink() {
	name := e.name()
	ino := e.names[name]
	if ino == nil {
		return
	}
	err := os.Remove(e.path(name))
	e.log("unlink %s (inode %d) -> %v", name, ino.id, err)
	if err != nil {
		e.fail("unlink %s: %v", name, err)
	}
	ino.nlink--
	delete(e.names, name)
}

// fallocate in the default mode extends the file with zeros; sealfs has
// no other mode to offer but FALLOC_FL_KEEP_SIZE, which changes nothing.
func (e *exerciser) fallocate() {
	f := e.pickFD(false)
	if f == nil {
		return
	}
	off, n := e.offset(exMaxSize-400<<10), e.length()
	mode := uint32(0)
	if e.rng.IntN(4) == 0 {
		mode = unix.FALLOC_FL_KEEP_SIZE
	}
	err := unix.Fallocate(f.fd, mode, int64(off), int64(n))
	e.log("fallocate fd %d (inode %d) mode=%d off=%d len=%d at size %d -> %v", f.fd, f.ino.id, mode, off, n, len(f.ino.data), err)
	switch {
	case n == 0 && errors.Is(err, syscall.EINVAL): // POSIX: len 0 is EINVAL
		return
	case n == 0:
		e.fail("fallocate len=0: %v, want EINVAL", err)
	case err != nil:
		e.fail("fallocate: %v", err)
	}
	if end := off + n; mode == 0 && end > len(f.ino.data) {
		f.ino.data = append(f.ino.data, make([]byte, end-len(f.ino.data))...)
	}
}

// mmapOp maps part of a file shared, checks what it shows, writes through
// the mapping and msyncs it: then every other path must see those bytes.
func (e *exerciser) mmapOp() {
	f := e.pickFD(false)
	if f == nil || len(f.ino.data) == 0 {
		e.pwrite()
		return
	}
	size := len(f.ino.data)
	off := e.rng.IntN(size/exPage+1) * exPage
	if off >= size {
		off = (size - 1) / exPage * exPage
	}
	n := min(size-off, max(1, e.length()))
	mem, err := unix.Mmap(f.fd, int64(off), n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		e.log("mmap fd %d off=%d len=%d -> %v", f.fd, off, n, err)
		e.fail("mmap off=%d len=%d: %v", off, n, err)
	}
	defer unix.Munmap(mem)
	// A page past the size the kernel believes is SIGBUS: a failure to
	// report, not a crash of the test binary.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			e.log("mmap fd %d (inode %d) off=%d len=%d: fault", f.fd, f.ino.id, off, n)
			e.fail("mmap off=%d len=%d of a %d-byte file faulted: %v", off, n, size, r)
		}
	}()
	if !bytes.Equal(mem, f.ino.data[off:off+n]) {
		e.log("mmap fd %d (inode %d) off=%d len=%d: read", f.fd, f.ino.id, off, n)
		e.fail("mmap off=%d len=%d shows other bytes: %s", off, n, describeDiff(mem, f.ino.data[off:off+n]))
	}
	woff := e.rng.IntN(n)
	data := e.randomData(e.rng.IntN(n-woff) + 1)
	copy(mem[woff:], data)
	err = unix.Msync(mem, unix.MS_SYNC)
	e.log("mmap fd %d (inode %d) off=%d len=%d, write %d at %d, msync -> %v", f.fd, f.ino.id, off, n, len(data), off+woff, err)
	if err != nil {
		e.fail("msync: %v", err)
	}
	writeModel(f.ino, off+woff, data)
}

// checkAll compares every name with the model, by stat and by content.
func (e *exerciser) checkAll() {
	for name, ino := range e.names {
		var st syscall.Stat_t
		if err := syscall.Stat(e.path(name), &st); err != nil {
			e.fail("after remount: stat %s: %v", name, err)
		}
		e.checkStat("after remount: stat "+name, &st, ino)
		got, err := os.ReadFile(e.path(name))
		if err != nil {
			e.fail("after remount: read %s: %v", name, err)
		}
		if !bytes.Equal(got, ino.data) {
			e.fail("after remount: %s: %s", name, describeDiff(got, ino.data))
		}
	}
	entries, err := os.ReadDir(e.dir)
	if err != nil {
		e.fail("after remount: readdir: %v", err)
	}
	if len(entries) != len(e.names) {
		var got []string
		for _, d := range entries {
			got = append(got, d.Name())
		}
		e.fail("after remount: directory holds %v, want %d names", got, len(e.names))
	}
}
