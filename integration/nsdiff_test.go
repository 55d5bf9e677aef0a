package integration

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The namespace differential test applies one random sequence of namespace
// operations to a sealfs mount and to a plain directory on the local disk
// (ext4 here) and requires the same answers: the same result and errno for
// every operation, and after every operation the same tree (type, mode,
// size, nlink, owner, link target, content, xattrs and which names share an
// inode). By hand:
//
//	go test ./integration -run TestNamespaceDiff -nsseeds 5 -nsops 20000
var (
	nsSeeds = flag.Int("nsseeds", 3, "namespace differential: seeds (1..N)")
	nsOps   = flag.Int("nsops", 400, "namespace differential: operations per seed")
	nsSeed  = flag.Int("nsseed", 0, "namespace differential: run only this seed")
)

// nsPaths is the pool every operation draws its paths from: few enough
// names that collisions, ENOENT, EEXIST, ENOTEMPTY, ENOTDIR and EISDIR all
// come up often, and a whole-tree walk after each step stays cheap.
var nsPaths = []string{
	"a", "b", "c", "d",
	"a/x", "a/y", "b/x", "b/y", "c/x",
	"a/x/z", "b/y/z", "a/x/z/w",
}

// nsTargets are symlink targets: pool paths (resolved relative to the
// link's directory, never escaping the root), a dangling name and an
// absolute path outside both trees.
var nsTargets = []string{"a", "x", "b/y", "z", "dangling", "/nonexistent-sealfs-nsdiff"}

var (
	nsModes = []uint32{0o644, 0o755, 0o600, 0o444, 0o000, 0o4755, 0o2755, 0o1777, 0o6711}
	nsIDs   = []int{0, 1000, 1001}
)

// nsResult is what one side answered.
type nsResult struct {
	errno syscall.Errno
	value string // readlink target, directory listing
}

func (r nsResult) String() string {
	s := "ok"
	if r.errno != 0 {
		s = r.errno.Error() + " (" + unix.ErrnoName(r.errno) + ")"
	}
	if r.value != "" {
		s += " " + r.value
	}
	return s
}

func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.EIO // not a system call error: never expected
}

// nsOp is one operation, run the same way under either root. side is 0
// for sealfs and 1 for the plain directory (for open descriptors).
type nsOp struct {
	desc string
	run  func(root string, side int) nsResult
	// timeCheck, when set, checks the times the operation set on both
	// sides right after it, before a walk's reads move atime.
	timeCheck func(t *nsDiff, before, after time.Time)
}

// nsFile is a file open on both sides.
type nsFile struct {
	path string
	fd   [2]int
}

type nsDiff struct {
	t       *testing.T
	rng     *rand.Rand
	roots   [2]string
	files   []*nsFile
	history []string
	seed    int
	ops     int
	index   int
}

func TestNamespaceDiff(t *testing.T) {
	var seeds []int
	if *nsSeed != 0 {
		seeds = []int{*nsSeed}
	} else {
		for s := 1; s <= *nsSeeds; s++ {
			seeds = append(seeds, s)
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			runNamespaceDiff(t, seed, *nsOps)
		})
	}
}

func runNamespaceDiff(t *testing.T, seed, ops int) {
	m := mountSealfs(t)
	d := &nsDiff{
		t: t, rng: rand.New(rand.NewPCG(uint64(seed), 0x0d1ff)), seed: seed, ops: ops,
		roots: [2]string{filepath.Join(m.Dir, "ns"), filepath.Join(t.TempDir(), "ns")},
	}
	for _, r := range d.roots {
		mustMkdir(t, r, 0o755)
	}
	t.Cleanup(d.closeAll)
	for d.index = 0; d.index < ops; d.index++ {
		if d.index == ops/2 {
			d.closeAll()
			m = m.Remount(t)
			d.history = append(d.history, fmt.Sprintf("#%d remount", d.index))
			d.compareTrees("after remount")
		}
		d.step()
	}
	d.closeAll()
	m.Remount(t)
	d.compareTrees("after the final remount")
}

func (d *nsDiff) closeAll() {
	for _, f := range d.files {
		syscall.Close(f.fd[0])
		syscall.Close(f.fd[1])
	}
	d.files = nil
}

func (d *nsDiff) fail(format string, args ...any) {
	d.t.Helper()
	d.closeAll() // else the unmount at cleanup finds the mount busy
	d.t.Fatalf("namespace differential seed %d, operation %d: %s\nlast %d operations:\n  %s\nrerun: go test ./integration -run 'TestNamespaceDiff/seed=%d$' -nsseed %d -nsops %d",
		d.seed, d.index, fmt.Sprintf(format, args...), len(d.history), strings.Join(d.history, "\n  "), d.seed, d.seed, d.ops)
}

func (d *nsDiff) step() {
	op := d.randomOp()
	before := time.Now()
	var res [2]nsResult
	for side, root := range d.roots {
		res[side] = op.run(root, side)
	}
	after := time.Now()
	d.history = append(d.history, fmt.Sprintf("#%d %s -> %v", d.index, op.desc, res[0]))
	if len(d.history) > exHistoryLen {
		d.history = d.history[1:]
	}
	if res[0] != res[1] {
		d.fail("%s: sealfs answered %v, the plain directory %v", op.desc, res[0], res[1])
	}
	if op.timeCheck != nil && res[0].errno == 0 {
		op.timeCheck(d, before, after)
	}
	d.compareTrees(op.desc)
}

func (d *nsDiff) path() string { return nsPaths[d.rng.IntN(len(nsPaths))] }

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

// randomOp draws the next operation and its arguments.
func (d *nsDiff) randomOp() nsOp {
	p, q := d.path(), d.path()
	mode := pick(d.rng, nsModes)
	switch n := d.rng.IntN(100); {
	case n < 10:
		data := randomBytes(d.rng.Uint64(), d.rng.IntN(3*blockSize))
		return nsOp{fmt.Sprintf("create %s %o (%d bytes)", p, mode, len(data)), func(root string, _ int) nsResult {
			fd, err := syscall.Open(filepath.Join(root, p), os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
			if err != nil {
				return nsResult{errno: errnoOf(err)}
			}
			defer syscall.Close(fd)
			_, err = syscall.Write(fd, data)
			return nsResult{errno: errnoOf(err)}
		}, nil}
	case n < 18:
		return nsOp{fmt.Sprintf("mkdir %s %o", p, mode), func(root string, _ int) nsResult {
			return nsResult{errno: errnoOf(syscall.Mkdir(filepath.Join(root, p), mode))}
		}, nil}
	case n < 28:
		flags := pick(d.rng, []uint{0, 0, unix.RENAME_NOREPLACE, unix.RENAME_EXCHANGE})
		return nsOp{fmt.Sprintf("rename %s %s flags=%d", p, q, flags), func(root string, _ int) nsResult {
			return nsResult{errno: errnoOf(unix.Renameat2(unix.AT_FDCWD, filepath.Join(root, p), unix.AT_FDCWD, filepath.Join(root, q), flags))}
		}, nil}
	case n < 33:
		return nsOp{fmt.Sprintf("link %s %s", p, q), func(root string, _ int) nsResult {
			return nsResult{errno: errnoOf(syscall.Link(filepath.Join(root, p), filepath.Join(root, q)))}
		}, nil}
	case n < 39:
		return nsOp{"unlink " + p, func(root string, _ int) nsResult {
			return nsResult{errno: errnoOf(syscall.Unlink(filepath.Join(root, p)))}
		}, nil}
	case n < 44:
		return nsOp{"rmdir " + p, func(root string, _ int) nsResult {
			return nsResult{errno: errnoOf(syscall.Rmdir(filepath.Join(root, p)))}
		}, nil}
	case n < 49:
		target := pick(d.rng, nsTargets)
		return nsOp{fmt.Sprintf("symlink %s -> %s", p, target), func(root string, _ int) nsResult {
			return nsResult{errno: errnoOf(syscall.Symlink(target, filepath.Join(root, p)))}
		}, nil}
	case n < 51:
		return nsOp{"readlink " + p, func(root string, _ int) nsResult {
			s, err := os.Readlink(filepath.Join(root, p))
			return nsResult{errno: errnoOf(err), value: s}
		}, nil}
	case n < 53:
		return nsOp{"readdir " + p, func(root string, _ int) nsResult {
			entries, err := os.ReadDir(filepath.Join(root, p))
			var names []string
			for _, e := range entries {
				names = append(names, e.Name()+":"+e.Type().String())
			}
			return nsResult{errno: errnoOf(err), value: strings.Join(names, ",")}
		}, nil}
	case n < 58:
		return nsOp{fmt.Sprintf("chmod %s %o", p, mode), func(root string, _ int) nsResult {
			return nsResult{errno: errnoOf(syscall.Chmod(filepath.Join(root, p), mode))}
		}, nil}
	case n < 62:
		uid, gid, follow := pick(d.rng, nsIDs), pick(d.rng, nsIDs), d.rng.IntN(2) == 0
		return nsOp{fmt.Sprintf("chown %s %d:%d follow=%v", p, uid, gid, follow), func(root string, _ int) nsResult {
			if follow {
				return nsResult{errno: errnoOf(syscall.Chown(filepath.Join(root, p), uid, gid))}
			}
			return nsResult{errno: errnoOf(syscall.Lchown(filepath.Join(root, p), uid, gid))}
		}, nil}
	case n < 67:
		return d.utimensOp(p)
	case n < 71:
		size := int64(d.rng.IntN(3 * blockSize))
		return nsOp{fmt.Sprintf("truncate %s %d", p, size), func(root string, _ int) nsResult {
			return nsResult{errno: errnoOf(syscall.Truncate(filepath.Join(root, p), size))}
		}, nil}
	case n < 77:
		name := pick(d.rng, []string{"user.a", "user.b"})
		value := randomBytes(d.rng.Uint64(), d.rng.IntN(40))
		flags := pick(d.rng, []int{0, 0, unix.XATTR_CREATE, unix.XATTR_REPLACE})
		return nsOp{fmt.Sprintf("setxattr %s %s (%d bytes) flags=%d", p, name, len(value), flags), func(root string, _ int) nsResult {
			return nsResult{errno: errnoOf(unix.Lsetxattr(filepath.Join(root, p), name, value, flags))}
		}, nil}
	case n < 80:
		name := pick(d.rng, []string{"user.a", "user.b"})
		return nsOp{fmt.Sprintf("removexattr %s %s", p, name), func(root string, _ int) nsResult {
			return nsResult{errno: errnoOf(unix.Lremovexattr(filepath.Join(root, p), name))}
		}, nil}
	default:
		return d.fileOp(p)
	}
}

// utimensOp sets times with explicit values, UTIME_NOW or UTIME_OMIT, with
// or without following a symlink, and checks what it set.
func (d *nsDiff) utimensOp(p string) nsOp {
	choose := func() unix.Timespec {
		switch d.rng.IntN(4) {
		case 0:
			return unix.Timespec{Nsec: unix.UTIME_NOW}
		case 1:
			return unix.Timespec{Nsec: unix.UTIME_OMIT}
		default:
			return unix.Timespec{Sec: 1_000_000_000 + d.rng.Int64N(1_000_000_000), Nsec: d.rng.Int64N(1_000_000_000)}
		}
	}
	ts := []unix.Timespec{choose(), choose()}
	flags := 0
	if d.rng.IntN(2) == 0 {
		flags = unix.AT_SYMLINK_NOFOLLOW
	}
	desc := fmt.Sprintf("utimensat %s atime=%v mtime=%v flags=%d", p, tsString(ts[0]), tsString(ts[1]), flags)
	run := func(root string, _ int) nsResult {
		return nsResult{errno: errnoOf(unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(root, p), ts, flags))}
	}
	check := func(d *nsDiff, before, after time.Time) {
		if ts[0].Nsec == unix.UTIME_OMIT && ts[1].Nsec == unix.UTIME_OMIT {
			return // Linux returns before it even resolves the path
		}
		for side, root := range d.roots {
			var st unix.Stat_t
			var err error
			if flags == unix.AT_SYMLINK_NOFOLLOW {
				err = unix.Lstat(filepath.Join(root, p), &st)
			} else {
				err = unix.Stat(filepath.Join(root, p), &st)
			}
			if err != nil {
				d.fail("%s: stat after: %v", desc, err)
			}
			for i, got := range []unix.Timespec{st.Atim, st.Mtim} {
				want := ts[i]
				switch want.Nsec {
				case unix.UTIME_OMIT:
				case unix.UTIME_NOW:
					// ext4 stamps with a coarse clock, up to a tick behind.
					g := time.Unix(got.Sec, got.Nsec)
					if g.Before(before.Add(-20*time.Millisecond)) || g.After(after.Add(time.Second)) {
						d.fail("%s: side %d time %d is %v, want now (%v..%v)", desc, side, i, g, before, after)
					}
				default:
					if got != want {
						d.fail("%s: side %d time %d is %s, want %s", desc, side, i, tsString(got), tsString(want))
					}
				}
			}
		}
	}
	return nsOp{desc, run, check}
}

func tsString(ts unix.Timespec) string {
	switch ts.Nsec {
	case unix.UTIME_NOW:
		return "NOW"
	case unix.UTIME_OMIT:
		return "OMIT"
	}
	return fmt.Sprintf("%d.%09d", ts.Sec, ts.Nsec)
}

// fileOp opens, writes, truncates or closes a file kept open across
// operations, the pattern of the stale-size bug (ftruncate, then a write
// on the same descriptor, then stat by path).
func (d *nsDiff) fileOp(p string) nsOp {
	if len(d.files) == 0 || len(d.files) < 3 && d.rng.IntN(4) == 0 {
		return nsOp{"open " + p, func(root string, side int) nsResult {
			fd, err := syscall.Open(filepath.Join(root, p), os.O_RDWR, 0)
			if err != nil {
				return nsResult{errno: errnoOf(err)}
			}
			if side == 0 {
				d.files = append(d.files, &nsFile{path: p, fd: [2]int{fd, -1}})
			} else if f := d.files[len(d.files)-1]; f.fd[1] == -1 && f.path == p {
				f.fd[1] = fd
			}
			return nsResult{}
		}, nil}
	}
	i := d.rng.IntN(len(d.files))
	f := d.files[i]
	if f.fd[1] == -1 {
		// Opened on sealfs only: the step already failed on the errno.
		d.fail("descriptor of %s open on one side only", f.path)
	}
	switch d.rng.IntN(5) {
	case 0:
		d.files = slices.Delete(d.files, i, i+1)
		return nsOp{"close " + f.path, func(_ string, side int) nsResult {
			return nsResult{errno: errnoOf(syscall.Close(f.fd[side]))}
		}, nil}
	case 1:
		size := int64(d.rng.IntN(4 * blockSize))
		return nsOp{fmt.Sprintf("ftruncate %s %d", f.path, size), func(_ string, side int) nsResult {
			return nsResult{errno: errnoOf(syscall.Ftruncate(f.fd[side], size))}
		}, nil}
	default:
		off := int64(d.rng.IntN(5)*blockSize + d.rng.IntN(3) - 1 + d.rng.IntN(2)*d.rng.IntN(blockSize))
		off = max(off, 0)
		data := randomBytes(d.rng.Uint64(), 1+d.rng.IntN(2*blockSize))
		return nsOp{fmt.Sprintf("pwrite %s off=%d len=%d", f.path, off, len(data)), func(_ string, side int) nsResult {
			n, err := syscall.Pwrite(f.fd[side], data, off)
			if err == nil && n != len(data) {
				return nsResult{value: fmt.Sprintf("short write %d", n)}
			}
			return nsResult{errno: errnoOf(err)}
		}, nil}
	}
}

// nsEntry is what the walk compares of one path.
type nsEntry struct {
	typ    fs.FileMode
	perm   uint32 // mode & 07777
	size   int64  // files and symlinks only
	nlink  uint64
	uid    uint32
	gid    uint32
	target string
	sum    string // sha256 of a file's content
	xattrs string
	ino    uint64
}

func (e nsEntry) String() string {
	return fmt.Sprintf("type=%v perm=%04o size=%d nlink=%d owner=%d:%d target=%q content=%s xattrs=[%s]",
		e.typ, e.perm, e.size, e.nlink, e.uid, e.gid, e.target, e.sum, e.xattrs)
}

// snapshot walks root. Directory sizes, blocks, inode numbers and times
// differ between filesystems by design and are not compared; which names
// share an inode is, through links.
func (d *nsDiff) snapshot(root string) (map[string]nsEntry, map[string]string) {
	out := map[string]nsEntry{}
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		e := nsEntry{
			typ: de.Type(), perm: st.Mode & 0o7777, nlink: uint64(st.Nlink),
			uid: st.Uid, gid: st.Gid, ino: st.Ino,
		}
		switch {
		case de.Type().IsRegular():
			e.size = st.Size
			data, err := os.ReadFile(p)
			if err != nil {
				return fmt.Errorf("read %s: %w", rel, err)
			}
			if int64(len(data)) != st.Size {
				return fmt.Errorf("%s: stat says %d bytes, a read returns %d", rel, st.Size, len(data))
			}
			e.sum = shortSum(data)
		case de.Type()&fs.ModeSymlink != 0:
			e.size = st.Size
			if e.target, err = os.Readlink(p); err != nil {
				return err
			}
		}
		e.xattrs = listXattrs(p)
		out[rel] = e
		return nil
	})
	if err != nil {
		d.fail("walk %s: %v", root, err)
	}
	// Hard-link identity: each path maps to the sorted names of its inode.
	byIno := map[uint64][]string{}
	for p, e := range out {
		if !e.typ.IsDir() {
			byIno[e.ino] = append(byIno[e.ino], p)
		}
	}
	links := map[string]string{}
	for _, names := range byIno {
		slices.Sort(names)
		for _, n := range names {
			links[n] = strings.Join(names, " ")
		}
	}
	return out, links
}

func shortSum(b []byte) string {
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%x", sum[:8])
}

func listXattrs(p string) string {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return "error " + err.Error()
	}
	var names []string
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if strings.HasPrefix(name, "user.") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var parts []string
	for _, name := range names {
		v := make([]byte, 4096)
		m, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			parts = append(parts, name+"=error "+err.Error())
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%x", name, v[:m]))
	}
	return strings.Join(parts, " ")
}

func (d *nsDiff) compareTrees(after string) {
	d.t.Helper()
	a, aLinks := d.snapshot(d.roots[0])
	b, bLinks := d.snapshot(d.roots[1])
	for _, p := range sortedKeys(a) {
		eb, ok := b[p]
		ea := a[p]
		ea.ino, eb.ino = 0, 0
		switch {
		case !ok:
			d.fail("after %s: %s exists on sealfs only (%v)", after, p, ea)
		case ea != eb:
			d.fail("after %s: %s differs:\n  sealfs: %v\n  plain:  %v", after, p, ea, eb)
		case aLinks[p] != bLinks[p]:
			d.fail("after %s: %s shares its inode with [%s] on sealfs, [%s] on the plain directory", after, p, aLinks[p], bLinks[p])
		}
	}
	for _, p := range sortedKeys(b) {
		if _, ok := a[p]; !ok {
			d.fail("after %s: %s exists on the plain directory only (%v)", after, p, b[p])
		}
	}
}
