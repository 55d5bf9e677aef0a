// Package backup makes the archives of `sealfs backup`: a gzip-compressed
// tar of the sources, as GNU tar with --xattrs would write it (PAX headers:
// long names, nanosecond times, extended attributes; hard links kept), so
// that `tar xzf` restores what `tar czf` would. It knows nothing of sealfs:
// it reads the local filesystem and writes a stream.
package backup

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/klauspost/compress/gzip"
	"golang.org/x/sys/unix"
)

// Options shape an archive.
type Options struct {
	// Exclude holds patterns (path.Match syntax). One without a slash is
	// matched against each name; one with a slash against the end of the
	// member path, at a slash ("app/cache" excludes srv/app/cache), as GNU
	// tar's unanchored --exclude. An excluded directory is skipped whole.
	Exclude []string
	// Skip holds absolute paths left out without a pattern: the store
	// and the mount the archive goes to, which would otherwise be read
	// while they grow.
	Skip []string
	// Progress, when set, is called with the files and source bytes
	// archived since its last call.
	Progress func(files int, bytes int64)
	// Warn, when set, is told of files that vanished while the archive was
	// written; they are left out. Any other read error fails the archive.
	Warn func(msg string)
	// As, when set, is the member name of the sources' roots instead of
	// their paths ("app": a download of /srv/app unpacks as app/).
	As string
}

// Stats count what an archive holds.
type Stats struct {
	Files int64 // entries of any type
	Bytes int64 // bytes of regular-file content
}

// Measure walks the sources as Write would and counts what it would
// archive, for a progress bar's total.
func Measure(srcs []string, o Options) (Stats, error) {
	var st Stats
	links := map[fileKey]bool{}
	err := walk(srcs, o, func(e entry) error {
		st.Files++
		if k, ok := linkKey(e.info); ok {
			if links[k] {
				return nil // archived as a link, without content
			}
			links[k] = true
		}
		if e.info.Mode().IsRegular() {
			st.Bytes += e.info.Size()
		}
		return nil
	})
	return st, err
}

// linkKey identifies a regular file with more than one link.
func linkKey(info fs.FileInfo) (fileKey, bool) {
	sys, ok := info.Sys().(*syscall.Stat_t)
	if !ok || !info.Mode().IsRegular() || sys.Nlink < 2 {
		return fileKey{}, false
	}
	return fileKey{uint64(sys.Dev), sys.Ino}, true
}

// Write writes the archive of srcs to w. It fails on the first source or
// file that cannot be read (ctx ending included), leaving w cut short: the
// caller must not keep what it wrote.
func Write(ctx context.Context, w io.Writer, srcs []string, o Options) (Stats, error) {
	zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return Stats{}, err
	}
	a := &archiver{ctx: ctx, tw: tar.NewWriter(zw), o: o, links: map[fileKey]string{}}
	if err := walk(srcs, o, a.add); err != nil {
		return a.st, err
	}
	if err := a.tw.Close(); err != nil {
		return a.st, err
	}
	return a.st, zw.Close()
}

// entry is one file found by walk.
type entry struct {
	path   string // on disk
	member string // in the archive
	info   fs.FileInfo
}

// walk calls fn for every file under srcs (the sources themselves
// included) in lexical order, without following symlinks.
func walk(srcs []string, o Options, fn func(entry) error) error {
	for _, src := range srcs {
		root := filepath.Clean(src)
		base := memberName(root)
		if o.As != "" {
			base = o.As
		}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && p != root {
					warn(o, fmt.Sprintf("%s vanished while it was archived; left out", p))
					return nil
				}
				return err
			}
			member := base
			if p != root {
				member = path.Join(base, filepath.ToSlash(p[len(root)+1:]))
			}
			if skipped(o.Skip, p) {
				warn(o, fmt.Sprintf("%s left out: the archive is written there", p))
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if excluded(o.Exclude, member) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			info, err := d.Info()
			if errors.Is(err, fs.ErrNotExist) {
				warn(o, fmt.Sprintf("%s vanished while it was archived; left out", p))
				return nil
			}
			if err != nil {
				return err
			}
			if info.Mode()&fs.ModeSocket != 0 {
				return nil // tar leaves sockets out too
			}
			return fn(entry{path: p, member: member, info: info})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func warn(o Options, msg string) {
	if o.Warn != nil {
		o.Warn(msg)
	}
}

// memberName is the archive name of source path p, as GNU tar makes it:
// without a leading "/" or "../" ("." for the current directory).
func memberName(p string) string {
	m := strings.TrimLeft(filepath.ToSlash(p), "/")
	for strings.HasPrefix(m, "../") {
		m = m[3:]
	}
	if m == ".." || m == "" {
		m = "."
	}
	return m
}

// excluded reports whether member matches a pattern.
func excluded(patterns []string, member string) bool {
	name := path.Base(member)
	for _, p := range patterns {
		p = strings.TrimSuffix(p, "/")
		if !strings.Contains(p, "/") {
			if ok, _ := path.Match(p, name); ok {
				return true
			}
			continue
		}
		p = strings.TrimPrefix(p, "/")
		for tail := member; ; {
			if ok, _ := path.Match(p, tail); ok {
				return true
			}
			i := strings.IndexByte(tail, '/')
			if i < 0 {
				break
			}
			tail = tail[i+1:]
		}
	}
	return false
}

// skipped reports whether p is one of skip.
func skipped(skip []string, p string) bool {
	if len(skip) == 0 {
		return false
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return false
	}
	for _, s := range skip {
		if abs == s {
			return true
		}
	}
	return false
}

// CheckPatterns reports the first malformed pattern.
func CheckPatterns(patterns []string) error {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("--exclude %q: %w", p, err)
		}
	}
	return nil
}

// fileKey identifies a file across its hard links.
type fileKey struct{ dev, ino uint64 }

type archiver struct {
	ctx   context.Context
	tw    *tar.Writer
	o     Options
	st    Stats
	links map[fileKey]string // member names of files with several links
	buf   []byte
}

// add writes one entry.
func (a *archiver) add(e entry) error {
	if err := a.ctx.Err(); err != nil {
		return err
	}
	var target string
	if e.info.Mode()&fs.ModeSymlink != 0 {
		t, err := os.Readlink(e.path)
		if err != nil {
			return a.vanishedOr(e, err)
		}
		target = t
	}
	hdr, err := tar.FileInfoHeader(e.info, target)
	if err != nil {
		return fmt.Errorf("%s: %w", e.path, err)
	}
	hdr.Name = e.member
	if e.info.IsDir() {
		hdr.Name += "/"
	}
	// PAX keeps nanosecond times, long names and big numbers exactly;
	// FileInfoHeader filled in owners (by name too), atime and ctime.
	hdr.Format = tar.FormatPAX
	if k, ok := linkKey(e.info); ok {
		if first, seen := a.links[k]; seen {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
		} else {
			a.links[k] = hdr.Name
		}
	}
	if err := addXattrs(hdr, e.path); err != nil {
		return a.vanishedOr(e, err)
	}
	if hdr.Typeflag != tar.TypeReg {
		if err := a.tw.WriteHeader(hdr); err != nil {
			return err
		}
		a.counted(1, 0)
		return nil
	}
	return a.addContent(e, hdr)
}

// addContent writes a regular file's header and bytes. A file that
// changes size while it is read is archived at the size its header gave:
// cut, or padded with zeros and reported (as GNU tar does).
func (a *archiver) addContent(e entry, hdr *tar.Header) error {
	f, err := os.Open(e.path)
	if err != nil {
		return a.vanishedOr(e, err)
	}
	defer f.Close()
	if err := a.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if a.buf == nil {
		a.buf = make([]byte, 1<<20)
	}
	left := hdr.Size
	for left > 0 {
		if err := a.ctx.Err(); err != nil {
			return err
		}
		n, err := f.Read(a.buf[:min(int64(len(a.buf)), left)])
		if n > 0 {
			if _, werr := a.tw.Write(a.buf[:n]); werr != nil {
				return werr
			}
			left -= int64(n)
			a.counted(0, int64(n))
		}
		if errors.Is(err, io.EOF) {
			warn(a.o, fmt.Sprintf("%s shrank while it was archived; padded with zeros", e.path))
			clear(a.buf)
			for left > 0 {
				n := min(int64(len(a.buf)), left)
				if _, err := a.tw.Write(a.buf[:n]); err != nil {
					return err
				}
				left -= n
			}
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", e.path, err)
		}
	}
	a.counted(1, 0)
	return nil
}

// vanishedOr leaves out a file deleted since the walk found it, and fails
// on any other error.
func (a *archiver) vanishedOr(e entry, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		warn(a.o, fmt.Sprintf("%s vanished while it was archived; left out", e.path))
		return nil
	}
	return fmt.Errorf("%s: %w", e.path, err)
}

func (a *archiver) counted(files int, bytes int64) {
	a.st.Files += int64(files)
	a.st.Bytes += bytes
	if a.o.Progress != nil {
		a.o.Progress(files, bytes)
	}
}

// addXattrs puts p's extended attributes in hdr as GNU tar and star do
// (SCHILY.xattr.NAME), without following a symlink.
func addXattrs(hdr *tar.Header, p string) error {
	names, err := listXattrs(p)
	if err != nil {
		return err
	}
	for _, name := range names {
		v, err := getXattr(p, name)
		if errors.Is(err, unix.ENODATA) {
			continue // removed since the list
		}
		if err != nil {
			return err
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+name] = string(v)
	}
	return nil
}

func listXattrs(p string) ([]string, error) {
	size := 1024
	for {
		buf := make([]byte, size)
		n, err := unix.Llistxattr(p, buf)
		if errors.Is(err, unix.ERANGE) {
			size *= 4
			continue
		}
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		var names []string
		for _, name := range strings.Split(string(buf[:n]), "\x00") {
			if name != "" {
				names = append(names, name)
			}
		}
		return names, nil
	}
}

func getXattr(p, name string) ([]byte, error) {
	size := 256
	for {
		buf := make([]byte, size)
		n, err := unix.Lgetxattr(p, name, buf)
		if errors.Is(err, unix.ERANGE) {
			size *= 4
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}
