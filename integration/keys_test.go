package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealfs/sealfs/keyslot"
)

// cheapKDF keeps the tests' Argon2id runs short; the default cost is
// measured by crypto's BenchmarkPassphraseKEK.
const cheapKDF = "--kdf-cost=1,8192,1"

var recoveryCodeRE = regexp.MustCompile(`[A-Z2-7]{4}(-[A-Z2-7]{4}){7}`)

// secretFile writes a passphrase file of mode 0600.
func secretFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pass")
	mustWriteFile(t, p, []byte(text+"\n"), 0o600)
	return p
}

// slotIDs returns the IDs and kinds `key list` prints, in order.
func slotIDs(t *testing.T, store string, unlock ...string) (ids, kinds []string) {
	t.Helper()
	out := runSealfsOK(t, append([]string{"key", "list", "--store", store}, unlock...)...).Stdout
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "SLOT") {
		t.Fatalf("key list:\n%s", out)
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		ids, kinds = append(ids, f[0]), append(kinds, f[1])
	}
	return ids, kinds
}

// addedSlot returns the slot ID an "added ... slot ID" line names.
func addedSlot(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`added [a-z-]+ slot ([0-9a-f]{8})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no slot ID in:\n%s", out)
	}
	return m[1]
}

// expectUnlockRefused runs a command that must exit 2 with want in its one
// line of error, and change nothing in the store.
func expectUnlockRefused(t *testing.T, store string, env []string, args []string, want string) {
	t.Helper()
	before := storeHash(t, store)
	r := runSealfs(t, env, args...)
	if r.Code != 2 || !strings.Contains(r.Stderr, want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 0 {
		t.Fatalf("sealfs %q: exit %d, want 2 and one line with %q; stderr:\n%s", args, r.Code, want, r.Stderr)
	}
	if after := storeHash(t, store); after != before {
		t.Fatalf("sealfs %q was refused but changed the store: %s, then %s", args, before, after)
	}
}

// TestKeySlots walks a store through its slots: a passphrase and a
// recovery code added, the key file's slot removed, the passphrase
// changed, each unlock way (file, command, environment), every refusal
// with exit 2 and nothing changed.
func TestKeySlots(t *testing.T) {
	m := mountSealfs(t)
	mustWriteFile(t, filepath.Join(m.Dir, "hello.txt"), []byte("hello, slots\n"), 0o644)
	m.Unmount(t)
	store, key := m.Store, m.Key
	keyFlag := []string{"--key-file", key}

	ids, kinds := slotIDs(t, store, keyFlag...)
	if len(ids) != 1 || kinds[0] != "key-file" {
		t.Fatalf("a new store's slots: %v %v", ids, kinds)
	}
	keysJSON := filepath.Join(store, "keys.json")
	if fi := requireExists(t, keysJSON, "keys.json"); fi.Mode().Perm() != 0o600 {
		t.Errorf("keys.json has mode %v", fi.Mode())
	}

	const passphrase = "correct horse battery"
	pass := secretFile(t, passphrase)
	out := runSealfsOK(t, "key", "add", "--store", store, "--unlock-key-file", key, "--passphrase", "--new-passphrase-file", pass, cheapKDF).Stdout
	passSlot := addedSlot(t, out)
	out = runSealfsOK(t, "key", "add", "--store", store, "--passphrase-file", pass, "--recovery-code").Stdout
	code := recoveryCodeRE.FindString(out)
	if code == "" {
		t.Fatalf("no recovery code in:\n%s", out)
	}
	codeSlot := addedSlot(t, out)

	listing := runSealfsOK(t, "key", "list", "--store", store, "--passphrase-file", pass).Stdout
	for _, secret := range []string{passphrase, code, strings.ReplaceAll(code, "-", "")} {
		for name, b := range map[string]string{"key list": listing, "keys.json": string(readFile(t, keysJSON))} {
			if strings.Contains(b, secret) {
				t.Errorf("%s shows a secret:\n%s", name, b)
			}
		}
	}
	if ids, kinds = slotIDs(t, store, "--passphrase-file", pass); strings.Join(kinds, " ") != "key-file passphrase recovery-code" || ids[1] != passSlot || ids[2] != codeSlot {
		t.Fatalf("slots after two adds: %v %v", ids, kinds)
	}

	ls := func(unlock ...string) string {
		t.Helper()
		return runSealfsOK(t, append([]string{"ls", "--store", store}, unlock...)...).Stdout
	}
	lower := strings.ToLower(strings.ReplaceAll(code, "-", ""))
	for name, unlock := range map[string][]string{
		"passphrase file":    {"--passphrase-file", pass},
		"passphrase command": {"--passphrase-command", "cat " + pass},
		"recovery code":      {"--passphrase-command", "echo " + code},
		"code, lower case":   {"--passphrase-command", "echo " + lower},
	} {
		if out := ls(unlock...); !strings.Contains(out, "hello.txt") {
			t.Errorf("ls unlocked by %s:\n%s", name, out)
		}
	}
	if r := runSealfs(t, []string{"SEALFS_PASSPHRASE_FILE=" + pass}, "ls", "--store", store); r.Code != 0 || !strings.Contains(r.Stdout, "hello.txt") {
		t.Errorf("ls with SEALFS_PASSPHRASE_FILE: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	wrong := secretFile(t, "correct horse batterY")
	loose := filepath.Join(t.TempDir(), "loose")
	mustWriteFile(t, loose, []byte(passphrase+"\n"), 0o644)
	expectUnlockRefused(t, store, nil, []string{"ls", "--store", store, "--passphrase-file", wrong}, "the passphrase opens no key slot")
	expectUnlockRefused(t, store, nil, []string{"key", "list", "--store", store, "--passphrase-command", "echo wrong-passphrase"}, "opens no key slot")
	expectUnlockRefused(t, store, nil, []string{"ls", "--store", store, "--passphrase-file", loose}, "readable by others")
	expectUnlockRefused(t, store, nil, []string{"ls", "--store", store, "--passphrase-file", pass, "--key-file", key}, "give one way to unlock")
	expectUnlockRefused(t, store, nil, []string{"ls", "--store", store, "--passphrase-command", "exit 3"}, "passphrase command")
	expectUnlockRefused(t, store, []string{"SEALFS_PASSPHRASE_FILE=" + pass, "SEALFS_KEY_FILE=" + key}, []string{"ls", "--store", store}, "both SEALFS_PASSPHRASE_FILE and SEALFS_KEY_FILE")
	expectUnlockRefused(t, store, nil, []string{"ls", "--store", store}, "no key to unlock")
	expectUnlockRefused(t, store, nil, []string{"key", "remove", "--store", store, "--passphrase-file", pass, "ffffffff"}, "no such key slot")
	expectUnlockRefused(t, store, nil, []string{"key", "passwd", "--store", store, "--passphrase-file", pass, "--new-passphrase-file", pass, codeSlot}, "only a passphrase slot")
	short := secretFile(t, "short")
	expectUnlockRefused(t, store, nil, []string{"key", "add", "--store", store, "--passphrase-file", pass, "--passphrase", "--new-passphrase-file", short, cheapKDF}, "at least 8 characters")
	expectUnlockRefused(t, store, nil, []string{"key", "add", "--store", store, "--passphrase-file", pass, "--key-file", key}, "already exists")

	// The key file's slot goes: the file opens nothing any more.
	keySlot := ids[0]
	r := runSealfs(t, nil, "key", "remove", "--store", store, "--passphrase-file", pass, keySlot)
	if r.Code != 0 || !strings.Contains(r.Stdout, "removed key-file slot "+keySlot) || !strings.Contains(r.Stderr, "delete every copy") {
		t.Fatalf("key remove of the key-file slot: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	expectUnlockRefused(t, store, nil, []string{"ls", "--store", store, "--key-file", key}, "takes no key file any more")

	// A mount unlocked by the passphrase file, then by a command.
	m = mountSealfs(t, withStore(store, ""), unlockWith("--passphrase-file", pass))
	if b := readFile(t, filepath.Join(m.Dir, "hello.txt")); string(b) != "hello, slots\n" {
		t.Fatalf("hello.txt through a passphrase mount: %q", b)
	}
	mustWriteFile(t, filepath.Join(m.Dir, "second.txt"), []byte("written under a passphrase\n"), 0o644)
	m.Unmount(t)
	m = mountSealfs(t, withStore(store, ""), unlockWith("--passphrase-command", "cat "+pass))
	if b := readFile(t, filepath.Join(m.Dir, "second.txt")); string(b) != "written under a passphrase\n" {
		t.Fatalf("second.txt through a passphrase-command mount: %q", b)
	}
	// Slots change while mounted (they have their own lock).
	pass2 := secretFile(t, "staple battery horse")
	runSealfsOK(t, "key", "passwd", "--store", store, "--passphrase-file", pass, "--new-passphrase-file", pass2, passSlot, cheapKDF)
	m.Unmount(t)
	expectUnlockRefused(t, store, nil, []string{"ls", "--store", store, "--passphrase-file", pass}, "the passphrase opens no key slot")
	if out := ls("--passphrase-file", pass2); !strings.Contains(out, "second.txt") {
		t.Fatalf("ls with the changed passphrase:\n%s", out)
	}

	// Down to the recovery code: the last slot stays.
	runSealfsOK(t, "key", "remove", "--store", store, "--passphrase-command", "echo "+code, passSlot)
	expectUnlockRefused(t, store, nil, []string{"key", "remove", "--store", store, "--passphrase-command", "echo " + code, codeSlot}, "refusing to remove the last key slot")
	if ids, kinds = slotIDs(t, store, "--passphrase-command", "echo "+code); len(ids) != 1 || kinds[0] != "recovery-code" {
		t.Fatalf("slots at the end: %v %v", ids, kinds)
	}

	// A hand-edited keys.json (a slot's date moved) fails its MAC.
	b := readFile(t, keysJSON)
	edited := bytes.Replace(b, []byte(`"created": "2`), []byte(`"created": "1`), 1)
	if bytes.Equal(b, edited) {
		t.Fatalf("keys.json has no created date:\n%s", b)
	}
	mustWriteFile(t, keysJSON, edited, 0o600)
	expectUnlockRefused(t, store, nil, []string{"ls", "--store", store, "--passphrase-command", "echo " + code}, "fail authentication")
}

// TestRecoverWithPassphrase: on a new machine with no key file, the
// bucket and a passphrase bring every file back.
func TestRecoverWithPassphrase(t *testing.T) {
	bucketDir, url := fileBucket(t)
	store, key := remoteStore(t, url)
	pass := secretFile(t, "a passphrase for the bucket")
	runSealfsOK(t, "key", "add", "--store", store, "--unlock-key-file", key, "--passphrase", "--new-passphrase-file", pass, cheapKDF)
	m := mountSealfs(t, withStore(store, key))
	src := t.TempDir()
	want := map[string]string{}
	for i, name := range []string{"a.txt", "dir/b.bin", "dir/sub/c.sql"} {
		p := filepath.Join(src, name)
		mustMkdir(t, filepath.Dir(p), 0o755)
		want[name] = writeRandomFile(t, p, int64(1000+i*70000), uint64(i))
	}
	rsyncIn(t, src, m.Dir)
	syncWait(t, store, key)
	m.Unmount(t)

	slots := readFile(t, filepath.Join(bucketDir, "keyslots"))
	if !bytes.Equal(slots, readFile(t, filepath.Join(store, "keys.json"))) {
		t.Fatalf("the bucket's key slots are not the store's")
	}
	if bytes.Contains(slots, []byte("a passphrase for the bucket")) {
		t.Fatal("the bucket's key slots hold the passphrase")
	}

	newStore := filepath.Join(t.TempDir(), "new")
	wrong := secretFile(t, "not the passphrase")
	expectRefused(t, []string{"recover", "--remote", url, "--store", newStore, "--passphrase-file", wrong}, newStore, "the passphrase opens no key slot")
	runSealfsOK(t, "recover", "--remote", url, "--store", newStore, "--passphrase-file", pass)
	if _, kinds := slotIDs(t, newStore, "--passphrase-file", pass); strings.Join(kinds, " ") != "key-file passphrase" {
		t.Fatalf("recovered store's slots: %v", kinds)
	}
	m = mountSealfs(t, withStore(newStore, ""), unlockWith("--passphrase-file", pass))
	for name, sum := range want {
		if got := sha256File(t, filepath.Join(m.Dir, name)); got != sum {
			t.Errorf("%s after a passphrase recovery: sha256 %s, want %s", name, got, sum)
		}
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSlotChangeSurvivesKill: kill -9 at random points of `key passwd`;
// each time the store opens with the old passphrase or the new one, and
// keys.json is whole.
func TestSlotChangeSurvivesKill(t *testing.T) {
	m := mountSealfs(t)
	m.Unmount(t)
	store := m.Store
	cur := secretFile(t, "passphrase number 0")
	slot := addedSlot(t, runSealfsOK(t, "key", "add", "--store", store, "--unlock-key-file", m.Key, "--passphrase", "--new-passphrase-file", cur, cheapKDF).Stdout)

	// A whole run's time, to spread the kills over it.
	next := secretFile(t, "passphrase number 1")
	start := time.Now()
	runSealfsOK(t, "key", "passwd", "--store", store, "--passphrase-file", cur, "--new-passphrase-file", next, slot, cheapKDF)
	span := time.Since(start)
	cur = next

	rng := newRand(7)
	kept, changed := 0, 0
	for i := 2; i < 22; i++ {
		next := secretFile(t, fmt.Sprintf("passphrase number %d", i))
		cmd := exec.Command(sealfsBin, "key", "passwd", "--store", store, "--passphrase-file", cur, "--new-passphrase-file", next, slot, cheapKDF)
		cmd.Env = sealfsEnv(t)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Uint64() % uint64(span+span/4)))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()

		if _, err := keyslot.Parse(readFile(t, filepath.Join(store, "keys.json"))); err != nil {
			t.Fatalf("run %d: keys.json after kill -9: %v", i, err)
		}
		oldOK := runSealfs(t, nil, "key", "list", "--store", store, "--passphrase-file", cur).Code == 0
		newOK := runSealfs(t, nil, "key", "list", "--store", store, "--passphrase-file", next).Code == 0
		switch {
		case oldOK && newOK:
			t.Fatalf("run %d: both the old and the new passphrase open the slot", i)
		case !oldOK && !newOK:
			t.Fatalf("run %d: neither the old nor the new passphrase opens the store after kill -9", i)
		case newOK:
			cur = next
			changed++
		default:
			kept++
		}
	}
	t.Logf("20 kills: %d left the old passphrase, %d the new one", kept, changed)
}
