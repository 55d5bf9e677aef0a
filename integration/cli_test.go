package integration

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMountWrongKey mounts a store with another store's key: the daemon must
// exit 2 with one line on stderr and leave every byte of the store as it was.
func TestMountWrongKey(t *testing.T) {
	m := mountSealfs(t)
	mustWriteFile(t, filepath.Join(m.Dir, "wrongkey-data.txt"), []byte("written with key A\n"), 0o644)
	m.Unmount(t)

	other := t.TempDir()
	keyB := filepath.Join(other, "b.key")
	runSealfsOK(t, "init", "--store", filepath.Join(other, "store"), "--key-file", keyB)

	before := storeHash(t, m.Store)
	r := mountExpectFailure(t, mountConfig{store: m.Store, key: keyB, mnt: t.TempDir()})
	checkUsageError(t, "mount with the wrong key", r)
	if after := storeHash(t, m.Store); after != before {
		t.Errorf("mount with the wrong key changed the store:\nbefore: %s\nafter:  %s", before, after)
	}

	m = mountSealfs(t, withStore(m.Store, m.Key))
	compareBytes(t, filepath.Join(m.Dir, "wrongkey-data.txt"), []byte("written with key A\n"))
}

// TestMountLooseKeyPerms refuses a key file readable by others.
func TestMountLooseKeyPerms(t *testing.T) {
	m := mountSealfs(t)
	m.Unmount(t)
	if err := os.Chmod(m.Key, 0o644); err != nil {
		t.Fatal(err)
	}
	before := storeHash(t, m.Store)
	r := mountExpectFailure(t, mountConfig{store: m.Store, key: m.Key, mnt: t.TempDir()})
	checkUsageError(t, "mount with a 0644 key file", r)
	if !strings.Contains(r.Stderr, "chmod 600") {
		t.Errorf("the error does not tell the user to run chmod 600: %q", r.Stderr)
	}
	if after := storeHash(t, m.Store); after != before {
		t.Errorf("refused mount changed the store:\nbefore: %s\nafter:  %s", before, after)
	}
}

// TestMountNoInitMissingStore refuses to create a store with --no-init.
func TestMountNoInitMissingStore(t *testing.T) {
	base := t.TempDir()
	key := filepath.Join(base, "key")
	runSealfsOK(t, "init", "--store", filepath.Join(base, "existing"), "--key-file", key)
	missing := filepath.Join(base, "missing-store")
	r := mountExpectFailure(t, mountConfig{store: missing, key: key, mnt: t.TempDir(), extraArgs: []string{"--no-init"}})
	checkUsageError(t, "mount --no-init of a missing store", r)
	if _, err := os.Lstat(missing); !os.IsNotExist(err) {
		t.Errorf("mount --no-init created %s (lstat: %v)", missing, err)
	}
}

// TestMountBusyMountpoint refuses to mount over an existing mount and
// leaves the first one working.
func TestMountBusyMountpoint(t *testing.T) {
	m := mountSealfs(t)
	mustWriteFile(t, filepath.Join(m.Dir, "busy-first.txt"), []byte("first mount"), 0o644)
	other := t.TempDir()
	store, key := filepath.Join(other, "store"), filepath.Join(other, "key")
	runSealfsOK(t, "init", "--store", store, "--key-file", key)

	r := mountExpectFailure(t, mountConfig{store: store, key: key, mnt: m.Dir})
	checkUsageError(t, "second mount on the same mountpoint", r)
	if n := countMounts(t, m.Dir); n != 1 {
		t.Errorf("%d mounts on %s, want 1", n, m.Dir)
	}
	compareBytes(t, filepath.Join(m.Dir, "busy-first.txt"), []byte("first mount"))
}

// TestInitRefusesOverwrite runs init over an existing store or key.
func TestInitRefusesOverwrite(t *testing.T) {
	base := t.TempDir()
	store, key := filepath.Join(base, "store"), filepath.Join(base, "master.key")
	runSealfsOK(t, "init", "--store", store, "--key-file", key)
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file after init: %v, %v; want mode 0600", fi.Mode(), err)
	}
	keyBytes, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	storeBefore := storeHash(t, store)
	for _, c := range []struct{ desc, store, key string }{
		{"existing store and key", store, key},
		{"new store, existing key", filepath.Join(base, "new-store"), key},
		{"existing store, new key", store, filepath.Join(base, "new.key")},
	} {
		r := runSealfs(t, nil, "init", "--store", c.store, "--key-file", c.key)
		checkUsageError(t, "init over "+c.desc, r)
	}
	if got, _ := os.ReadFile(key); !bytes.Equal(got, keyBytes) {
		t.Errorf("refused init changed the key file")
	}
	if got := storeHash(t, store); got != storeBefore {
		t.Errorf("refused init changed the store")
	}
	for _, p := range []string{filepath.Join(base, "new-store"), filepath.Join(base, "new.key")} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("refused init created %s (lstat: %v)", p, err)
		}
	}
}

// TestDefaultLocations checks the XDG defaults, that SEALFS_STORE and
// SEALFS_KEY_FILE override them, and that flags override both.
func TestDefaultLocations(t *testing.T) {
	base := t.TempDir()
	data, config := filepath.Join(base, "xdg-data"), filepath.Join(base, "xdg-config")
	xdg := []string{"XDG_DATA_HOME=" + data, "XDG_CONFIG_HOME=" + config, "HOME=" + filepath.Join(base, "home")}
	if r := runSealfs(t, xdg, "init"); r.Code != 0 {
		t.Fatalf("init with XDG defaults exited %d: %s", r.Code, r.Stderr)
	}
	requireExists(t, filepath.Join(data, "sealfs"), "default store")
	if fi := requireExists(t, filepath.Join(config, "sealfs", "master.key"), "default key"); fi != nil && fi.Mode().Perm() != 0o600 {
		t.Errorf("default key has mode %v, want 0600", fi.Mode())
	}

	home := filepath.Join(base, "home2")
	if r := runSealfs(t, []string{"HOME=" + home, "XDG_DATA_HOME", "XDG_CONFIG_HOME"}, "init"); r.Code != 0 {
		t.Fatalf("init with HOME defaults exited %d: %s", r.Code, r.Stderr)
	}
	requireExists(t, filepath.Join(home, ".local", "share", "sealfs"), "store under HOME")
	requireExists(t, filepath.Join(home, ".config", "sealfs", "master.key"), "key under HOME")

	unused := []string{"XDG_DATA_HOME=" + filepath.Join(base, "unused-data"),
		"XDG_CONFIG_HOME=" + filepath.Join(base, "unused-config"), "HOME=" + filepath.Join(base, "unused-home")}
	envStore, envKey := filepath.Join(base, "env-store"), filepath.Join(base, "env.key")
	env := append([]string{"SEALFS_STORE=" + envStore, "SEALFS_KEY_FILE=" + envKey}, unused...)
	if r := runSealfs(t, env, "init"); r.Code != 0 {
		t.Fatalf("init with SEALFS_STORE/SEALFS_KEY_FILE exited %d: %s", r.Code, r.Stderr)
	}
	requireExists(t, envStore, "SEALFS_STORE")
	requireExists(t, envKey, "SEALFS_KEY_FILE")
	if r := runSealfs(t, env, "ls"); r.Code != 0 {
		t.Errorf("ls with SEALFS_STORE/SEALFS_KEY_FILE exited %d: %s", r.Code, r.Stderr)
	}

	flagStore, flagKey := filepath.Join(base, "flag-store"), filepath.Join(base, "flag.key")
	env = append([]string{"SEALFS_STORE=" + filepath.Join(base, "env-store-2"),
		"SEALFS_KEY_FILE=" + filepath.Join(base, "env-2.key")}, unused...)
	if r := runSealfs(t, env, "init", "--store", flagStore, "--key-file", flagKey); r.Code != 0 {
		t.Fatalf("init with flags exited %d: %s", r.Code, r.Stderr)
	}
	requireExists(t, flagStore, "--store")
	requireExists(t, flagKey, "--key-file")
	for _, p := range []string{filepath.Join(base, "env-store-2"), filepath.Join(base, "env-2.key"),
		filepath.Join(base, "unused-data"), filepath.Join(base, "unused-config"), filepath.Join(base, "unused-home")} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s exists although flags or SEALFS_* should have overridden it", p)
		}
	}
}

// TestCLIHelpAndVersion checks `sealfs version`, `sealfs --version`,
// `sealfs CMD --help`, `sealfs help CMD` and a mistyped flag of each CMD.
func TestCLIHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := runSealfs(t, nil, args...)
		if r.Code != 0 || !strings.HasPrefix(r.Stdout, "sealfs ") || strings.Count(r.Stdout, "\n") != 1 || r.Stderr != "" {
			t.Errorf("sealfs %s: exit %d, stdout %q, stderr %q; want 0 and sealfs VERSION", args[0], r.Code, r.Stdout, r.Stderr)
		}
	}
	for _, cmd := range []string{"init", "mount", "ls", "status", "sync", "remote", "remote set", "recover", "cat", "check",
		"encryption", "backup", "schedule", "schedule add", "schedule list", "schedule remove", "schedule run",
		"prune", "versions", "undelete", "version", "completion"} {
		words := strings.Fields(cmd)
		// A mistyped flag is one line on stderr and exit 2, not the usage.
		want := "sealfs " + cmd + ": unknown flag: --no-such-flag\n"
		if r := runSealfs(t, nil, append(words, "--no-such-flag")...); r.Code != 2 || r.Stdout != "" || r.Stderr != want {
			t.Errorf("sealfs %s --no-such-flag: exit %d, stdout %q, stderr %q; want 2, nothing, %q", cmd, r.Code, r.Stdout, r.Stderr, want)
		}
		r := runSealfs(t, nil, append(words, "--help")...)
		if r.Code != 0 || r.Stderr != "" || !strings.Contains(r.Stdout, "sealfs "+cmd) || !strings.Contains(r.Stdout, "--help") {
			t.Errorf("sealfs %s --help: exit %d, stderr %q, stdout %q; want exit 0 and a usage naming the command", cmd, r.Code, r.Stderr, r.Stdout)
		}
		if n := strings.Count(r.Stdout, "Usage:"); n != 1 {
			t.Errorf("sealfs %s --help prints its usage %d times:\n%s", cmd, n, r.Stdout)
		}
		if h := runSealfs(t, nil, append([]string{"help"}, words...)...); h.Code != 0 || h.Stdout != r.Stdout {
			t.Errorf("sealfs help %s: exit %d, and not the help of sealfs %s --help:\n%s", cmd, h.Code, cmd, h.Stdout)
		}
	}
	if r := runSealfs(t, nil); r.Code != 2 || !strings.Contains(r.Stdout, "Usage:") {
		t.Errorf("sealfs alone: exit %d, stdout %q; want 2 and the usage", r.Code, r.Stdout)
	}
	if r := runSealfs(t, nil, "moutn"); r.Code != 2 || r.Stdout != "" || strings.Count(r.Stderr, "\n") != 1 {
		t.Errorf("sealfs moutn: exit %d, stdout %q, stderr %q; want 2 and one line on stderr", r.Code, r.Stdout, r.Stderr)
	}
}

// TestCLICompletionBash sources `sealfs completion bash` into bash and
// completes as a user's TAB would: commands, subcommands and flags.
func TestCLICompletionBash(t *testing.T) {
	requireTools(t, "bash")
	// The script calls the program by the name typed, sealfs.
	bin := t.TempDir()
	if err := os.Symlink(sealfsBin, filepath.Join(bin, "sealfs")); err != nil {
		t.Fatal(err)
	}
	// Without the bash-completion package the script wants its
	// _get_comp_words_by_ref; a minimal one splits the line at spaces.
	script := `source <(sealfs completion bash) || exit 1
_get_comp_words_by_ref() { cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; }
COMP_LINE=$1 COMP_POINT=${#1}
read -ra COMP_WORDS <<<"$COMP_LINE"
[[ $COMP_LINE == *' ' ]] && COMP_WORDS+=('')
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
__start_sealfs 2>/dev/null
printf '%s\n' "${COMPREPLY[@]}"
`
	for _, c := range []struct {
		line string
		want []string
	}{
		{"sealfs ", []string{"init", "mount", "ls", "backup", "schedule", "completion", "help"}},
		{"sealfs sch", []string{"schedule"}},
		{"sealfs schedule ", []string{"add", "list", "remove", "run"}},
		{"sealfs ls -", []string{"-r", "--recursive", "-h", "--human-readable", "--json", "--store", "--key-file", "--help"}},
		{"sealfs mount --cache", []string{"--cache-max"}},
		{"sealfs remote set --cred", []string{"--credentials-file"}},
	} {
		r := runTool(t, "env", "PATH="+bin+":"+os.Getenv("PATH"), "bash", "-c", script, "complete", c.line)
		got := strings.Fields(r.Stdout)
		for _, w := range c.want {
			if r.Code != 0 || !slices.Contains(got, w) {
				t.Errorf("bash completes %q to %q (exit %d, %s); want %s among them", c.line, got, r.Code, r.Stderr, w)
			}
		}
	}
}

// TestCLIFlagsAfterPositionals: GNU flags go anywhere, and `--` ends them.
func TestCLIFlagsAfterPositionals(t *testing.T) {
	m := mountSealfs(t)
	mustMkdir(t, filepath.Join(m.Dir, "d", "sub"), 0o755)
	mustWriteFile(t, filepath.Join(m.Dir, "d", "sub", "f"), make([]byte, 3000), 0o644)
	m.Unmount(t)
	out := runSealfsOK(t, "ls", "/d", "--store", m.Store, "-rh", "--key-file", m.Key).Stdout
	if !strings.Contains(out, "sub/f") || !strings.Contains(out, "2.9K") {
		t.Errorf("ls /d --store S -rh --key-file K: want sub/f with 2.9K:\n%s", out)
	}
	r := runSealfs(t, nil, "cat", "--store", m.Store, "--key-file", m.Key, "--", "--json")
	if r.Code != 2 || strings.Contains(r.Stderr, "flag") || !strings.Contains(r.Stderr, "--json") {
		t.Errorf("cat -- --json: exit %d, stderr %q; want 2 and no such file /--json", r.Code, r.Stderr)
	}
}

// mountExpectFailure runs `sealfs mount` that must fail; if it mounts
// instead, it is unmounted and the test fails.
func mountExpectFailure(t *testing.T, cfg mountConfig) cmdResult {
	t.Helper()
	cfg.tolerateExit = true
	m := startMount(t, cfg)
	t.Cleanup(func() { m.stop(t) })
	select {
	case <-m.exited:
	case <-time.After(mountTimeout):
		m.stop(t) // unmounts it if it mounted, kills it if it hangs
		t.Fatalf("sealfs mount %v was expected to fail but was still running after %v; output:\n%s", cfg, mountTimeout, m.Stderr())
	}
	return cmdResult{Stderr: m.Stderr(), Code: exitCode(m.waitErr)}
}

// checkUsageError asserts exit status 2 and exactly one line on stderr.
func checkUsageError(t *testing.T, what string, r cmdResult) {
	t.Helper()
	if r.Code != 2 {
		t.Errorf("%s: exit status %d, want 2; stderr:\n%s", what, r.Code, r.Stderr)
	}
	msg := strings.TrimRight(r.Stderr, "\n")
	if msg == "" || strings.Contains(msg, "\n") {
		t.Errorf("%s: want exactly one line on stderr, got %d:\n%s", what, strings.Count(msg, "\n")+1, r.Stderr)
	}
}

// countMounts counts the mounts stacked on dir.
func countMounts(t *testing.T, dir string) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 4 && unescapeMountinfo(f[4]) == dir {
			n++
		}
	}
	return n
}

// storeHash digests every path, mode, symlink target and file content under
// root, so that any change to a store shows.
func storeHash(t *testing.T, root string) string {
	t.Helper()
	h := sha256.New()
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(h, "%q %v %d\n", rel, fi.Mode(), fi.Size())
		switch {
		case fi.Mode().IsRegular():
			sum, err := hashFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintln(h, sum)
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintln(h, target)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatalf("hash store %s: %v", root, err)
	}
	return fmt.Sprintf("%d entries, sha256 %s", n, hex.EncodeToString(h.Sum(nil)))
}

func requireExists(t *testing.T, p, what string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return nil
	}
	return fi
}

// TestMountOverNonEmptyDirectory: mounting over a directory with files in
// it works, as mount(8) allows, and says that they are hidden meanwhile.
func TestMountOverNonEmptyDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mnt")
	mustMkdir(t, dir, 0o755)
	mustWriteFile(t, filepath.Join(dir, "already-here"), []byte("x"), 0o644)
	m := mountSealfs(t, withMountpoint(dir))
	if !m.waitForLog("is not empty: its 1 entries are hidden", 10*time.Second) {
		t.Errorf("no warning about the hidden entries:\n%s", m.Stderr())
	}
	m.Unmount(t)
	if _, err := os.Stat(filepath.Join(dir, "already-here")); err != nil {
		t.Errorf("the hidden file after the unmount: %v", err)
	}
}

// TestLogFormatJSON: --log-format json makes every log line of the daemon
// one JSON object; a bad format is refused.
func TestLogFormatJSON(t *testing.T) {
	m := mountSealfs(t, withMountArgs("--log-format", "json"))
	mustWriteFile(t, filepath.Join(m.Dir, "f"), []byte("x"), 0o644)
	m.Unmount(t)
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(m.Stderr()), "\n") {
		if strings.HasPrefix(line, "time=") {
			t.Errorf("a text log line with --log-format json: %q", line)
		}
		var rec struct {
			Msg   string `json:"msg"`
			Level string `json:"level"`
		}
		if strings.HasPrefix(line, "{") {
			if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Level == "" {
				t.Errorf("log line %q: %v", line, err)
			}
			msgs = append(msgs, rec.Msg)
		}
	}
	if !slices.Contains(msgs, "mounted") || !slices.Contains(msgs, "unmounted") {
		t.Errorf("JSON log messages %q, want mounted and unmounted", msgs)
	}
	r := runSealfs(t, nil, "mount", "--log-format", "xml", t.TempDir())
	if r.Code != 2 || !strings.Contains(r.Stderr, "want text or json") {
		t.Errorf("--log-format xml: exit %d, %q", r.Code, r.Stderr)
	}
}
