package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The golden store testdata/v1-store.tar.gz was written by sealfs at
// format 1 (583dab9: plaintext metadata values under Badger's encryption,
// the DEK in each content header) under the published test key
// crypto/testdata/master.key. Every later sealfs must mount it and read it
// byte for byte. Its files are SHA-256("sealfs v1 store <seed> <i>")
// blocks cut to size.
var goldenStoreFiles = map[string]string{
	"empty":            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"one":              "26e5bfe4b0686167e3e4e0aac40cbae03515171d375f91ea563c9c044e9c5cc7",
	"block":            "bf4fa5e2769075cf4173f1c0326d78c9a5694edf40223d95d3ac86b55a2c2818",
	"block+1":          "9304efde182fe012b9a4b4832261b4354db65c5f3fd899c1bc7f7a51223ad7c4",
	"docs/report.txt":  "f8197e31b79980faed50ea5c9e3a37d222b3e980d3131570084e0791b127da8e",
	"docs/deep/db.sql": "e72754dc923e7ff7c76ea126552190c2220f14e33b67f6e635512483365b0211",
	"hard":             "bf4fa5e2769075cf4173f1c0326d78c9a5694edf40223d95d3ac86b55a2c2818",
}

// goldenV1Store unpacks the golden store and the test key into a temp dir.
func goldenV1Store(t *testing.T) (store, key string) {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("tar", "-xzf", filepath.Join("testdata", "v1-store.tar.gz"), "-C", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("untar: %v\n%s", err, out)
	}
	keyText, err := os.ReadFile(filepath.Join("..", "crypto", "testdata", "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	key = filepath.Join(dir, "master.key")
	mustWriteFile(t, key, keyText, 0o600)
	return filepath.Join(dir, "store"), key
}

// checkGoldenStore checks the golden store's content in mnt, but for the
// files named in changed.
func checkGoldenStore(t *testing.T, mnt string, changed ...string) {
	t.Helper()
	for name, want := range goldenStoreFiles {
		if slices.Contains(changed, name) {
			continue
		}
		got, err := hashFile(filepath.Join(mnt, name))
		if err != nil || got != want {
			t.Errorf("%s: sha256 %s, %v; want %s", name, got, err, want)
		}
	}
	if target, err := os.Readlink(filepath.Join(mnt, "link")); err != nil || target != "docs/report.txt" {
		t.Errorf("link -> %q, %v", target, err)
	}
	if v := string(getxattr(t, filepath.Join(mnt, "docs/report.txt"), "user.origin")); v != "golden" {
		t.Errorf("user.origin = %q", v)
	}
	st := statT(t, filepath.Join(mnt, "block"))
	if st.Nlink != 2 || time.Unix(st.Mtim.Sec, 0).UTC().Format("2006-01-02") != "2020-01-02" {
		t.Errorf("block: nlink %d, mtime %v", st.Nlink, time.Unix(st.Mtim.Sec, 0))
	}
	if st := statT(t, filepath.Join(mnt, "one")); st.Mode&0o777 != 0o600 {
		t.Errorf("one: mode %o", st.Mode&0o777)
	}
}

// TestGoldenV1StoreMounts: a format 1 store is upgraded in place at its
// first mount (values sealed, config MACed), reads byte for byte, takes
// changes (which are written in format 2) and keeps reading after a remount.
func TestGoldenV1StoreMounts(t *testing.T) {
	store, key := goldenV1Store(t)
	m := mountSealfs(t, withStore(store, key))
	checkGoldenStore(t, m.Dir)
	mustWriteFile(t, filepath.Join(m.Dir, "new.txt"), []byte("written after the upgrade\n"), 0o644)
	f, err := os.OpenFile(filepath.Join(m.Dir, "block+1"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("appended")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	m = m.Remount(t)
	checkGoldenStore(t, m.Dir, "block+1")
	if b, err := os.ReadFile(filepath.Join(m.Dir, "new.txt")); err != nil || string(b) != "written after the upgrade\n" {
		t.Errorf("new.txt: %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(m.Dir, "block+1")); err != nil || fi.Size() != 65537+8 {
		t.Errorf("block+1 after append: %v, %v", fi, err)
	}
	m.Unmount(t)
	var cfg struct {
		Format int    `json:"format"`
		MAC    string `json:"mac"`
	}
	b, err := os.ReadFile(filepath.Join(store, "sealfs.json"))
	if err != nil || json.Unmarshal(b, &cfg) != nil || cfg.Format != 2 || len(cfg.MAC) != 64 {
		t.Fatalf("config after the upgrade: %s (%v)", b, err)
	}
}

// TestGoldenV1StoreLs: ls on an unmounted format 1 store upgrades it once
// and lists it.
func TestGoldenV1StoreLs(t *testing.T) {
	store, key := goldenV1Store(t)
	out := runSealfsOK(t, "ls", "-r", "--store", store, "--key-file", key).Stdout
	for _, name := range []string{"block+1", "docs/deep/db.sql", "link"} {
		if !strings.Contains(out, name) {
			t.Errorf("ls -r does not list %s:\n%s", name, out)
		}
	}
}

func statT(t *testing.T, p string) syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st
}
