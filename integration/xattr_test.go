package integration

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

const encryptedXattr = "user.sealfs.encrypted"

// TestXattrs checks sealfs's read-only user.sealfs.encrypted and that user.*
// xattrs round-trip through setfattr/getfattr and the syscalls, on files
// and directories, across a remount.
func TestXattrs(t *testing.T) {
	requireTools(t, "setfattr", "getfattr")
	m := mountSealfs(t)
	file := filepath.Join(m.Dir, "xattr-file.txt")
	dir := filepath.Join(m.Dir, "xattr-dir")
	mustWriteFile(t, file, []byte("has attributes"), 0o644)
	mustMkdir(t, dir, 0o755)

	if got := getxattr(t, file, encryptedXattr); string(got) != "true" {
		t.Errorf("%s = %q, want \"true\"", encryptedXattr, got)
	}
	if out := runToolOK(t, "getfattr", "--only-values", "-n", encryptedXattr, file); out != "true" {
		t.Errorf("getfattr -n %s printed %q, want \"true\"", encryptedXattr, out)
	}
	if err := unix.Setxattr(file, encryptedXattr, []byte("false"), 0); err == nil {
		t.Errorf("setting %s succeeded; it must be read-only", encryptedXattr)
	}
	if err := unix.Removexattr(file, encryptedXattr); err == nil {
		t.Errorf("removing %s succeeded; it must be read-only", encryptedXattr)
	}
	if got := getxattr(t, file, encryptedXattr); string(got) != "true" {
		t.Errorf("after the refused set/remove, %s = %q, want \"true\"", encryptedXattr, got)
	}

	binary := append([]byte{0, 1, 2, 0, 0xff}, randomBytes(3, 4000)...)
	for _, p := range []string{file, dir} {
		runToolOK(t, "setfattr", "-n", "user.comment", "-v", "hello world", p)
		if out := runToolOK(t, "getfattr", "--only-values", "-n", "user.comment", p); out != "hello world" {
			t.Errorf("getfattr user.comment of %s printed %q, want \"hello world\"", p, out)
		}
		if err := unix.Setxattr(p, "user.binary", binary, 0); err != nil {
			t.Errorf("setxattr user.binary on %s: %v", p, err)
		}
		if err := unix.Setxattr(p, "user.binary", []byte("x"), unix.XATTR_CREATE); !errors.Is(err, syscall.EEXIST) {
			t.Errorf("setxattr XATTR_CREATE of an existing xattr on %s: %v, want EEXIST", p, err)
		}
		if err := unix.Setxattr(p, "user.missing", []byte("x"), unix.XATTR_REPLACE); !errors.Is(err, syscall.ENODATA) {
			t.Errorf("setxattr XATTR_REPLACE of a missing xattr on %s: %v, want ENODATA", p, err)
		}
		runToolOK(t, "setfattr", "-n", "user.removed", "-v", "soon gone", p)
		runToolOK(t, "setfattr", "-x", "user.removed", p)
		if _, err := unix.Getxattr(p, "user.removed", make([]byte, 64)); !errors.Is(err, syscall.ENODATA) {
			t.Errorf("getxattr of a removed xattr on %s: %v, want ENODATA", p, err)
		}
		if err := unix.Removexattr(p, "user.never-set"); !errors.Is(err, syscall.ENODATA) {
			t.Errorf("removexattr of a missing xattr on %s: %v, want ENODATA", p, err)
		}
	}

	check := func(when string) {
		for _, p := range []string{file, dir} {
			if got := getxattr(t, p, "user.binary"); !bytes.Equal(got, binary) {
				t.Errorf("%s: user.binary of %s: %s", when, p, describeDiff(got, binary))
			}
			if got := getxattr(t, p, "user.comment"); string(got) != "hello world" {
				t.Errorf("%s: user.comment of %s = %q", when, p, got)
			}
			names := listxattr(t, p)
			for _, want := range []string{"user.comment", "user.binary"} {
				if !slices.Contains(names, want) {
					t.Errorf("%s: listxattr of %s = %q, missing %s", when, p, names, want)
				}
			}
			if slices.Contains(names, "user.removed") {
				t.Errorf("%s: listxattr of %s still lists the removed user.removed", when, p)
			}
		}
		out := runToolOK(t, "getfattr", "-d", "--absolute-names", file)
		if !strings.Contains(out, `user.comment="hello world"`) {
			t.Errorf("%s: getfattr -d output lacks user.comment:\n%s", when, out)
		}
	}
	check("mounted")
	m.Remount(t)
	check("after remount")
	if got := getxattr(t, file, encryptedXattr); string(got) != "true" {
		t.Errorf("after remount, %s = %q, want \"true\"", encryptedXattr, got)
	}
}

func getxattr(t *testing.T, p, name string) []byte {
	t.Helper()
	sz, err := unix.Getxattr(p, name, nil)
	if err != nil {
		t.Errorf("getxattr(%s, %s): %v", p, name, err)
		return nil
	}
	buf := make([]byte, sz)
	n, err := unix.Getxattr(p, name, buf)
	if err != nil {
		t.Errorf("getxattr(%s, %s): %v", p, name, err)
		return nil
	}
	return buf[:n]
}

func listxattr(t *testing.T, p string) []string {
	t.Helper()
	sz, err := unix.Listxattr(p, nil)
	if err != nil {
		t.Errorf("listxattr(%s): %v", p, err)
		return nil
	}
	buf := make([]byte, sz)
	n, err := unix.Listxattr(p, buf)
	if err != nil {
		t.Errorf("listxattr(%s): %v", p, err)
		return nil
	}
	return strings.FieldsFunc(string(buf[:n]), func(r rune) bool { return r == 0 })
}
