package integration

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

var (
	killRounds = flag.Int("killrounds", 3, "kill -9 during rsync: rounds")
	killSeed   = flag.Int("killseed", 42, "kill -9 during rsync: seed of the trees and kill points")
)

// TestKillDuringRsync kills the daemon with SIGKILL while rsync copies a
// tree in, remounts, and checks what a user would find: every file under
// its final name holds the source it was copied from (this round's or, not
// yet replaced, the last round's), and no file reads EIO. Then rsync
// finishes the copy and the tree must equal the source. Each round changes
// half the files, so rsync renames new versions over old ones.
func TestKillDuringRsync(t *testing.T) {
	m := mountSealfs(t, tolerateExitError())
	rng := rand.New(rand.NewPCG(uint64(*killSeed), 7))
	prev := map[string][]byte{}
	src := filepath.Join(t.TempDir(), "src")
	for round := range *killRounds {
		cur := nextRsyncTree(t, rng, src, prev, round)
		dst := filepath.Join(m.Dir, "tree")
		// Kill after a random number of files was copied: rsync prints a
		// name once the file is in place.
		changed := 0
		for name, data := range cur {
			if old, ok := prev[name]; !ok || !bytes.Equal(old, data) {
				changed++
			}
		}
		killAfter := rng.IntN(changed)
		cmd := exec.Command("rsync", "-a", "--out-format=%n", src+"/", dst+"/")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		copied := 0
		sc := bufio.NewScanner(stdout)
		for copied < killAfter && sc.Scan() {
			if !strings.HasSuffix(sc.Text(), "/") {
				copied++
			}
		}
		if err := m.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-m.exited
		for sc.Scan() {
		}
		rsyncErr := cmd.Wait()
		t.Logf("round %d: killed after %d of %d changed files; rsync: %v", round, copied, changed, rsyncErr)
		unmountDead(t, m.Dir)
		m = mountSealfs(t, withStore(m.Store, m.Key), withMountpoint(m.Dir), tolerateExitError())

		checkAfterKill(t, dst, cur, prev)
		// --delete removes what the killed rsync left of its temporary
		// files; --checksum, because rsync's quick check compares whole
		// seconds and a file rewritten within a second at the same size
		// would be skipped.
		if out, err := exec.Command("rsync", "-a", "--delete", "--checksum", src+"/", dst+"/").CombinedOutput(); err != nil {
			t.Fatalf("round %d: rsync after remount: %v\n%s", round, err, out)
		}
		got := readTree(t, dst)
		for name, data := range cur {
			if !bytes.Equal(got[name], data) {
				t.Errorf("round %d: after the second rsync %s: %s", round, name, describeDiff(got[name], data))
			}
		}
		for name := range got {
			if _, ok := cur[name]; !ok {
				t.Errorf("round %d: after the second rsync %s exists but is not in the source", round, name)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
		prev = cur
	}
}

// nextRsyncTree rewrites src for a round: the first round creates 50 files
// in 4 directories, later rounds change about half the files and add a few;
// it returns the tree's contents by relative path.
func nextRsyncTree(t *testing.T, rng *rand.Rand, src string, prev map[string][]byte, round int) map[string][]byte {
	t.Helper()
	cur := map[string][]byte{}
	for name, data := range prev {
		cur[name] = data
	}
	size := func() int {
		switch rng.IntN(4) {
		case 0:
			return rng.IntN(100)
		case 1:
			return rng.IntN(4)*blockSize + rng.IntN(3) - 1 + 1
		default:
			return rng.IntN(2 << 20)
		}
	}
	newFiles := 50
	if round > 0 {
		newFiles = 5
		for _, name := range sortedKeys(prev) {
			if rng.IntN(2) == 0 {
				cur[name] = randomBytes(rng.Uint64(), size())
			}
		}
	}
	for i := range newFiles {
		name := fmt.Sprintf("d%d/r%d-f%02d.dat", rng.IntN(4), round, i)
		cur[name] = randomBytes(rng.Uint64(), size())
	}
	for name, data := range cur {
		if old, ok := prev[name]; ok && bytes.Equal(old, data) {
			continue
		}
		p := filepath.Join(src, name)
		mustMkdir(t, filepath.Dir(p), 0o755)
		mustWriteFile(t, p, data, 0o644)
	}
	return cur
}

// checkAfterKill reads every file under dst: each must read without error,
// and each under a final name (not one of rsync's .name.XXXXXX temporary
// files) must hold this round's or the previous round's source.
func checkAfterKill(t *testing.T, dst string, cur, prev map[string][]byte) {
	t.Helper()
	if _, err := os.Stat(dst); os.IsNotExist(err) {
		return // killed before rsync made the top directory
	}
	for name, got := range readTree(t, dst) {
		base := filepath.Base(name)
		if strings.HasPrefix(base, ".") {
			continue // rsync's temporary file, interrupted: any content
		}
		want, ok := cur[name]
		if !ok {
			t.Errorf("after the kill: %s exists but is not in the source", name)
			continue
		}
		if old, had := prev[name]; bytes.Equal(got, want) || had && bytes.Equal(got, old) {
			continue
		}
		t.Errorf("after the kill: %s holds neither this round's source nor the last: %s", name, describeDiff(got, want))
	}
}

// readTree reads every regular file under root; a read error fails t.
func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("read %s: %v", p, err)
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		out[rel] = data
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return out
}
